//! `vouch push` and `vouch sign`: put an OCI layout (images and their referrers) into a registry,
//! and sign an image there, so that `vouch verify` and `vouch serve` can be tried against a real
//! registry in two commands.
//!
//! - `vouch push <layout dir> <registry/repository>`: every manifest `index.json` lists — tagged
//!   images under their tags, referrers (signatures, SBOMs, ...) by digest, an index's children
//!   first — with the blobs they name (skipped when the registry has them). A referrer is also
//!   recorded in its subject's `sha256-<hex>` tag-schema index when the registry does not index
//!   referrers itself (it did not answer `OCI-Subject`), with its `artifactType` and annotations,
//!   as the OCI distribution specification asks. Tools that copy one image at a time (skopeo)
//!   bring no referrers along, and rewrite such an index without its `artifactType`s.
//! - `vouch sign <reference> --key key.pem`: a cosign simple-signing signature of the manifest
//!   the reference names, as an OCI 1.1 referrer (the format of `vouch plugin push --sign-key`,
//!   docs/plugins.md), verified by `vouch verify <reference> --key key.pub`.
//!
//! Both read registry settings (credentials, `insecure` hosts) from `-c` when given, and the
//! user's `~/.docker/config.json` like `vouch verify`. Exit codes: 0 done, 2 a usage or
//! configuration error (unreadable layout or key), 3 the registry refused or was unreachable.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{EXIT_PASS, EXIT_UNREACHABLE, user_docker_config, with_user_credentials};
use crate::config::Config;
use crate::oci::layout::REF_NAME_ANNOTATION;
use crate::oci::registry::{RegistryClient, RegistryError};
use crate::oci::{Descriptor, Manifest, OciLayout, Reference};
use crate::plugin::{SigningKey, parse_reference, push_referrer, signature_artifact};

/// The largest blob `vouch push` reads from a layout (a layer of a container image).
const MAX_PUSHED_BLOB: u64 = 2 << 30;

/// The registry client of `-c` (or defaults), with the user's Docker credentials.
fn client(config: Option<&Path>) -> anyhow::Result<RegistryClient> {
    let mut config = match config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    with_user_credentials(&mut config, user_docker_config());
    Ok(config.stores.registries.client()?)
}

/// A registry failure: printed, exit code 3.
fn unreachable(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    EXIT_UNREACHABLE
}

/// `vouch push <layout> <repository>`.
pub async fn push(layout: &Path, repository: &str, config: Option<&Path>) -> anyhow::Result<u8> {
    let layout = OciLayout::open(layout)
        .with_context(|| format!("cannot open the OCI layout {}", layout.display()))?;
    let target = parse_reference(repository)?;
    if target.tag().is_some_and(|t| t != "latest") || target.digest().is_some() {
        anyhow::bail!(
            "`{repository}`: name a repository (registry/repository), not a tag or digest: the \
             layout's own tags are pushed"
        );
    }
    let client = client(config)?;
    let mut pusher = Pusher {
        layout: &layout,
        client: &client,
        target: &target,
        done: BTreeSet::new(),
        fallback: 0,
    };
    let index = layout.index()?;
    let mut out = std::io::stdout().lock();
    // Tagged manifests first, so a referrer never names a subject the registry does not hold.
    let mut entries = index.manifests.clone();
    entries.sort_by_key(|d| !d.annotations.contains_key(REF_NAME_ANNOTATION));
    for entry in &entries {
        let tag = entry
            .annotations
            .get(REF_NAME_ANNOTATION)
            .map(String::as_str);
        if let Err(e) = pusher.manifest(entry, tag).await {
            return Ok(unreachable(e));
        }
        match tag {
            Some(tag) => writeln!(out, "{}:{tag} {}", target.name(), entry.digest)?,
            None => writeln!(out, "{}@{}", target.name(), entry.digest)?,
        }
    }
    writeln!(
        out,
        "pushed {} manifests ({} referrers-index updates for a registry without the referrers API)",
        pusher.done.len(),
        pusher.fallback
    )?;
    Ok(EXIT_PASS)
}

