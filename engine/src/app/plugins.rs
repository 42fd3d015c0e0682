//! The plugin client (verifier distribution) a configuration describes.

use std::sync::Arc;

use crate::config::Config;
use crate::plugin::{PluginClient, PluginError};
use crate::store::disk::{DiskCache, DiskCacheConfig};

impl PluginClient {
    /// A plugin client with `config`'s registry settings and disk cache (`stores.diskCache`).
    pub async fn from_config(config: &Config) -> Result<PluginClient, PluginError> {
        let client = config
            .stores
            .registries
            .client()
            .map_err(|source| PluginError::Registry {
                reference: "*".into(),
                source,
            })?;
        let disk = match config.disk_cache_dir() {
            Some(dir) => Some(
                DiskCache::open(&dir, DiskCacheConfig::default())
                    .await
                    .map_err(|e| PluginError::Cache {
                        path: dir.clone(),
                        reason: e.to_string(),
                    })?,
            ),
            None => None,
        };
        Ok(PluginClient::new(Arc::new(client), disk))
    }
}
