//! `vouch discover`: list a subject's referrers (and theirs, to a depth) without verifying.

use std::io::Write as _;
use std::path::Path;

use super::{
    EXIT_FAIL, EXIT_PASS, Output, render, source, user_docker_config, with_user_credentials,
};
use crate::app::build;
use crate::app::process::{close_disk, open_disk};
use crate::config::Config;
use crate::executor;
use crate::store::disk::DiskCache;

/// `vouch discover`: the referrer graph of a subject, as a tree or JSON.
pub(super) async fn discover(
    subject: &str,
    oci_layout: bool,
    config_path: Option<&Path>,
    depth: u32,
    output: Output,
) -> anyhow::Result<u8> {
    let mut config = match config_path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    with_user_credentials(&mut config, user_docker_config());
    let disk = open_disk(&config).await?;
    let outcome = discover_with(subject, oci_layout, depth, output, &config, disk.as_ref()).await;
    close_disk(disk, &config).await;
    outcome
}

/// `vouch discover` once the configuration and the disk cache are open.
async fn discover_with(
    subject: &str,
    oci_layout: bool,
    depth: u32,
    output: Output,
    config: &Config,
    disk: Option<&DiskCache>,
) -> anyhow::Result<u8> {
    let source = source(&build::sources(config, disk)?, subject, oci_layout)?;
    let settings = executor::Settings::from(&config.executor);
    let resolved = tokio::time::timeout(
        settings.deadline,
        source.store.resolve(&source.tag_or_digest),
    )
    .await;
    let desc = match resolved {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            eprintln!("error: cannot resolve `{subject}`: {e}");
            return Ok(EXIT_FAIL);
        }
        Err(_) => {
            eprintln!(
                "error: cannot resolve `{subject}`: the {} ms deadline (executor.deadlineMs) passed",
                settings.deadline.as_millis()
            );
            return Ok(EXIT_FAIL);
        }
    };
    let nodes = match executor::discover(source.store.clone(), &desc.digest, depth, &settings).await
    {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: cannot list the referrers of `{subject}`: {e}");
            return Ok(EXIT_FAIL);
        }
    };
    let mut out = std::io::stdout().lock();
    match output {
        Output::Json => {
            let json = serde_json::json!({
                "subject": subject,
                "descriptor": desc,
                "referrers": nodes,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        Output::Tree => write!(
            out,
            "{}",
            render::render_discovery(subject, &desc.digest, &nodes)
        )?,
    }
    Ok(EXIT_PASS)
}