/// Why a push stopped.
#[derive(Debug, thiserror::Error)]
enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("layout: {0}")]
    Layout(#[from] crate::oci::layout::LayoutError),
    #[error("manifest {digest} of the layout: {reason}")]
    Manifest { digest: String, reason: String },
}

/// Pushes one layout's manifests (each once) to one repository.
struct Pusher<'a> {
    layout: &'a OciLayout,
    client: &'a RegistryClient,
    target: &'a Reference,
    done: BTreeSet<String>,
    fallback: usize,
}

impl Pusher<'_> {
    /// Push the manifest `desc` (children and blobs first) under `tag`, else by digest, and
    /// record it in its subject's fallback index when the registry does not index referrers.
    async fn manifest(&mut self, desc: &Descriptor, tag: Option<&str>) -> Result<(), PushError> {
        let digest = desc.digest.to_string();
        let bytes = self.layout.read_blob(desc, self.layout.manifest_limit())?;
        let manifest = Manifest::parse(&bytes).map_err(|e| PushError::Manifest {
            digest: digest.clone(),
            reason: e.to_string(),
        })?;
        if !self.done.contains(&digest) {
            for child in &manifest.manifests {
                Box::pin(self.manifest(child, None)).await?;
            }
            for blob in manifest.blobs() {
                let data = self.layout.read_blob(blob, MAX_PUSHED_BLOB)?;
                self.client.push_blob(self.target, blob, &data).await?;
            }
        }
        let put_as = tag.map_or_else(|| digest.clone(), str::to_owned);
        let pushed = self
            .client
            .push_manifest(self.target, &put_as, &desc.media_type, &bytes)
            .await?;
        if self.done.insert(digest)
            && let Some(subject) = &manifest.subject
            && !pushed.subject_indexed
        {
            // The OCI distribution spec's referrers list: artifactType and annotations.
            let mut entry = pushed.descriptor;
            entry.annotations = manifest.annotations.clone();
            self.client
                .push_referrer_fallback(self.target, &subject.digest, &entry)
                .await?;
            self.fallback += 1;
        }
        Ok(())
    }
}

/// `vouch sign <reference> --key key.pem`.
pub async fn sign(reference: &str, key: &Path, config: Option<&Path>) -> anyhow::Result<u8> {
    let key = SigningKey::load(key)?;
    let target = parse_reference(reference)?;
    let client = client(config)?;
    let subject = match client.resolve(&target, &target.tag_or_digest()).await {
        Ok(d) => d,
        Err(e) => return Ok(unreachable(format!("cannot resolve `{reference}`: {e}"))),
    };
    let sig = signature_artifact(&target.name(), &subject, &key)?;
    if let Err(e) = push_referrer(&client, &target, &subject.digest, &sig).await {
        return Ok(unreachable(format!("cannot push the signature: {e}")));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "signed {}@{}", target.name(), subject.digest)?;
    writeln!(out, "  signature: {}", sig.descriptor.digest)?;
    Ok(EXIT_PASS)
}

/// Arguments of `vouch push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The OCI image layout directory to push (every manifest its `index.json` lists).
    pub layout: PathBuf,
    /// The repository to push to: `registry/repository` (`oci://` optional).
    pub repository: String,
    /// Configuration file for registry settings (credentials, `insecure` hosts).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}

/// Arguments of `vouch sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The image to sign: `registry/repository:tag` or `@sha256:…` (the digest is signed).
    pub reference: String,
    /// PKCS#8 PEM private key: ECDSA P-256 or P-384, or Ed25519 (`vouch plugin keygen DIR`
    /// writes a P-256 pair; verify with `vouch verify <reference> --key <its .pub>`).
    #[arg(long, value_name = "PEM_FILE")]
    pub key: PathBuf,
    /// Configuration file for registry settings (credentials, `insecure` hosts).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
}
