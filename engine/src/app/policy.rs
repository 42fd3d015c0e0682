//! The policy a configuration describes.

use std::sync::Arc;

use crate::config::Config;
use crate::policy::{DefaultPolicy, Policy, PolicyError};

/// The policy of `config`: its `policy` section built, or [`DefaultPolicy`] when absent.
pub fn from_config(config: &Config) -> Result<Arc<dyn Policy>, PolicyError> {
    match &config.policy {
        Some(p) => p.build(&config.base_dir),
        None => Ok(Arc::new(DefaultPolicy)),
    }
}
