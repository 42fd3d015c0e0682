//! Sending requests: retries, authentication (basic, bearer tokens), redirects, capped reads and
//! the error details a registry returns.

use super::*;

impl RegistryClient {
    /// Run `attempt` up to the policy's attempt count, backing off between transient failures,
    /// each attempt holding one of the registry's concurrency permits.
    pub(super) async fn with_retries<T, F, Fut>(
        &self,
        st: &RegistryState,
        what: &str,
        mut attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let policy = &st.config.retry;
        let max = policy.max_attempts.max(1);
        let mut n = 0;
        loop {
            n += 1;
            let result = {
                let _permit = st
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| RegistryError::Config {
                        registry: st.host.clone(),
                        reason: "the client is shutting down".into(),
                    })?;
                attempt(n).await
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry {
                    reason,
                    timed_out,
                    retry_after,
                }) => {
                    if n >= max {
                        return Err(if timed_out {
                            RegistryError::Timeout {
                                what: what.to_owned(),
                                attempts: n,
                                timeout: st.config.timeout,
                            }
                        } else {
                            RegistryError::Unavailable {
                                what: what.to_owned(),
                                attempts: n,
                                reason,
                            }
                        });
                    }
                    let delay = policy.delay(n, retry_after);
                    tracing::debug!(%what, attempt = n, ?delay, %reason, "retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Send one request with authentication; on 401/403, renew the token (or switch to basic
    /// credentials) and try once more. Returns a 2xx response; maps everything else.
    pub(super) async fn send(
        &self,
        st: &RegistryState,
        reference: &Reference,
        method: Method,
        url: &Url,
        accept: &str,
        what: &str,
    ) -> Result<Response, Failure> {
        self.send_with(st, reference, method, url, accept, what, "pull", None)
            .await
    }

    /// [`Self::send`] with the token scope's `actions` (`pull`, `pull,push`) and an optional
    /// request body with its content type (resent as is when the request is retried after a
    /// token renewal).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn send_with(
        &self,
        st: &RegistryState,
        reference: &Reference,
        method: Method,
        url: &Url,
        accept: &str,
        what: &str,
        actions: &str,
        body: Option<(&str, &Bytes)>,
    ) -> Result<Response, Failure> {
        let scope = format!("repository:{}:{actions}", reference.repository());
        let mut renewed = false;
        loop {
            let auth = self.current_auth(st, &scope).await?;
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .timeout(st.config.timeout)
                .header(ACCEPT, accept);
            if let Some((content_type, bytes)) = body {
                req = req
                    .header(CONTENT_TYPE, content_type)
                    .body((*bytes).clone());
            }
            match &auth {
                AuthUsed::None => {}
                AuthUsed::Basic => {
                    if let Some(c) = self.credentials(st).await? {
                        req = req.header(AUTHORIZATION, c.basic_header());
                    }
                }
                AuthUsed::Bearer(t) => req = req.header(AUTHORIZATION, format!("Bearer {t}")),
            }
            let resp = req.send().await.map_err(|e| {
                st.count(None);
                transport_failure(&e)
            })?;
            let status = resp.status();
            st.count(Some(status));
            if status.is_success() {
                return Ok(resp);
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                let challenge = resp
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(auth::parse_challenges)
                    .max_by_key(|c| matches!(c, Challenge::Bearer { .. }));
                if let AuthUsed::Bearer(t) = &auth {
                    st.tokens
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .evict(&scope, t);
                }
                let detail = error_detail(resp).await;
                let unauthorized = |detail: String| {
                    Failure::Fatal(RegistryError::Unauthorized {
                        what: what.to_owned(),
                        registry: st.host.clone(),
                        status: status.as_u16(),
                        detail: if detail.is_empty() {
                            String::new()
                        } else {
                            format!(": {detail}")
                        },
                    })
                };
                if renewed {
                    return Err(unauthorized(detail));
                }
                renewed = true;
                match challenge {
                    Some(c @ Challenge::Bearer { .. }) => {
                        *st.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                        self.renew_token(st, &scope, &c, what).await?;
                    }
                    Some(Challenge::Basic) => {
                        if auth == AuthUsed::Basic || self.credentials(st).await?.is_none() {
                            return Err(unauthorized(detail));
                        }
                        *st.challenge.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(Challenge::Basic);
                    }
                    None => {
                        // 403 without a challenge: renew a bearer token if that is what was
                        // used; otherwise there is nothing to change.
                        let known = st
                            .challenge
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone();
                        match known {
                            Some(c @ Challenge::Bearer { .. })
                                if matches!(auth, AuthUsed::Bearer(_)) =>
                            {
                                self.renew_token(st, &scope, &c, what).await?;
                            }
                            _ => return Err(unauthorized(detail)),
                        }
                    }
                }
                continue;
            }
            if status == StatusCode::NOT_FOUND {
                return Err(Failure::Fatal(RegistryError::NotFound {
                    what: what.to_owned(),
                }));
            }
            let retry_after = retry::retry_after(resp.headers());
            let detail = error_detail(resp).await;
            let reason = if detail.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {detail}")
            };
            if retry::is_retryable_status(status) {
                return Err(Failure::Retry {
                    reason,
                    timed_out: false,
                    retry_after,
                });
            }
            return Err(Failure::Fatal(RegistryError::Unavailable {
                what: what.to_owned(),
                attempts: 1,
                reason: format!("unexpected {reason}"),
            }));
        }
    }

    pub(super) async fn credentials(
        &self,
        st: &RegistryState,
    ) -> Result<Option<Credentials>, Failure> {
        st.credentials
            .get_or_try_init(|| async {
                if let Some(c) = &st.config.credentials {
                    return Ok(Some(c.clone()));
                }
                let Some(path) = &st.config.docker_config else {
                    return Ok(None);
                };
                let cfg = DockerConfig::load(path)?;
                cfg.credentials_for(&st.host, path).await
            })
            .await
            .cloned()
            .map_err(|e| {
                Failure::Fatal(RegistryError::Config {
                    registry: st.host.clone(),
                    reason: e.to_string(),
                })
            })
    }

    pub(super) async fn current_auth(
        &self,
        st: &RegistryState,
        scope: &str,
    ) -> Result<AuthUsed, Failure> {
        let challenge = st
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(match challenge {
            None => AuthUsed::None,
            Some(Challenge::Basic) => AuthUsed::Basic,
            Some(Challenge::Bearer { .. }) => {
                let cached = st
                    .tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(scope, Instant::now());
                match cached {
                    Some(t) => AuthUsed::Bearer(t),
                    None => AuthUsed::None,
                }
            }
        })
    }

    /// Fetch a new token for `scope` from the challenge's realm and cache it.
    pub(super) async fn renew_token(
        &self,
        st: &RegistryState,
        scope: &str,
        challenge: &Challenge,
        what: &str,
    ) -> Result<(), Failure> {
        let Challenge::Bearer { realm, service, .. } = challenge else {
            return Ok(());
        };
        let _one_at_a_time = st.token_fetch.lock().await;
        let realm_url = Url::parse(realm).map_err(|e| {
            Failure::Fatal(RegistryError::Invalid {
                what: what.to_owned(),
                reason: format!("token realm `{realm}` is not a URL: {e}"),
            })
        })?;
        let realm_host = realm_url.host_str().unwrap_or_default();
        let realm_host = realm_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(realm_host);
        let realm_loopback = realm_host.eq_ignore_ascii_case("localhost")
            || realm_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if realm_url.scheme() != "https"
            && !(realm_url.scheme() == "http" && (st.config.insecure || realm_loopback))
        {
            return Err(Failure::Fatal(RegistryError::Config {
                registry: st.host.clone(),
                reason: format!(
                    "refusing token realm {realm}: only HTTPS, or HTTP to loopback or an insecure registry"
                ),
            }));
        }
        let mut url = realm_url;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            q.append_pair("scope", scope);
        }
        let mut req = self.http.get(url).timeout(st.config.timeout);
        if let Some(c) = self.credentials(st).await? {
            req = req.header(AUTHORIZATION, c.basic_header());
        }
        let token_what = format!("token for {scope} from {realm}");
        let resp = req.send().await.map_err(|e| transport_failure(&e))?;
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(resp.headers());
            let detail = error_detail(resp).await;
            if retry::is_retryable_status(status) {
                return Err(Failure::Retry {
                    reason: format!("{token_what}: HTTP {status} {detail}"),
                    timed_out: false,
                    retry_after,
                });
            }
            return Err(Failure::Fatal(RegistryError::Unauthorized {
                what: what.to_owned(),
                registry: st.host.clone(),
                status: status.as_u16(),
                detail: format!(": token endpoint refused ({status}) {detail}")
                    .trim_end()
                    .to_owned(),
            }));
        }
        let body = read_capped(resp, MAX_TOKEN_RESPONSE_BYTES, &token_what).await?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Failure::Fatal(RegistryError::Invalid {
                what: token_what.clone(),
                reason: format!("not a token response: {e}"),
            })
        })?;
        let token = parsed.into_cached(Instant::now()).ok_or_else(|| {
            Failure::Fatal(RegistryError::Invalid {
                what: token_what.clone(),
                reason: "the answer holds no token".into(),
            })
        })?;
        tracing::debug!(registry = %st.host, %scope, "bearer token renewed");
        st.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(scope, token);
        Ok(())
    }
}

