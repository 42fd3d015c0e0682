//! `vouch serve`: an HTTP server speaking Gatekeeper's external data provider protocol
//! (`externaldata.gatekeeper.sh/v1beta1`), on top of the [`Executor`].
//!
//! - `POST /ratify/gatekeeper/v1/verify` (and `/v1/verify`): each key is verified concurrently;
//!   an item's `value` is the key's report in Ratify v1's shape, exactly as Ratify serializes it
//!   ([`crate::report::ratify`]): `version: "0.2.0"` (config policy), or `"1.1.0"` when
//!   the key's tenant has a Ratify Rego policy (`package ratify.policy`), as Ratify does. A key
//!   that cannot be parsed, resolved or finished within the deadline gets an item `error` and no
//!   value; so does (as in Ratify, `NO_VERIFIER_REPORT`) a `0.2.0` subject without any verifier
//!   report. The other keys are unaffected. `idempotent` is `false`.
//! - `POST /ratify/gatekeeper/v2/verify`: the same in Ratify v2's shape (`succeeded`,
//!   `artifactReports`).
//! - `POST /vouch/v1/verify`: the same with Vouch's own report shape (the CLI's JSON, with the
//!   request's `traceID`).
//! - Every verify request has a trace id (`traceID` in the value, `trace_id` on the request's
//!   log span) and a `timestamp` (RFC 3339, when the request arrived).
//! - `POST /ratify/gatekeeper/v1/mutate` (and `/v1/mutate`): each `image:tag` key is resolved to
//!   `registry/repo@sha256:…`; a key already by digest is returned unchanged. `idempotent` is
//!   `true` (as Ratify answers: resolving again gives the same digest). A key that cannot be
//!   resolved gets, as from Ratify, the key itself as its value and the error
//!   `failed to mutate image reference <key>: <why>`.
//! - Keys may carry Ratify's tenant prefix `[namespace]image`: the namespace picks the tenant
//!   (see [`tenants`]) whose verifiers, credentials, policy and quotas apply; keys without one go
//!   to the default tenant. A key over its tenant's quota of keys in flight waits briefly for a
//!   slot (`quota.admissionWaitMs`), then gets an item error.
//! - `GET /healthz` (200 while serving), `GET /readyz` (200 when verifiers are loaded — they are
//!   loaded before the server starts, and a reload swaps in only a fully loaded configuration),
//!   `GET /metrics` (Prometheus text format).
//! - The configuration can be replaced while serving ([`crate::app::reload`]); TLS 1.3 and mTLS in [`tls`].

pub mod metrics;
pub mod tenants;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use self::metrics::Metrics;
use self::tenants::{Tenant, TenantSet};
use crate::executor::Executor;
use crate::oci::Reference;
use crate::report::ratify::{self, RequestMeta, Shape};
use crate::report::{SubjectReport, TracedReport};
use crate::scope::modes::{Enforcement, Outcome};
use crate::store::sources::Sources;

/// The served tenants, replaced whole by a configuration reload.
pub type SharedTenants = Arc<arc_swap::ArcSwap<TenantSet>>;

/// The external data API version Gatekeeper speaks.
pub const API_VERSION: &str = "externaldata.gatekeeper.sh/v1beta1";
/// `kind` of a request.
pub const REQUEST_KIND: &str = "ProviderRequest";
/// `kind` of a response.
pub const RESPONSE_KIND: &str = "ProviderResponse";

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Server limits and deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// Deadline of a verify request (Gatekeeper's provider timeout is 3 s).
    pub verify_timeout: Duration,
    /// Deadline of a mutate request (Gatekeeper's mutation timeout is 1 s).
    pub mutate_timeout: Duration,
    /// Keys one request may carry.
    pub max_keys: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            verify_timeout: Duration::from_millis(2900),
            mutate_timeout: Duration::from_millis(950),
            max_keys: 1000,
            max_body_bytes: 1 << 20,
        }
    }
}

/// Receives each verdict the provider computed afresh (not from a cache), e.g. to publish it as
/// a signed verification summary. Called on the request path: it must not block.
pub trait VerdictPublisher: Send + Sync {
    /// `report`, reached by `tenant`'s executor, was just computed.
    fn fresh_verdict(&self, tenant: &Tenant, report: &SubjectReport);
}

/// What the handlers share.
struct AppState {
    tenants: SharedTenants,
    settings: ServerSettings,
    metrics: Arc<Metrics>,
    publisher: Option<Arc<dyn VerdictPublisher>>,
}

