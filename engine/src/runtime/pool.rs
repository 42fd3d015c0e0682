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

/// A multi-threaded tokio runtime running guest calls.
pub(crate) struct GuestPool {
    rt: Option<tokio::runtime::Runtime>,
}

impl GuestPool {
    /// `threads` workers named `vouch-guest`, each lowered to `nice` (best effort: a failure
    /// to change the priority is logged, not fatal).
    pub(crate) fn new(threads: usize, nice: i32) -> std::io::Result<GuestPool> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("vouch-guest")
            .on_thread_start(move || lower_priority(nice))
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

/// Lower the calling thread's CPU priority to `nice` (Linux: per thread).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            tracing::warn!(nice, "cannot lower the priority of a guest thread: {e}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_lowered_pool_threads_and_abort_when_dropped() {
        let pool = GuestPool::new(1, 5).unwrap();
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
