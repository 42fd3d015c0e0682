//! `vouch inspect`: what a verifier component declares, read by loading it.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{EXIT_PASS, Output};
use crate::runtime::{Limits, Runtime, RuntimeConfig};

/// `vouch inspect`: a verifier's metadata, interface and default limits.
pub(super) async fn inspect(wasm: &Path, output: Output) -> anyhow::Result<u8> {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 4,
        max_concurrency: 4,
        ..RuntimeConfig::default()
    })
    .context("cannot create the verifier runtime")?;
    let limits = Limits::default();
    let name = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "verifier".into());
    let verifier = runtime.load_file(&name, wasm, limits.clone()).await?;
    let (imports, exports) = verifier.component_interface(&runtime);
    let md = verifier.metadata();
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let json = serde_json::json!({
                "path": wasm,
                "metadata": md,
                "moduleDigest": verifier.module_digest().to_string(),
                "sizeBytes": verifier.wasm_size(),
                "imports": imports,
                "exports": exports,
                "defaultLimits": limits,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Output::Tree => {
            writeln!(out, "{}", wasm.display())?;
            writeln!(out, "  name:           {}", md.name)?;
            writeln!(out, "  version:        {}", md.version)?;
            writeln!(out, "  artifact types: {}", md.artifact_types.join(", "))?;
            writeln!(
                out,
                "  config schema:  {}",
                if md.config_schema.is_some() {
                    "published"
                } else {
                    "none"
                }
            )?;
            writeln!(out, "  module digest:  {}", verifier.module_digest())?;
            writeln!(out, "  size:           {} bytes", verifier.wasm_size())?;
            writeln!(out, "  imports:")?;
            for i in &imports {
                writeln!(out, "    {i}")?;
            }
            writeln!(out, "  exports:")?;
            for e in &exports {
                writeln!(out, "    {e}")?;
            }
            writeln!(out, "  default limits: {}", serde_json::to_string(&limits)?)?;
        }
    }
    Ok(EXIT_PASS)
}