/// A Gatekeeper `ProviderRequest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProviderRequest {
    api_version: String,
    kind: String,
    request: RequestBody,
}

#[derive(Debug, Deserialize)]
struct RequestBody {
    keys: Vec<String>,
}

/// A Gatekeeper `ProviderResponse`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderResponse {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseBody,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBody {
    idempotent: bool,
    items: Vec<Item>,
    system_error: String,
}

/// One key's answer.
#[derive(Debug, Serialize)]
struct Item {
    key: String,
    value: serde_json::Value,
    error: String,
}

impl ProviderResponse {
    fn new(idempotent: bool, items: Vec<Item>, system_error: String) -> Self {
        ProviderResponse {
            api_version: API_VERSION,
            kind: RESPONSE_KIND,
            response: ResponseBody {
                idempotent,
                items,
                system_error,
            },
        }
    }
}

/// The router serving the provider endpoints, health and metrics for one default tenant
/// verifying with `executor` over `sources`.
pub fn router(executor: Arc<Executor>, sources: Arc<Sources>, settings: ServerSettings) -> Router {
    let tenants = Arc::new(arc_swap::ArcSwap::from_pointee(TenantSet::single(
        executor, sources,
    )));
    router_with_tenants(tenants, Arc::new(Metrics::default()), settings)
}

/// The router over `tenants` (which a [reload](crate::app::reload) may replace while serving), counting into
/// `metrics`.
pub fn router_with_tenants(
    tenants: SharedTenants,
    metrics: Arc<Metrics>,
    settings: ServerSettings,
) -> Router {
    router_with_publisher(tenants, metrics, settings, None)
}

/// [`router_with_tenants`] that hands every fresh verdict to `publisher`.
pub fn router_with_publisher(
    tenants: SharedTenants,
    metrics: Arc<Metrics>,
    settings: ServerSettings,
    publisher: Option<Arc<dyn VerdictPublisher>>,
) -> Router {
    let limit = settings.max_body_bytes;
    let state = Arc::new(AppState {
        tenants,
        settings,
        metrics,
        publisher,
    });
    Router::new()
        .route("/ratify/gatekeeper/v1/verify", post(verify_v1))
        .route("/v1/verify", post(verify_v1))
        .route("/ratify/gatekeeper/v2/verify", post(verify_v2))
        .route("/vouch/v1/verify", post(verify_vouch))
        .route("/ratify/gatekeeper/v1/mutate", post(mutate))
        .route("/v1/mutate", post(mutate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(limit))
        .route_layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Only `/healthz`, `/readyz` and `/metrics`, for a plain-HTTP port of their own: with mTLS on
/// the provider port, kubelet probes (which present no client certificate) could not reach them
/// there.
pub fn health_router(tenants: SharedTenants, metrics: Arc<Metrics>) -> Router {
    let state = Arc::new(AppState {
        tenants,
        settings: ServerSettings::default(),
        metrics,
        publisher: None,
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// Serve `router` on `listener` until `shutdown` completes; in-flight requests then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving the Gatekeeper external data provider (plain HTTP)");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

/// Bind `addr` and [`serve`] until SIGTERM or ctrl-c.
pub async fn run(addr: SocketAddr, router: Router) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    serve(listener, router, shutdown_signal()).await
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Middleware: count requests and their latency per route.
async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .request(&endpoint, response.status().as_u16(), started.elapsed());
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let n = state.tenants.load().verifier_count();
    if n == 0 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no verifiers loaded\n",
        )
            .into_response();
    }
    (StatusCode::OK, format!("ready: {n} verifiers loaded\n")).into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = state.metrics.render();
            let redis: Vec<_> = state
                .tenants
                .load()
                .iter()
                .filter_map(|t| {
                    let stats = t.executor().result_cache().redis_stats()?;
                    Some((t.name().to_owned(), stats))
                })
                .collect();
            metrics::render_redis(&mut text, &redis);
            let tenants = state.tenants.load();
            let sources: Vec<_> = tenants
                .iter()
                .map(|t| (t.name().to_owned(), t.sources().as_ref()))
                .collect();
            metrics::render_sources(&mut text, &sources);
            let quotas: Vec<_> = tenants
                .iter()
                .filter_map(|t| Some((t.name().to_owned(), t.executor().cpu_quota()?.as_ref())))
                .collect();
            metrics::render_cpu_quotas(&mut text, &quotas);
            text
        },
    )
        .into_response()
}

