//! The `store` import: subject descriptor, referrers, manifests and blobs, each read checked
//! against the call's [`Scope`] and counted against its limits.

use super::*;

fn to_wit_error(e: StoreError) -> WitStoreError {
    match e {
        StoreError::NotFound(s) => WitStoreError::NotFound(s),
        StoreError::TooLarge { limit, .. } => WitStoreError::TooLarge(limit),
        e @ (StoreError::DigestMismatch { .. } | StoreError::Invalid(_)) => {
            WitStoreError::Invalid(e.to_string())
        }
        StoreError::Unavailable(s) => WitStoreError::Unavailable(s),
    }
}

impl wit_store::Host for HostState {
    async fn get_subject(&mut self) -> wasmtime::Result<Subject> {
        self.count_call()?;
        match &self.call {
            Some(c) => Ok(c.subject.clone()),
            None => Err(wasmtime::format_err!("{NO_SUBJECT}")),
        }
    }

    async fn list_referrers(
        &mut self,
        digest: String,
        artifact_type: Option<String>,
    ) -> wasmtime::Result<Result<Vec<WitDescriptor>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        let (digest, depth) = match call.scope.check_referrers(&digest) {
            Ok(v) => v,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        let started = Instant::now();
        let res = call
            .store
            .list_referrers(&digest, artifact_type.as_deref())
            .await;
        self.stats.store_time += started.elapsed();
        match res {
            Ok(found) => {
                call.scope.add_referrers(depth, &found);
                let out: Vec<WitDescriptor> = found.iter().map(to_wit).collect();
                let bytes = out.iter().map(wit_descriptor_size).sum();
                self.count_bytes(bytes)?;
                Ok(Ok(out))
            }
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }

    async fn get_manifest(
        &mut self,
        desc: WitDescriptor,
    ) -> wasmtime::Result<Result<Vec<u8>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        // The host's own descriptor, never the guest's claim about size or media type.
        let known = match call.scope.manifest(&desc.digest) {
            Ok(d) => d,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        let started = Instant::now();
        let res = call.store.get_manifest(&known).await;
        self.stats.store_time += started.elapsed();
        let bytes = match res {
            Ok(b) => b,
            Err(e) => return Ok(Err(to_wit_error(e))),
        };
        match Manifest::parse(&bytes) {
            Ok(m) => call.scope.add_manifest_content(&known.digest, &m),
            Err(e) => {
                return Ok(Err(WitStoreError::Invalid(format!(
                    "{}: {e}",
                    known.digest
                ))));
            }
        }
        self.count_bytes(bytes.len() as u64)?;
        Ok(Ok(bytes.to_vec()))
    }

    async fn get_blob(
        &mut self,
        digest: String,
    ) -> wasmtime::Result<Result<Vec<u8>, WitStoreError>> {
        self.count_call()?;
        let Some(call) = self.call.as_mut() else {
            return Ok(Err(WitStoreError::Denied(NO_SUBJECT.into())));
        };
        let known = match call.scope.blob(&digest) {
            Ok(d) => d,
            Err(e) => return Ok(Err(WitStoreError::Denied(e.to_string()))),
        };
        // Refuse before fetching when the blob could not fit in what is left of the budget.
        let left = self
            .limits
            .bytes_returned
            .saturating_sub(self.stats.bytes_returned);
        if known.size > left {
            return Ok(Err(WitStoreError::TooLarge(left)));
        }
        let started = Instant::now();
        let res = call.store.get_blob(&known).await;
        self.stats.store_time += started.elapsed();
        match res {
            Ok(b) => {
                self.count_bytes(b.len() as u64)?;
                Ok(Ok(b.to_vec()))
            }
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }
}

fn wit_descriptor_size(d: &WitDescriptor) -> u64 {
    let ann: usize = d.annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    (d.media_type.len()
        + d.digest.len()
        + d.artifact_type.as_ref().map_or(0, |a| a.len())
        + ann
        + 8) as u64
}
