//! Per-call limits and the typed error a limit hit becomes.
//!
//! Every limit produces a [`LimitExceeded`] that travels through wasmtime as the trap's error, so
//! the runtime can name the limit precisely instead of guessing from a message.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Limits applied to one verifier call. Configurable per verifier; defaults are conservative for
/// an admission webhook (whose whole request has ~3 s).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Total linear memory the guest may grow to, in bytes.
    pub memory_bytes: u64,
    /// CPU time the guest may spend executing WebAssembly, measured between epoch ticks: time
    /// parked by a CPU quota does not count, a host call spanning ticks counts as one at most.
    #[serde(with = "millis")]
    pub cpu_time: Duration,
    /// Wall-clock time for the whole call, host calls included.
    #[serde(with = "millis")]
    pub wall_time: Duration,
    /// Number of host-function calls (store, crypto, log).
    pub host_calls: u64,
    /// Bytes the host may hand to the guest (manifests, blobs, referrer lists).
    pub bytes_returned: u64,
    /// Bytes of log output (log import plus stdout and stderr, each).
    pub log_bytes: u64,
    /// Bytes of the report the guest returns (message and extensions).
    pub report_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            cpu_time: Duration::from_millis(1000),
            wall_time: Duration::from_millis(2500),
            host_calls: 10_000,
            bytes_returned: 128 << 20,
            log_bytes: 64 << 10,
            report_bytes: 1 << 20,
        }
    }
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// [`Limits::memory_bytes`].
    Memory,
    /// [`Limits::cpu_time`].
    CpuTime,
    /// [`Limits::wall_time`].
    WallTime,
    /// [`Limits::host_calls`].
    HostCalls,
    /// [`Limits::bytes_returned`].
    BytesReturned,
    /// [`Limits::log_bytes`].
    LogBytes,
    /// [`Limits::report_bytes`].
    ReportBytes,
    /// The wasm stack (deep recursion); a property of the engine, not configurable per verifier.
    Stack,
}

impl LimitKind {
    /// Every kind.
    pub const ALL: [LimitKind; 8] = [
        LimitKind::Memory,
        LimitKind::CpuTime,
        LimitKind::WallTime,
        LimitKind::HostCalls,
        LimitKind::BytesReturned,
        LimitKind::LogBytes,
        LimitKind::ReportBytes,
        LimitKind::Stack,
    ];

    /// The kind whose [`LimitKind::error_type`] is `s` (a report's `errorReason`), if any.
    pub fn from_error_type(s: &str) -> Option<LimitKind> {
        Self::ALL.into_iter().find(|k| k.error_type() == s)
    }

    /// Stable identifier for logs, metrics and report `errorReason`s (`memory_limit_exceeded`, ...).
    pub fn error_type(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory_limit_exceeded",
            LimitKind::CpuTime => "cpu_time_limit_exceeded",
            LimitKind::WallTime => "wall_time_limit_exceeded",
            LimitKind::HostCalls => "host_call_limit_exceeded",
            LimitKind::BytesReturned => "bytes_returned_limit_exceeded",
            LimitKind::LogBytes => "log_limit_exceeded",
            LimitKind::ReportBytes => "report_size_limit_exceeded",
            LimitKind::Stack => "stack_overflow",
        }
    }
}

/// A limit hit: which one and the configured value, for the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct LimitExceeded {
    /// The limit.
    pub kind: LimitKind,
    /// The configured value (bytes, milliseconds or a count, per `kind`).
    pub limit: u64,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.limit;
        match self.kind {
            LimitKind::Memory => write!(f, "its {} memory limit", human_bytes(l)),
            LimitKind::CpuTime => write!(f, "its {l} ms CPU time limit"),
            LimitKind::WallTime => write!(f, "its {l} ms wall-clock limit"),
            LimitKind::HostCalls => write!(f, "its limit of {l} host calls"),
            LimitKind::BytesReturned => {
                write!(f, "its limit of {} read from the store", human_bytes(l))
            }
            LimitKind::LogBytes => write!(f, "its {} log output limit", human_bytes(l)),
            LimitKind::ReportBytes => write!(f, "its {} report size limit", human_bytes(l)),
            LimitKind::Stack => write!(f, "the wasm stack (unbounded recursion?)"),
        }
    }
}

/// `64 MiB`, `512 KiB`, `100 B`.
pub fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// Caps a store's total memory and table growth; a denied growth traps with [`LimitExceeded`].
pub(crate) struct Limiter {
    memory_limit: u64,
    memory_used: u64,
    table_elements_limit: usize,
}

impl Limiter {
    /// A limiter for `limits`.
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_limit: limits.memory_bytes,
            memory_used: 0,
            table_elements_limit: 100_000,
        }
    }

    /// Linear memory granted so far, all memories of the store together.
    pub(crate) fn memory_used(&self) -> u64 {
        self.memory_used
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.memory_used + grow > self.memory_limit {
            return Err(wasmtime::Error::new(LimitExceeded {
                kind: LimitKind::Memory,
                limit: self.memory_limit,
            }));
        }
        self.memory_used += grow;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements_limit)
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn error_types_map_back_to_their_kind() {
        for kind in LimitKind::ALL {
            assert_eq!(LimitKind::from_error_type(kind.error_type()), Some(kind));
        }
        assert_eq!(LimitKind::from_error_type("SIGNATURE_INVALID"), None);
    }

    #[test]
    fn messages_name_the_limit() {
        let e = LimitExceeded {
            kind: LimitKind::Memory,
            limit: 64 << 20,
        };
        assert_eq!(e.to_string(), "its 64 MiB memory limit");
        assert_eq!(e.kind.error_type(), "memory_limit_exceeded");
        assert_eq!(human_bytes(1500), "1500 B");
    }

    #[test]
    fn limiter_counts_all_memories() {
        let mut l = Limiter::new(&Limits {
            memory_bytes: 100,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, 60, None).unwrap());
        let err = l.memory_growing(0, 60, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>().unwrap().kind,
            LimitKind::Memory
        );
        assert!(l.memory_growing(60, 100, None).unwrap());
    }

    #[test]
    fn limits_parse_from_config() {
        let l: Limits = serde_json::from_str(r#"{"memoryBytes": 1048576, "cpuTime": 50}"#).unwrap();
        assert_eq!(l.memory_bytes, 1 << 20);
        assert_eq!(l.cpu_time, Duration::from_millis(50));
        assert_eq!(l.host_calls, Limits::default().host_calls);
        assert!(serde_json::from_str::<Limits>(r#"{"memory": 1}"#).is_err());
    }
}
