//! The Gatekeeper external data provider protocol (see the [module docs](super) for the
//! endpoints): parsing and checking requests, verifying or resolving each key under its tenant's
//! quota and deadline, and answering in Ratify's or Vouch's shape.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::tenants::Tenant;
use super::{API_VERSION, AppState, REQUEST_KIND, RESPONSE_KIND};
use crate::oci::Reference;
use crate::report::ratify::{self, RequestMeta, Shape};
use crate::report::{SubjectReport, TracedReport};
use crate::scope::modes::{Enforcement, Outcome};

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

pub(super) async fn verify_v1(
    state: State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    verify(state, body, Answer::RatifyV1).await
}

pub(super) async fn verify_v2(
    state: State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    verify(state, body, Answer::RatifyV2).await
}

pub(super) async fn verify_vouch(
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

pub(super) async fn mutate(
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