pub(super) fn repo_url(
    st: &RegistryState,
    reference: &Reference,
    tail: &[&str],
) -> Result<Url, RegistryError> {
    let mut url = st.base.clone();
    {
        let mut segs = url.path_segments_mut().map_err(|_| RegistryError::Config {
            registry: st.host.clone(),
            reason: "registry address cannot carry a path".into(),
        })?;
        segs.pop_if_empty().push("v2");
        segs.extend(reference.repository().split('/'));
        segs.extend(tail);
    }
    Ok(url)
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Read a response body, refusing it by its declared length first, then counting while it
/// streams and stopping at `limit + 1` bytes.
pub(super) async fn read_capped(
    mut resp: Response,
    limit: u64,
    what: &str,
) -> Result<Bytes, Failure> {
    let declared =
        header_str(resp.headers(), CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if let Some(size) = declared
        && size > limit
    {
        return Err(Failure::Fatal(RegistryError::TooLarge {
            what: what.to_owned(),
            size,
            limit,
        }));
    }
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let total = buf.len() as u64 + chunk.len() as u64;
                if total > limit {
                    return Err(Failure::Fatal(RegistryError::TooLarge {
                        what: what.to_owned(),
                        size: total,
                        limit,
                    }));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => {
                let mut f = transport_failure(&e);
                if let Failure::Retry { reason, .. } = &mut f {
                    *reason = format!("body read failed after {} bytes: {reason}", buf.len());
                }
                return Err(f);
            }
        }
    }
}

/// The start of a registry's answer, quoted and escaped, for error messages.
pub(super) fn excerpt(bytes: &[u8]) -> String {
    const MAX_CHARS: usize = 200;
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("{out:?} ({} bytes)", bytes.len())
}

/// A transport error as a retryable failure, with its whole cause chain.
pub(super) fn transport_failure(e: &reqwest::Error) -> Failure {
    Failure::Retry {
        reason: error_chain(e),
        timed_out: e.is_timeout(),
        retry_after: None,
    }
}

/// An error and its sources, `: `-separated.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            let _ = write!(out, ": {text}");
        }
        source = s.source();
    }
    out
}

/// A short excerpt of an error response body (distribution error JSON is small).
pub(super) async fn error_detail(resp: Response) -> String {
    let text = match read_capped(resp, 4096, "error body").await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return String::new(),
    };
    let text = text.trim();
    let mut out: String = text.chars().take(300).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
