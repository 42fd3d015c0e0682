//! Loading the verifiers a configuration names: `.wasm` files or `oci://` plugins (pulled,
//! checked, signature-verified), each config-checked with its file references resolved.

use std::path::PathBuf;

use crate::config::Config;
use crate::executor::ExecVerifier;
use crate::plugin::PluginClient;
use crate::runtime::{Runtime, RuntimeError, Verifier};

/// Why the executor could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// A configured verifier could not be loaded or rejected its configuration.
    #[error("verifiers[{index}] (`{name}`, {path}): {source}")]
    Load {
        /// Position in the config's `verifiers` list.
        index: usize,
        /// Configured name.
        name: String,
        /// The `.wasm` file.
        path: PathBuf,
        /// Why.
        source: RuntimeError,
    },
    /// An `oci://` verifier could not be pulled, failed a check, or is not a component.
    #[error("verifiers[{index}] (`{name}`): {source}")]
    Plugin {
        /// Position in the config's `verifiers` list.
        index: usize,
        /// Configured name.
        name: String,
        /// Why (names the reference and the check that failed).
        source: crate::plugin::PluginError,
    },
    /// A file its configuration references (trust material by reference) could not be read or
    /// is not what the field takes.
    #[error("verifiers[{index}] (`{name}`): {source}")]
    ConfigFile {
        /// Position in the config's `verifiers` list.
        index: usize,
        /// Configured name.
        name: String,
        /// Why (names the field and the file).
        source: Box<crate::config::filerefs::FileRefError>,
    },
}

/// Load every verifier of `config` and run its `check-config` (errors name the entry).
///
/// An `oci://` verifier is pulled first (tag pinned to its digest, artifact checked, signature
/// required when `signatureKey` is set; see [`crate::plugin`]) with the config's registry
/// settings and disk cache, opened for this load.
pub async fn load_verifiers(
    runtime: &Runtime,
    config: &Config,
) -> Result<Vec<ExecVerifier>, ExecutorError> {
    load_verifiers_with(runtime, config, None).await
}

/// [`load_verifiers`] pulling `oci://` verifiers through `plugins` when given (the process's
/// registry client and disk cache, so a load opens neither a second time).
pub async fn load_verifiers_with(
    runtime: &Runtime,
    config: &Config,
    plugins: Option<PluginClient>,
) -> Result<Vec<ExecVerifier>, ExecutorError> {
    use crate::plugin::{self, VerifyingKeys};
    // Opened on the first `oci://` verifier only, unless given.
    let plugins = tokio::sync::OnceCell::<PluginClient>::new_with(plugins);
    let mut out = Vec::with_capacity(config.verifiers.len());
    for (index, vc) in config.verifiers.iter().enumerate() {
        let path = config.verifier_path(vc);
        let err = |source| ExecutorError::Load {
            index,
            name: vc.name.clone(),
            path: path.clone(),
            source,
        };
        let verifier = if let Some(reference) = plugin::oci_path(&vc.path) {
            let plugin_err = |source| ExecutorError::Plugin {
                index,
                name: vc.name.clone(),
                source,
            };
            let store = plugins
                .get_or_try_init(|| PluginClient::from_config(config))
                .await
                .map_err(plugin_err)?;
            let keys = match &vc.signature_key {
                Some(k) => {
                    let keys = VerifyingKeys::load(&config.base_dir.join(k));
                    Some(keys.map_err(|e| plugin_err(e.into()))?)
                }
                None => None,
            };
            let pulled = store
                .pull(reference, keys.as_ref())
                .await
                .map_err(plugin_err)?;
            plugin::load_plugin(runtime, &vc.name, &pulled, vc.limits.clone())
                .await
                .map_err(plugin_err)?
        } else {
            runtime
                .load_file(&vc.name, &path, vc.limits.clone())
                .await
                .map_err(err)?
        };
        let json = resolved_config(config, index, vc, &verifier).map_err(|source| {
            ExecutorError::ConfigFile {
                index,
                name: vc.name.clone(),
                source,
            }
        })?;
        runtime.check_config(&verifier, &json).await.map_err(err)?;
        out.push(ExecVerifier {
            verifier,
            config: json.into(),
            artifact_types: vc.artifact_types.clone(),
            scope: vc.image_scope(),
        });
    }
    Ok(out)
}

/// The JSON config `vc`'s verifier receives: its file references (declared by the verifier's
/// config schema, see [`crate::config::filerefs`]) replaced by the files' contents, read now, so
/// that the verdicts' fingerprint covers those contents.
fn resolved_config(
    config: &Config,
    index: usize,
    vc: &crate::config::VerifierConfig,
    verifier: &Verifier,
) -> Result<String, Box<crate::config::filerefs::FileRefError>> {
    let (Some(value), Some(schema)) = (&vc.config, verifier.metadata().config_schema.as_deref())
    else {
        return Ok(vc.config_json());
    };
    let mut value = value.clone();
    crate::config::filerefs::resolve(
        schema,
        &mut value,
        &config.base_dir,
        &format!("verifiers[{index}].config"),
    )
    .map_err(Box::new)?;
    Ok(value.to_string())
}