/// A 400 (or other status) answer carrying only a `systemError`.
fn system_error(status: StatusCode, idempotent: bool, message: String) -> Response {
    tracing::debug!(%status, message, "rejected a provider request");
    let mut response = (
        status,
        axum::Json(ProviderResponse::new(idempotent, Vec::new(), message)),
    )
        .into_response();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is never read, so the connection cannot carry another request:
        // say so, or a client that reuses it sees its next request fail.
        response.headers_mut().insert(
            header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// Parse and check a request body; the error is the `systemError` to answer with.
fn parse_request(
    body: Result<Bytes, BytesRejection>,
    max_keys: usize,
) -> Result<Vec<String>, (StatusCode, String)> {
    let body = body.map_err(|e| (e.status(), format!("cannot read the request body: {e}")))?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let req: ProviderRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let at = match e.path().to_string().as_str() {
            "." => String::new(),
            path => format!(" at `{path}`"),
        };
        (
            StatusCode::BAD_REQUEST,
            format!("malformed ProviderRequest{at}: {}", e.inner()),
        )
    })?;
    if req.api_version != API_VERSION {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported apiVersion `{}`: expected `{API_VERSION}`",
                req.api_version
            ),
        ));
    }
    if req.kind != REQUEST_KIND {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("unsupported kind `{}`: expected `{REQUEST_KIND}`", req.kind),
        ));
    }
    if req.request.keys.len() > max_keys {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "too many keys: {} in one request, at most {max_keys} are accepted",
                req.request.keys.len()
            ),
        ));
    }
    Ok(req.request.keys)
}

/// Wait for `tenant` to admit `key`; the error is the key's item error.
async fn admit(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
) -> Result<tokio::sync::OwnedSemaphorePermit, String> {
    tenant.admit().await.map_err(|e| {
        state.metrics.quota_rejected(tenant.name());
        tracing::debug!(
            tenant = tenant.name(),
            key,
            "error.type" = "tenant_over_quota",
            "key refused"
        );
        e.to_string()
    })
}

/// Run `work` for every key concurrently (each admitted by its tenant first) under `timeout`;
/// items in key order.
async fn per_key<T, F, Fut>(
    state: &Arc<AppState>,
    keys: Vec<String>,
    timeout: Duration,
    what: &'static str,
    work: F,
) -> Vec<(String, Result<T, String>)>
where
    T: Send + 'static,
    F: Fn(Arc<AppState>, Arc<Tenant>, String) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    // One configuration for the whole request, even if a reload lands meanwhile.
    let tenants = state.tenants.load_full();
    let tasks: Vec<_> = keys
        .into_iter()
        .map(|key| {
            let task = tenants.route(&key).map(|(tenant, image)| {
                let (state, tenant, key) = (state.clone(), tenant.clone(), key.clone());
                let fut = work(state.clone(), tenant.clone(), image.to_owned());
                let image = image.to_owned();
                // The deadline covers the wait for admission too.
                tokio::spawn(async move {
                    let run = async {
                        let _permit = admit(&state, &tenant, &key).await?;
                        fut.await
                    };
                    tokio::time::timeout(timeout, run)
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!(
                                "timed out after {} ms {what} `{image}`",
                                timeout.as_millis()
                            ))
                        })
                })
            });
            (key, task.map_err(|e| e.to_string()))
        })
        .collect();
    let mut items = Vec::with_capacity(tasks.len());
    for (key, task) in tasks {
        let result = match task {
            Ok(task) => task
                .await
                .unwrap_or_else(|e| Err(format!("{what} task failed: {e}"))),
            Err(refused) => Err(refused),
        };
        items.push((key, result));
    }
    items
}

/// The shape a verify endpoint answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Ratify v1: `0.2.0`, or `1.1.0` for a tenant with a Ratify Rego policy.
    RatifyV1,
    /// Ratify v2.
    RatifyV2,
    /// Vouch's own report.
    Vouch,
}

async fn verify_v1(state: State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    verify(state, body, Answer::RatifyV1).await
}

async fn verify_v2(state: State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    verify(state, body, Answer::RatifyV2).await
}

async fn verify_vouch(
    state: State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    verify(state, body, Answer::Vouch).await
}

/// Leave attestation statements (`extensions.statement`, up to the cosign verifier's
/// `maxStatementBytes` each) out of the answer: the policy has read them, and Gatekeeper's
/// answers stay small. Their `predicateType` extension stays; `vouch verify -o json` shows them.
fn strip_statements(reports: &mut [crate::report::VerifierReport]) {
    for r in reports {
        r.extensions.remove("statement");
        strip_statements(&mut r.nested_results);
    }
}

