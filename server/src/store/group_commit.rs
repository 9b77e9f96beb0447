//! Group commit: one fsync serves every write that happened before it started.
//!
//! A writer first performs its (buffered) write, then calls [`GroupCommit::commit`]. If no
//! flush is running, it becomes the leader and flushes; writers arriving meanwhile wait and
//! are served together by the next flush. Under load that turns N fsyncs into a handful,
//! while every caller still returns only once its own write is durable.

use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    /// Sequence number handed to the last writer that asked to commit.
    requested: u64,
    /// Every write with a sequence number up to this one is durable.
    durable: u64,
    /// A flush is running and will cover writes up to this sequence number.
    flushing: Option<u64>,
    /// Set when the last flush failed; writers it covered get the error.
    failed_upto: u64,
    last_error: Option<String>,
}

/// Coordinates flushes of one storage backend. See the module docs.
pub struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
    flush: Box<dyn Fn() -> std::io::Result<()> + Send + Sync>,
    observe: Box<dyn Fn(Duration, u64) + Send + Sync>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").field("state", &*self.state.lock()).finish()
    }
}

impl GroupCommit {
    /// `flush` makes every previous write durable; `observe` is told each flush's latency
    /// and how many commits it served (for metrics).
    pub fn new(
        flush: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
        observe: impl Fn(Duration, u64) + Send + Sync + 'static,
    ) -> Self {
        GroupCommit {
            state: Mutex::new(State::default()),
            done: Condvar::new(),
            flush: Box::new(flush),
            observe: Box::new(observe),
        }
    }

    /// Blocks until every write made by this thread before the call is durable.
    pub fn commit(&self) -> std::io::Result<()> {
        let mut st = self.state.lock();
        st.requested += 1;
        let mine = st.requested;
        loop {
            if st.durable >= mine {
                return Ok(());
            }
            if st.failed_upto >= mine {
                let msg = st.last_error.clone().unwrap_or_default();
                return Err(std::io::Error::other(msg));
            }
            if st.flushing.is_none() {
                // Become the leader: cover everything requested so far.
                let upto = st.requested;
                let served = upto - st.durable.max(st.failed_upto);
                st.flushing = Some(upto);
                drop(st);
                let started = Instant::now();
                let result = (self.flush)();
                (self.observe)(started.elapsed(), served);
                st = self.state.lock();
                st.flushing = None;
                match result {
                    Ok(()) => st.durable = upto,
                    Err(e) => {
                        st.failed_upto = upto;
                        st.last_error = Some(e.to_string());
                    }
                }
                self.done.notify_all();
            } else {
                self.done.wait(&mut st);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    #[test]
    fn concurrent_commits_share_flushes() {
        let flushes = Arc::new(AtomicU64::new(0));
        let f = flushes.clone();
        let gc = Arc::new(GroupCommit::new(
            move || {
                f.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                Ok(())
            },
            |_, _| {},
        ));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let gc = gc.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        gc.commit().unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n >= 1, "at least one flush");
        assert!(n < 160, "160 commits must share flushes, got {n} flushes");
    }

    #[test]
    fn a_failed_flush_fails_the_commits_it_covered_and_later_ones_can_succeed() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = fail.clone();
        let gc = GroupCommit::new(
            move || {
                if f.load(Ordering::SeqCst) {
                    Err(std::io::Error::other("disk on fire"))
                } else {
                    Ok(())
                }
            },
            |_, _| {},
        );
        let err = gc.commit().unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
        fail.store(false, Ordering::SeqCst);
        gc.commit().unwrap();
    }
}
