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
mod provider;
pub mod tenants;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::metrics::Metrics;
use self::tenants::{Tenant, TenantSet};
use crate::executor::Executor;
use crate::report::SubjectReport;
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
        .route("/ratify/gatekeeper/v1/verify", post(provider::verify_v1))
        .route("/v1/verify", post(provider::verify_v1))
        .route("/ratify/gatekeeper/v2/verify", post(provider::verify_v2))
        .route("/vouch/v1/verify", post(provider::verify_vouch))
        .route("/ratify/gatekeeper/v1/mutate", post(provider::mutate))
        .route("/v1/mutate", post(provider::mutate))
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