/// One key's item under its rollout mode: in `warn` or `audit` a failed verdict is answered as
/// allowed (`isSuccess`/`succeeded` true), with `enforcement` naming the mode and, in `warn`,
/// `warning` carrying the failure; otherwise [`verify_item`].
fn verify_item_in_mode(
    key: String,
    report: &SubjectReport,
    ratify_rego: bool,
    answer: Answer,
    meta: &RequestMeta,
    enforcement: &Enforcement,
) -> Item {
    let outcome = Outcome::of(report.is_success, enforcement.mode);
    if !matches!(outcome, Outcome::Warn | Outcome::Audit) {
        return verify_item(key, report, ratify_rego, answer, meta);
    }
    let mut allowed = report.clone();
    allowed.is_success = true;
    allowed.message = format!(
        "{} mode (scope `{}`): admission allowed although verification failed{}",
        enforcement.mode.as_str(),
        enforcement.scope,
        if outcome == Outcome::Warn {
            format!(": {}", report.message)
        } else {
            String::new()
        }
    );
    let mut value = match answer {
        Answer::Vouch => serde_json::to_value(&allowed).unwrap_or_default(),
        Answer::RatifyV2 => ratify::response(Shape::V2, &allowed, meta),
        Answer::RatifyV1 if ratify_rego => ratify::response(Shape::Rego, &allowed, meta),
        Answer::RatifyV1 => ratify::response(Shape::Config, &allowed, meta),
    };
    if let Some(o) = value.as_object_mut() {
        o.insert(
            "enforcement".into(),
            serde_json::Value::String(enforcement.mode.as_str().into()),
        );
        if outcome == Outcome::Warn {
            o.insert(
                "warning".into(),
                serde_json::Value::String(report.message.clone()),
            );
        }
    }
    Item {
        key,
        value,
        error: String::new(),
    }
}

/// One key's item: its value in the endpoint's shape, or its error (and no value, as Ratify).
fn verify_item(
    key: String,
    report: &SubjectReport,
    ratify_rego: bool,
    answer: Answer,
    meta: &RequestMeta,
) -> Item {
    // An unresolvable subject (unknown tag, unreachable registry) is an error of the key.
    if report.digest.is_none() {
        return Item {
            key,
            value: serde_json::Value::Null,
            error: report.message.clone(),
        };
    }
    let value = match answer {
        Answer::Vouch => serde_json::to_value(TracedReport {
            trace_id: &meta.trace_id,
            report,
        })
        .unwrap_or_default(),
        Answer::RatifyV2 => ratify::response(Shape::V2, report, meta),
        Answer::RatifyV1 if ratify_rego => ratify::response(Shape::Rego, report, meta),
        Answer::RatifyV1 => {
            if let Some(error) = ratify::no_verifier_report(report) {
                return Item {
                    key,
                    value: serde_json::Value::Null,
                    error,
                };
            }
            ratify::response(Shape::Config, report, meta)
        }
    };
    Item {
        key,
        value,
        error: String::new(),
    }
}

async fn verify(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
    answer: Answer,
) -> Response {
    let meta = RequestMeta::now();
    let span = tracing::info_span!("verify_request", trace_id = %meta.trace_id);
    let _entered = span.enter();
    let keys = match parse_request(body, state.settings.max_keys) {
        Ok(keys) => keys,
        Err((status, message)) => return system_error(status, false, message),
    };
    tracing::debug!(keys = keys.len(), "verify request");
    let timeout = state.settings.verify_timeout;
    drop(_entered);
    let results = per_key(
        &state,
        keys,
        timeout,
        "verifying",
        |state, tenant, image| {
            let span = span.clone();
            async move {
                let source = tenant
                    .sources()
                    .registry(&image)
                    .map_err(|e| e.to_string())?;
                let mut report =
                    tracing::Instrument::instrument(tenant.executor().verify(source), span).await;
                state.metrics.report(&report);
                if let Some(publisher) = &state.publisher
                    && !report.cached
                {
                    publisher.fresh_verdict(&tenant, &report);
                }
                strip_statements(&mut report.verifier_reports);
                let enforcement = tenant.executor().settings().scope.enforcement(&image);
                let outcome = Outcome::of(report.is_success, enforcement.mode);
                state
                    .metrics
                    .verdict(tenant.name(), &enforcement.scope, outcome);
                if matches!(outcome, Outcome::Warn | Outcome::Audit) {
                    tracing::warn!(
                        tenant = tenant.name(),
                        subject = %report.subject,
                        scope = %enforcement.scope,
                        mode = enforcement.mode.as_str(),
                        verdict = %report.message,
                        "verification failed; admitted under the scope's mode"
                    );
                }
                Ok((
                    report,
                    tenant.executor().policy().is_ratify_rego(),
                    enforcement,
                ))
            }
        },
    )
    .await;
    let items = results
        .into_iter()
        .map(|(key, result)| match result {
            Ok((report, ratify_rego, enforcement)) => {
                verify_item_in_mode(key, &report, ratify_rego, answer, &meta, &enforcement)
            }
            Err(error) => Item {
                key,
                value: serde_json::Value::Null,
                error,
            },
        })
        .collect();
    axum::Json(ProviderResponse::new(false, items, String::new())).into_response()
}

