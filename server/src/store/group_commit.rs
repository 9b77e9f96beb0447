//! Group commit: one flush serves every write that happened before it started.
//!
//! A writer first performs its (buffered) write, then awaits [`GroupCommit::commit`]. If
//! no flush is running, it starts one covering every write requested so far; writers
//! arriving meanwhile wait and are served together by the next flush. Under load that
//! turns N fsyncs into a handful, while every caller still returns only once its own
//! write is durable.
//!
//! The flush runs on a blocking thread and records its own outcome, so a caller that
//! stops waiting (a cancelled request) never leaves the others waiting for a flush that
//! nobody finishes.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    /// Sequence number handed to the last writer that asked to commit.
    requested: u64,
    /// Every write with a sequence number up to this one is durable.
    durable: u64,
    /// A flush is running and will cover writes up to this sequence number.
    flushing: Option<u64>,
    /// Writes up to this one were covered by a failed flush.
    failed_upto: u64,
    last_error: Option<String>,
}

type FlushFn = dyn Fn() -> std::io::Result<()> + Send + Sync;
type ObserveFn = dyn Fn(Duration, u64) + Send + Sync;

/// Coordinates flushes of one storage backend. See the module docs.
pub struct GroupCommit {
    state: Mutex<State>,
    done: tokio::sync::Notify,
    flush: Box<FlushFn>,
    observe: Box<ObserveFn>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("state", &*self.state.lock()).finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// `flush` makes every previous write durable; `observe` is told each flush's latency
    /// and how many commits it served (for metrics).
    pub fn new(
        flush: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
        observe: impl Fn(Duration, u64) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(GroupCommit {
            state: Mutex::new(State::default()),
            done: tokio::sync::Notify::new(),
            flush: Box::new(flush),
            observe: Box::new(observe),
        })
    }

    /// Resolves once every write made before the call is durable, or with the error of
    /// the flush that covered it.
    pub async fn commit(self: &Arc<Self>) -> std::io::Result<()> {
        let mine = {
            let mut st = self.state.lock();
            st.requested += 1;
            st.requested
        };
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Registered before the state is read: a flush finishing in between still wakes us.
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                if st.durable >= mine {
                    return Ok(());
                }
                if st.failed_upto >= mine {
                    return Err(std::io::Error::other(st.last_error.clone().unwrap_or_default()));
                }
                if st.flushing.is_none() {
                    let upto = st.requested;
                    let served = upto - st.durable.max(st.failed_upto);
                    st.flushing = Some(upto);
                    let this = self.clone();
                    // Not awaited here: the flush finishes and records itself even if we stop waiting.
                    drop(tokio::task::spawn_blocking(move || this.run_flush(upto, served)));
                }
            }
            notified.await;
        }
    }

    fn run_flush(&self, upto: u64, served: u64) {
        let started = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.flush)()))
            .unwrap_or_else(|_| Err(std::io::Error::other("the flush panicked")));
        (self.observe)(started.elapsed(), served);
        let mut st = self.state.lock();
        st.flushing = None;
        match result {
            Ok(()) => st.durable = st.durable.max(upto),
            Err(e) => {
                st.failed_upto = st.failed_upto.max(upto);
                st.last_error = Some(e.to_string());
            }
        }
        drop(st);
        self.done.notify_waiters();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_share_flushes() {
        let flushes = Arc::new(AtomicU64::new(0));
        let f = flushes.clone();
        let gc = GroupCommit::new(
            move || {
                f.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                Ok(())
            },
            |_, _| {},
        );
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let gc = gc.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        gc.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n >= 1, "at least one flush");
        assert!(n < 160, "160 commits must share flushes, got {n} flushes");
    }

    #[tokio::test]
    async fn a_failed_flush_fails_the_commits_it_covered_and_later_ones_can_succeed() {
        let fail = Arc::new(AtomicBool::new(true));
        let f = fail.clone();
        let gc = GroupCommit::new(
            move || if f.load(Ordering::SeqCst) { Err(std::io::Error::other("disk on fire")) } else { Ok(()) },
            |_, _| {},
        );
        let err = gc.commit().await.unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        fail.store(false, Ordering::SeqCst);
        gc.commit().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_stops_waiting_does_not_stall_the_others() {
        let gc = GroupCommit::new(
            || {
                std::thread::sleep(Duration::from_millis(50));
                Ok(())
            },
            |_, _| {},
        );
        // The leader gives up while its flush runs…
        let leader = gc.clone();
        let _ = tokio::time::timeout(Duration::from_millis(5), async move { leader.commit().await }).await;
        // …and the next writer is still served.
        tokio::time::timeout(Duration::from_secs(5), gc.commit()).await.unwrap().unwrap();
    }
}
