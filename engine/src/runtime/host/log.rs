//! The `log` import: guest log lines as `tracing` events under `vouch::guest`, counted against
//! the call's log budget.

use super::*;

impl wit_log::Host for HostState {
    fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        self.count_call()?;
        self.stats.log_bytes += message.len() as u64;
        if self.stats.log_bytes > self.limits.log_bytes {
            return Err(limit(LimitKind::LogBytes, self.limits.log_bytes));
        }
        let v = &*self.verifier;
        match level {
            wit_log::Level::Trace => {
                tracing::trace!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Debug => {
                tracing::debug!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Info => {
                tracing::info!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Warn => {
                tracing::warn!(target: "vouch::guest", verifier = v, "{message}")
            }
            wit_log::Level::Error => {
                tracing::error!(target: "vouch::guest", verifier = v, "{message}")
            }
        }
        Ok(())
    }
}