/// `image:tag` → `registry/repo@digest`; a key by digest unchanged.
async fn mutate_one(tenant: &Tenant, image: &str) -> Result<String, String> {
    let reference: Reference = image.parse().map_err(|e| format!("{e}"))?;
    if reference.digest().is_some() {
        return Ok(image.to_owned());
    }
    let source = tenant
        .sources()
        .registry(image)
        .map_err(|e| e.to_string())?;
    let desc = source
        .store
        .resolve(&source.tag_or_digest)
        .await
        .map_err(|e| format!("cannot resolve `{image}`: {e}"))?;
    Ok(format!("{}@{}", reference.name(), desc.digest))
}

async fn mutate(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let keys = match parse_request(body, state.settings.max_keys) {
        Ok(keys) => keys,
        Err((status, message)) => return system_error(status, true, message),
    };
    let timeout = state.settings.mutate_timeout;
    let results = per_key(
        &state,
        keys,
        timeout,
        "resolving",
        |_state, tenant, image| async move { mutate_one(&tenant, &image).await },
    )
    .await;
    let items = results
        .into_iter()
        .map(|(key, result)| match result {
            Ok(pinned) => Item {
                key,
                value: serde_json::Value::String(pinned),
                error: String::new(),
            },
            // Ratify answers a key it cannot pin with the key itself and the reason.
            Err(error) => Item {
                value: serde_json::Value::String(key.clone()),
                error: format!("failed to mutate image reference {key}: {error}"),
                key,
            },
        })
        .collect();
    axum::Json(ProviderResponse::new(true, items, String::new())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Result<Bytes, BytesRejection> {
        Ok(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn requests_are_checked() {
        let ok = format!(
            r#"{{"apiVersion":"{API_VERSION}","kind":"ProviderRequest","request":{{"keys":["a:1","b:2"]}}}}"#
        );
        assert_eq!(parse_request(body(&ok), 10).unwrap(), ["a:1", "b:2"]);
        let (status, e) = parse_request(body(&ok), 1).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(e.contains("too many keys: 2"), "{e}");
        let (_, e) = parse_request(body("{not json"), 10).unwrap_err();
        assert!(e.contains("malformed ProviderRequest"), "{e}");
        let (_, e) = parse_request(
            body(r#"{"apiVersion":"v1","kind":"ProviderRequest","request":{"keys":[]}}"#),
            10,
        )
        .unwrap_err();
        assert!(e.contains("apiVersion `v1`"), "{e}");
        let wrong_kind = ok.replace("ProviderRequest", "Pod");
        let (_, e) = parse_request(body(&wrong_kind), 10).unwrap_err();
        assert!(e.contains("kind `Pod`"), "{e}");
        let (_, e) = parse_request(
            body(&format!(
                r#"{{"apiVersion":"{API_VERSION}","kind":"ProviderRequest","request":{{"keys":[1]}}}}"#
            )),
            10,
        )
        .unwrap_err();
        assert!(e.contains("request.keys"), "{e}");
    }

    #[test]
    fn responses_use_gatekeeper_field_names() {
        let r = ProviderResponse::new(
            true,
            vec![Item {
                key: "k".into(),
                value: "v".into(),
                error: String::new(),
            }],
            String::new(),
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["apiVersion"], API_VERSION);
        assert_eq!(json["kind"], "ProviderResponse");
        assert_eq!(json["response"]["idempotent"], true);
        assert_eq!(json["response"]["systemError"], "");
        assert_eq!(json["response"]["items"][0]["key"], "k");
        assert_eq!(json["response"]["items"][0]["error"], "");
    }
}
