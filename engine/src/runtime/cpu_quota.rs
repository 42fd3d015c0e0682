//! A tenant's share of guest CPU: a token bucket its verifier calls draw from.
//!
//! Lower scheduling priority (see [`super::pool`]) lets request threads preempt guests, but a
//! guest that spins still occupies a core whenever the kernel lets it, and on a small machine
//! (two vCPUs, often SMT siblings) that alone slows everyone else's requests. A quota bounds
//! what a tenant's guests may use at all: every epoch tick a guest runs through is charged to
//! its tenant's bucket, which refills at the quota's rate; a guest that finds the bucket empty
//! is parked (its future sleeps, holding no thread) until the debt is repaid. The CPU deadline
//! of a call counts running ticks only, so a throttled verifier is slowed, never failed for the
//! time it spent parked (its wall-clock limit still applies).
//!
//! Charges are what a call's [`Meter`] reads: wall time between its epoch callbacks, capped at
//! one tick so that time spent awaiting host I/O between two callbacks is not billed as
//! computation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much CPU a tenant's guests may bank while idle: a burst of this many milliseconds of its
/// rate (at least one tick) runs unthrottled.
const BURST_WINDOW: Duration = Duration::from_millis(100);

/// A rate of guest CPU (in millicores: 1000 = one core) shared by every call of one tenant.
#[derive(Debug)]
pub struct CpuQuota {
    millicores: u32,
    burst_ns: i64,
    bucket: Mutex<Bucket>,
    charged_ns: AtomicU64,
    throttled_ns: AtomicU64,
}

#[derive(Debug)]
struct Bucket {
    /// Nanoseconds of CPU the tenant may still use; negative while in debt.
    balance_ns: i64,
    refilled_at: Instant,
}

impl CpuQuota {
    /// A quota of `millicores` (at least 1) whose bucket starts full; `tick` is the runtime's
    /// epoch tick, the smallest burst that makes progress possible.
    pub fn new(millicores: u32, tick: Duration) -> CpuQuota {
        let millicores = millicores.max(1);
        let burst = (BURST_WINDOW.as_nanos() as i64 * i64::from(millicores) / 1000)
            .max(tick.as_nanos() as i64);
        CpuQuota {
            millicores,
            burst_ns: burst,
            bucket: Mutex::new(Bucket {
                balance_ns: burst,
                refilled_at: Instant::now(),
            }),
            charged_ns: AtomicU64::new(0),
            throttled_ns: AtomicU64::new(0),
        }
    }

    /// The quota's rate in millicores.
    pub fn millicores(&self) -> u32 {
        self.millicores
    }

    /// Charge `ran` of guest CPU; returns how long the guest must pause before running again
    /// (zero while the tenant is within its share).
    pub fn charge(&self, ran: Duration) -> Duration {
        self.charge_at(Instant::now(), ran)
    }

    fn charge_at(&self, now: Instant, ran: Duration) -> Duration {
        let ran_ns = i64::try_from(ran.as_nanos()).unwrap_or(i64::MAX);
        self.charged_ns.fetch_add(ran_ns as u64, Ordering::Relaxed);
        let rate = i64::from(self.millicores);
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = now.saturating_duration_since(b.refilled_at).as_nanos() as i64;
        b.refilled_at = now.max(b.refilled_at);
        b.balance_ns = b
            .balance_ns
            .saturating_add(elapsed.saturating_mul(rate) / 1000)
            .min(self.burst_ns)
            .saturating_sub(ran_ns);
        if b.balance_ns >= 0 {
            return Duration::ZERO;
        }
        // The time the refill takes to bring the balance back to zero.
        let pause = Duration::from_nanos((-b.balance_ns as u64).saturating_mul(1000) / rate as u64);
        self.throttled_ns
            .fetch_add(pause.as_nanos() as u64, Ordering::Relaxed);
        pause
    }

    /// Guest CPU charged so far.
    pub fn charged(&self) -> Duration {
        Duration::from_nanos(self.charged_ns.load(Ordering::Relaxed))
    }

    /// Time guests have been told to pause so far (summed over concurrent calls).
    pub fn throttled(&self) -> Duration {
        Duration::from_nanos(self.throttled_ns.load(Ordering::Relaxed))
    }
}

