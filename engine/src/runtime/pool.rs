//! A thread pool of its own for guest code.
//!
//! Guest code is CPU work: a verifier that spins until its CPU deadline keeps a worker thread
//! busy for that long (it yields at every epoch tick, but only to other tasks of the same
//! threads). Run on the threads that also accept connections and answer cached verdicts, a
//! few hostile guests would add their run time to everyone's latency. On a pool of their own,
//! at a lower CPU priority (`nice`), guests only compete with each other: the kernel runs the
//! request threads first whenever they have work, and the per-tenant call quotas decide how
//! much of the pool one tenant can hold.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Guest threads' default niceness: below request handling, above batch work.
pub const DEFAULT_GUEST_NICE: i32 = 10;
/// Guest threads' default scheduler slice (Linux EEVDF, 6.12+): 100 µs instead of the kernel's
/// few milliseconds, so a request thread that wakes up preempts a spinning guest sooner.
pub const DEFAULT_GUEST_SLICE: std::time::Duration = std::time::Duration::from_micros(100);

/// How the guest pool's threads are scheduled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestScheduling {
    /// Niceness (0-19).
    pub nice: i32,
    /// Scheduler slice (Linux 6.12+; ignored elsewhere).
    pub slice: std::time::Duration,
    /// `SCHED_IDLE`: guests run only on CPU time nothing else wants. Request latency beside
    /// CPU-bound guests is best, but a sustained flood of cached requests can starve
    /// verifications until their deadline.
    pub idle: bool,
}

impl Default for GuestScheduling {
    fn default() -> Self {
        GuestScheduling {
            nice: DEFAULT_GUEST_NICE,
            slice: DEFAULT_GUEST_SLICE,
            idle: false,
        }
    }
}

/// A multi-threaded tokio runtime running guest calls.
pub(crate) struct GuestPool {
    rt: Option<tokio::runtime::Runtime>,
}

impl GuestPool {
    /// `threads` workers named `vouch-guest`, each scheduled as `sched` says (best effort: a
    /// failure to change the scheduling is logged, not fatal).
    pub(crate) fn new(threads: usize, sched: GuestScheduling) -> std::io::Result<GuestPool> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("vouch-guest")
            .on_thread_start(move || lower_priority(sched))
            .enable_all()
            .build()?;
        Ok(GuestPool { rt: Some(rt) })
    }

    /// Run `f` on the pool; dropping the returned future cancels it (the guest's store is
    /// dropped with it, as if it had run in place).
    pub(crate) fn spawn<F>(&self, f: F) -> Spawned<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self.rt.as_ref().expect("the guest pool runs until dropped");
        Spawned(rt.spawn(f))
    }
}

impl Drop for GuestPool {
    fn drop(&mut self) {
        // The last handle may be dropped inside an async context: never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A task on the guest pool, aborted when dropped.
pub(crate) struct Spawned<T>(tokio::task::JoinHandle<T>);

impl<T> Future for Spawned<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Schedule the calling thread as `sched` says (Linux: per thread).
fn lower_priority(sched: GuestScheduling) {
    #[cfg(target_os = "linux")]
    {
        const SCHED_OTHER: u32 = 0;
        const SCHED_IDLE: u32 = 5;
        let policy = if sched.idle { SCHED_IDLE } else { SCHED_OTHER };
        let slice = u64::try_from(sched.slice.as_nanos()).unwrap_or(u64::MAX);
        if let Err(e) = set_sched(policy, sched.nice, slice) {
            // Kernels before 6.12 reject a custom slice: keep the niceness at least.
            tracing::debug!("sched_setattr: {e}; falling back to setpriority");
            let tid = rustix::thread::gettid();
            if let Err(e) = rustix::process::setpriority_process(Some(tid), sched.nice) {
                tracing::warn!(
                    nice = sched.nice,
                    "cannot lower the priority of a guest thread: {e}"
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = sched;
}

/// `sched_setattr(2)` on the calling thread: policy, niceness and (EEVDF) slice.
#[cfg(target_os = "linux")]
fn set_sched(policy: u32, nice: i32, slice_ns: u64) -> std::io::Result<()> {
    /// `struct sched_attr`, `SCHED_ATTR_SIZE_VER0` (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags: 0,
        nice,
        priority: 0,
        runtime: slice_ns,
        deadline: 0,
        period: 0,
    };
    // SAFETY: pid 0 is the calling thread; `attr` is a valid, initialised VER0 `sched_attr`
    // that outlives the call; flags 0.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &raw const attr, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_lowered_pool_threads_and_abort_when_dropped() {
        let sched = GuestScheduling {
            nice: 5,
            ..GuestScheduling::default()
        };
        let pool = GuestPool::new(1, sched).unwrap();
        let (name, prio) = pool
            .spawn(async {
                let name = std::thread::current().name().map(str::to_owned);
                (name, rustix::process::getpriority_process(None))
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("vouch-guest"));
        if let Ok(p) = prio {
            assert!(p >= 5, "guest thread priority {p}");
        }
        // A dropped call stops running.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let spawned = pool.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            let _ = tx.send(());
        });
        drop(spawned);
        assert!(rx.await.is_err(), "the task was not aborted");
        drop(pool);
    }
}
