//! An unreliable link between a [`TestPeer`] and the server: outgoing messages are
//! queued and, when flushed, reordered, duplicated and dropped; incoming messages are
//! dropped or applied twice. Every decision comes from one seeded RNG, so a failing run
//! replays exactly (as far as the server's timing allows).
//!
//! The faults stay above the WebSocket: each message that does arrive is a whole,
//! well-formed frame, as with a phone whose app-level queue misbehaves or whose
//! connection is replaced mid-sync. Automerge's sync protocol must converge anyway, at
//! the latest after a reconnect on a reliable link (a dropped message can leave a sync
//! state waiting for a reply that never comes).

use crate::peer::TestPeer;
use linli_shared::Message;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// How unreliable a link is. Probabilities are per message.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// An outgoing message is lost.
    pub drop_out: f64,
    /// An outgoing message is sent twice (the copy at a random later position).
    pub dup_out: f64,
    /// The queued outgoing messages are shuffled before they are sent.
    pub reorder: bool,
    /// An incoming message is lost before the peer sees it.
    pub drop_in: f64,
    /// An incoming message is applied twice.
    pub dup_in: f64,
}

impl Faults {
    /// A reliable link.
    pub const NONE: Faults = Faults { drop_out: 0.0, dup_out: 0.0, reorder: false, drop_in: 0.0, dup_in: 0.0 };
}

/// What a link did, for the test's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub queued: u64,
    pub sent: u64,
    pub dropped_out: u64,
    pub duplicated_out: u64,
    /// Flushes whose order was actually changed by the shuffle.
    pub reordered_flushes: u64,
    /// Queued messages lost because the connection went away first.
    pub lost_with_connection: u64,
    pub received: u64,
    pub dropped_in: u64,
    pub duplicated_in: u64,
}

impl std::ops::AddAssign for LinkStats {
    fn add_assign(&mut self, o: Self) {
        self.queued += o.queued;
        self.sent += o.sent;
        self.dropped_out += o.dropped_out;
        self.duplicated_out += o.duplicated_out;
        self.reordered_flushes += o.reordered_flushes;
        self.lost_with_connection += o.lost_with_connection;
        self.received += o.received;
        self.dropped_in += o.dropped_in;
        self.duplicated_in += o.duplicated_in;
    }
}

/// One peer's unreliable link. See the module docs.
#[derive(Debug)]
pub struct FaultyLink {
    rng: StdRng,
    pub faults: Faults,
    queue: Vec<Message>,
    pub stats: LinkStats,
}

impl FaultyLink {
    pub fn new(seed: u64, faults: Faults) -> Self {
        FaultyLink { rng: StdRng::seed_from_u64(seed), faults, queue: Vec::new(), stats: LinkStats::default() }
    }

    /// Queues whatever the peer has to say now (its sync states advance as if it was
    /// sent). Returns how many messages were queued.
    pub fn enqueue(&mut self, peer: &mut TestPeer) -> usize {
        let out = peer.outgoing();
        self.stats.queued += out.len() as u64;
        let n = out.len();
        self.queue.extend(out);
        n
    }

    /// Messages queued and not yet flushed.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Forgets the queue: its messages die with the connection they were meant for.
    pub fn clear(&mut self) {
        self.stats.lost_with_connection += self.queue.len() as u64;
        self.queue.clear();
    }

    /// Sends the queue, shuffled, with some messages duplicated and some dropped. Stops
    /// (and loses the rest) if the connection fails. Returns how many frames were sent.
    pub async fn flush(&mut self, peer: &mut TestPeer) -> usize {
        let mut batch: Vec<Message> = std::mem::take(&mut self.queue);
        let mut copies = Vec::new();
        for m in &batch {
            if self.rng.gen_bool(self.faults.dup_out) {
                copies.push(m.clone());
            }
        }
        self.stats.duplicated_out += copies.len() as u64;
        if self.faults.reorder && batch.len() > 1 {
            let before = batch.clone();
            batch.shuffle(&mut self.rng);
            if batch != before {
                self.stats.reordered_flushes += 1;
            }
        }
        // A duplicate goes somewhere after its original, like a retransmission.
        for copy in copies {
            let first = batch.iter().position(|m| *m == copy).unwrap_or(0);
            let at = self.rng.gen_range(first + 1..=batch.len());
            batch.insert(at, copy);
        }
        let mut sent = 0;
        let total = batch.len();
        for (i, m) in batch.into_iter().enumerate() {
            if self.rng.gen_bool(self.faults.drop_out) {
                self.stats.dropped_out += 1;
                continue;
            }
            if !peer.send_message(&m).await {
                self.stats.lost_with_connection += (total - i) as u64;
                break;
            }
            sent += 1;
        }
        self.stats.sent += sent as u64;
        sent
    }

    /// Receives until nothing has come for `quiet` (or `max` messages), dropping some
    /// messages and applying some twice. Returns how many arrived. Fails if the
    /// connection is gone or the server sent `error`.
    pub async fn pump(&mut self, peer: &mut TestPeer, quiet: Duration, max: usize) -> anyhow::Result<usize> {
        let mut n = 0;
        while n < max {
            let Some(msg) = peer.recv_message(quiet).await? else { break };
            n += 1;
            self.stats.received += 1;
            if self.rng.gen_bool(self.faults.drop_in) {
                self.stats.dropped_in += 1;
                continue;
            }
            let twice = self.rng.gen_bool(self.faults.dup_in);
            if twice {
                self.stats.duplicated_in += 1;
                peer.apply_message(msg.clone())?;
            }
            peer.apply_message(msg)?;
        }
        Ok(n)
    }
}