/// One call's meter of guest CPU, read at every epoch callback: the wall time since the guest
/// last (re)started running, capped at one tick. A spinning guest is charged a full tick per
/// callback; one that resumes mid-tick after a pause, or spent the interval awaiting a host
/// call, only what it could have run. The CPU deadline and the quota both use it.
#[derive(Debug)]
pub(crate) struct Meter {
    tick: Duration,
    running_since: Instant,
}

impl Meter {
    /// A meter for a call starting now.
    pub(crate) fn new(tick: Duration) -> Meter {
        Meter {
            tick,
            running_since: Instant::now(),
        }
    }

    /// What ran since the last lap (or the start); starts the next lap now.
    pub(crate) fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let ran = now
            .saturating_duration_since(self.running_since)
            .min(self.tick);
        self.running_since = now;
        ran
    }

    /// The guest is parked for `pause`: its next lap starts when the pause is over.
    pub(crate) fn park(&mut self, pause: Duration) {
        self.running_since += pause;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(5);
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_runs_free_then_pays_at_the_rate() {
        // 250 millicores: a 25 ms burst, then 4 ms of pause per ms of CPU.
        let q = CpuQuota::new(250, TICK);
        let t0 = q.bucket.lock().unwrap().refilled_at;
        for i in 0..5 {
            assert_eq!(
                q.charge_at(t0, 5 * MS),
                Duration::ZERO,
                "tick {i} is in the burst"
            );
        }
        assert_eq!(
            q.charge_at(t0, 5 * MS),
            20 * MS,
            "5 ms of debt at 0.25 core"
        );
        // Once the pause is over the debt is repaid; the next tick is owed again.
        assert_eq!(q.charge_at(t0 + 20 * MS, 5 * MS), 20 * MS);
        assert_eq!(q.charged(), 35 * MS);
        assert_eq!(q.throttled(), 40 * MS);
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let q = CpuQuota::new(500, TICK);
        let t0 = q.bucket.lock().unwrap().refilled_at;
        // An hour idle banks 50 ms (100 ms of 0.5 core), not 30 minutes.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(q.charge_at(later, 50 * MS), Duration::ZERO);
        assert_eq!(q.charge_at(later, MS), 2 * MS);
    }

    #[test]
    fn concurrent_calls_share_one_bucket() {
        // Two calls of one tenant at 1 core: each tick of the second call deepens the debt the
        // first one's pause was computed from, so together they get one core, not two.
        let q = CpuQuota::new(1000, TICK);
        let t0 = q.bucket.lock().unwrap().refilled_at;
        let mut now = t0;
        let mut ran = Duration::ZERO;
        let mut paused = Duration::ZERO;
        for _ in 0..100 {
            for _call in 0..2 {
                ran += TICK;
                paused += q.charge_at(now, TICK);
            }
            now += TICK;
        }
        // 1 s of CPU charged in 0.5 s of wall time at 1 core: ~0.4 s of debt outstanding.
        assert_eq!(ran, Duration::from_secs(1));
        let b = q.bucket.lock().unwrap().balance_ns;
        assert!(
            (-410_000_000..=-390_000_000).contains(&b),
            "balance {b} ns, paused {paused:?}"
        );
    }

    #[test]
    fn a_tiny_quota_still_makes_progress() {
        let q = CpuQuota::new(1, TICK);
        let t0 = q.bucket.lock().unwrap().refilled_at;
        // The burst is at least one tick, so the first tick always runs.
        assert_eq!(q.charge_at(t0, TICK), Duration::ZERO);
        assert_eq!(q.charge_at(t0, MS), Duration::from_secs(1));
    }

    #[test]
    fn the_meter_caps_a_lap_at_one_tick_and_skips_parked_time() {
        let mut m = Meter::new(TICK);
        m.running_since -= Duration::from_secs(1); // a long host call since the last callback
        assert_eq!(m.lap(), TICK);
        m.park(Duration::from_secs(3600));
        assert_eq!(m.lap(), Duration::ZERO, "parked time is not running time");
    }
}
