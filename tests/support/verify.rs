//! One subject verified the way `vouch verify` does it: the configuration's verifiers on a fresh
//! runtime, its policy, and its registry client and caches (no disk cache).

use vouch::config::Config;
use vouch::executor::{Executor, Settings};
use vouch::report::SubjectReport;
use vouch::runtime::{Runtime, RuntimeConfig};
use vouch::store::sources::Sources;

/// Verify `subject` with `config`: an image reference, or with `layout` an OCI layout subject
/// (`<dir>:<tag>`).
pub async fn verify_subject(config: &Config, subject: &str, layout: bool) -> SubjectReport {
    let runtime = Runtime::new(RuntimeConfig {
        max_instances: 8,
        max_concurrency: 8,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let verifiers = vouch::app::load_verifiers(&runtime, config).await.unwrap();
    let policy = vouch::app::policy::from_config(config).unwrap();
    let exec =
        Executor::new(runtime, verifiers, Settings::from(&config.executor)).with_policy(policy);
    let sources = Sources::new(
        config.stores.registries.client().unwrap(),
        config.stores.cache.clone(),
        None,
        config.stores.layouts.limits(),
    )
    .unwrap();
    let source = if layout {
        sources.layout(subject).unwrap()
    } else {
        sources.registry(subject).unwrap()
    };
    exec.verify(source).await
}
