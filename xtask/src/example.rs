//! `cargo xtask example`: regenerates `examples/`: an OCI layout with a demo image and its
//! referrers, the throwaway trust material that signed them, and the `vouch.yaml` that verifies
//! them. Keys are generated fresh on every run; only public material is written.
//!
//! - `demo:v1` passes: a notation signature (JWS, ES256, test CA), a cosign key-based signature, an
//!   SPDX SBOM with its own notation signature, and a SARIF vulnerability report with one low
//!   finding.
//! - `demo:v2` fails: its notation signature was tampered with after signing and it has no SBOM.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use xtask::fixtures::{cosign, notation};
use xtask::layout::{Desc, LayoutWriter};

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;
const SPDX: &str = "application/spdx+json";
const SARIF: &str = "application/sarif+json";
/// The reference cosign's payload names (what `cosign sign` would have been given).
const DOCKER_REFERENCE: &str = "registry.example/demo";

/// Write everything under `examples/`.
pub fn generate(examples: &Path) -> Result<()> {
    let now = notation::unix_now();
    let mut chain_opts = notation::ChainOptions::valid_now();
    chain_opts.root_validity = (now - DAY, now + 20 * YEAR);
    chain_opts.leaf_validity = (now - DAY, now + 10 * YEAR);
    let chain = notation::test_chain(&chain_opts).context("generating the test CA")?;
    let cosign_key = cosign::generate_key().context("generating the cosign key")?;

    let mut w = LayoutWriter::create(&examples.join("demo-layout"))?;

    // demo:v1, fully attested.
    let v1 = w.image("v1", b"demo application, version 1")?;
    notation_signature(&mut w, &v1, &chain, false)?;
    let layer = cosign::Layer::key_signed(
        cosign::simple_signing_payload(DOCKER_REFERENCE, &v1.digest),
        &cosign_key,
    )?;
    let sig = cosign::signature_manifest(
        &cosign::SubjectRef {
            media_type: v1.media_type.clone(),
            digest: v1.digest.clone(),
            size: v1.size,
        },
        &[layer],
    );
    for b in &sig.blobs {
        w.blob(&b.media_type, &b.data)?;
    }
    w.referrer(&sig.manifest)?;
    let sbom = w.artifact(&v1, SPDX, SPDX, &spdx_document("1.0.0"))?;
    notation_signature(&mut w, &sbom, &chain, false)?;
    w.artifact(&v1, SARIF, SARIF, &sarif_report())?;

    // demo:v2, tampered signature and no SBOM.
    let v2 = w.image("v2", b"demo application, version 2")?;
    notation_signature(&mut w, &v2, &chain, true)?;
    w.finish()?;

    let trust = examples.join("trust");
    std::fs::create_dir_all(&trust)?;
    std::fs::write(trust.join("notation-ca.pem"), &chain.root_pem)?;
    std::fs::write(trust.join("cosign.pub"), cosign_key.public_key_pem())?;
    std::fs::write(
        examples.join("vouch.yaml"),
        config(
            &chain.root_pem,
            &chain_opts.leaf_subject.identity(),
            &cosign_key.public_key_pem(),
        )?,
    )?;
    println!(
        "wrote {}: demo-layout (v1 passes, v2 fails), trust/, vouch.yaml",
        examples.display()
    );
    Ok(())
}

/// Sign `subject` as notation does; `tamper` flips a byte of the signature after signing.
fn notation_signature(
    w: &mut LayoutWriter,
    subject: &Desc,
    chain: &notation::TestChain,
    tamper: bool,
) -> Result<Desc> {
    let target = notation::Target {
        media_type: subject.media_type.clone(),
        digest: subject.digest.clone(),
        size: subject.size,
    };
    let mut envelope = notation::sign_jws(
        &target,
        &chain.leaf_key_pkcs8,
        &chain.x5c(),
        &notation::JwsOptions::now(),
    )?;
    if tamper {
        let mut jws: serde_json::Value = serde_json::from_slice(&envelope)?;
        let sig = jws["signature"]
            .as_str()
            .context("envelope has a signature")?;
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        jws["signature"] = json!(format!("{flipped}{}", &sig[1..]));
        envelope = serde_json::to_vec(&jws)?;
    }
    w.blob(xtask::layout::EMPTY_CONFIG, b"{}")?;
    w.blob(notation::JWS_MEDIA_TYPE, &envelope)?;
    let manifest =
        notation::signature_manifest(&target, &envelope, notation::JWS_MEDIA_TYPE, &chain.x5c());
    Ok(w.referrer(&manifest)?)
}

fn spdx_document(version: &str) -> Vec<u8> {
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "demo",
        "documentNamespace": "https://example.test/spdx/demo",
        "creationInfo": {"created": "2026-01-01T00:00:00Z", "creators": ["Tool: vouch-xtask"]},
        "packages": [
            {"SPDXID": "SPDXRef-demo", "name": "demo", "versionInfo": version,
             "downloadLocation": "NOASSERTION", "licenseConcluded": "Apache-2.0",
             "licenseDeclared": "Apache-2.0"},
            {"SPDXID": "SPDXRef-serde", "name": "serde", "versionInfo": "1.0.228",
             "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT OR Apache-2.0",
             "licenseDeclared": "MIT OR Apache-2.0",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:cargo/serde@1.0.228"}]}
        ]
    })
    .to_string()
    .into_bytes()
}

fn sarif_report() -> Vec<u8> {
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {"name": "Trivy", "rules": [{
                "id": "CVE-2024-0001",
                "properties": {"security-severity": "3.1", "tags": ["vulnerability", "LOW"]}
            }]}},
            "results": [{"ruleId": "CVE-2024-0001", "level": "note",
                         "message": {"text": "demo: a low-severity finding"}}]
        }]
    })
    .to_string()
    .into_bytes()
}

fn config(ca_pem: &str, identity: &str, cosign_pem: &str) -> Result<String> {
    let notation = json!({
        "trustPolicy": {"version": "1.0", "trustPolicies": [{
            "name": "demo",
            "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:demo"],
            "trustedIdentities": [identity],
        }]},
        "trustStores": {"ca": {"demo": [ca_pem]}},
    });
    let cosign = json!({"keys": [{"name": "demo", "pem": cosign_pem}]});
    let doc = json!({
        "verifiers": [
            {"name": "notation", "path": "verifiers/notation.wasm", "config": notation},
            {"name": "cosign", "path": "verifiers/cosign.wasm", "config": cosign},
            {"name": "sbom", "path": "verifiers/sbom.wasm",
             "config": {"disallowedLicenses": ["GPL-3.0-only", "AGPL-3.0-only"]}},
            {"name": "vuln", "path": "verifiers/vuln.wasm", "config": {"denySeverity": "high"}},
        ],
        "policy": {
            "type": "config",
            "artifactVerificationPolicies": {
                notation::SIGNATURE_ARTIFACT_TYPE: "all",
                cosign::ARTIFACT_TYPE: "all",
                SPDX: "all",
                SARIF: "all",
            },
        },
    });
    let header = "# Generated by `cargo xtask example`: the demo's verifiers, their trust material and\n\
                  # the policy. `./run.sh` copies the built verifiers into examples/verifiers/.\n";
    Ok(format!("{header}{}", serde_json::to_string_pretty(&doc)?))
}
