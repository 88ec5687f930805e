//! Dissemination for the SWIM core: the retransmit-limited broadcast queue that piggybacks
//! membership messages on probes, the bounded "seen" set that floods user events and queries
//! once, and the relay ledger that simulated members share.

use std::collections::{BTreeMap, HashMap};

use super::swim::{DetMap, DetSet};
use crate::config::GOSSIP_PACKET_BYTES_MAX;

pub(super) struct Broadcast {
    /// The member the message is about: a newer message about it replaces this one.
    pub(super) about: String,
    pub(super) bytes: Vec<u8>,
}

/// Pending broadcasts ordered by (transmits, age), like memberlist's `TransmitLimitedQueue`:
/// filling a packet takes the least-sent first in O(k log n), which matters when thousands of
/// members join at once and every member holds thousands of broadcasts.
#[derive(Default)]
pub(super) struct BroadcastQueue {
    queue: BTreeMap<(u32, u64), Broadcast>,
    /// The replaceable (non-suspect) broadcast about each member, by its queue key.
    latest: DetMap<String, (u32, u64)>,
    next_id: u64,
}

impl BroadcastQueue {
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues a message; a non-suspect message replaces the previous one about its member.
    /// Returns true when something had to be dropped to stay within `max`.
    pub(super) fn push(
        &mut self,
        about: String,
        bytes: Vec<u8>,
        replaceable: bool,
        max: usize,
    ) -> bool {
        if replaceable {
            if let Some(old) = self.latest.remove(&about) {
                self.queue.remove(&old);
            }
        }
        let mut dropped = false;
        if self.queue.len() >= max {
            // Drop the most-sent (then oldest) one: it has had the most chances to spread.
            if let Some((&key, _)) = self.queue.iter().next_back() {
                self.remove(key);
                dropped = true;
            }
        }
        self.next_id += 1;
        // Newest first among equals: ids count down within a transmit count.
        let key = (0, u64::MAX - self.next_id);
        if replaceable {
            self.latest.insert(about.clone(), key);
        }
        self.queue.insert(key, Broadcast { about, bytes });
        dropped
    }

    pub(super) fn remove(&mut self, key: (u32, u64)) -> Option<Broadcast> {
        let b = self.queue.remove(&key)?;
        if self.latest.get(&b.about) == Some(&key) {
            self.latest.remove(&b.about);
        }
        Some(b)
    }

    /// Appends what fits (least-sent first) to `bytes`; returns how many were added.
    pub(super) fn fill(&mut self, bytes: &mut Vec<u8>, room_msgs: usize, limit: u32) -> usize {
        let mut taken = Vec::new();
        let mut skipped = 0;
        for (&key, b) in self.queue.iter() {
            if taken.len() == room_msgs || skipped > 32 {
                break;
            }
            if bytes.len() + b.bytes.len() > GOSSIP_PACKET_BYTES_MAX {
                skipped += 1;
                continue;
            }
            bytes.extend_from_slice(&b.bytes);
            taken.push(key);
        }
        // Re-keyed in place: no lookup-remove-clone-insert of `latest` per transmit (the
        // simulator's hottest path while thousands of members join).
        for key in &taken {
            let b = self.queue.remove(key).unwrap();
            let transmits = key.0 + 1;
            let latest = self.latest.get_mut(&b.about).filter(|k| **k == *key);
            if transmits < limit {
                let new_key = (transmits, key.1);
                if let Some(k) = latest {
                    *k = new_key;
                }
                self.queue.insert(new_key, b);
            } else if latest.is_some() {
                self.latest.remove(&b.about);
            }
        }
        taken.len()
    }
}

/// A bounded set remembering the last `cap` keys inserted (oldest forgotten first).
#[derive(Default)]
pub(super) struct SeenFifo<K: std::hash::Hash + Eq + Clone> {
    set: DetSet<K>,
    order: std::collections::VecDeque<K>,
}

impl<K: std::hash::Hash + Eq + Clone> SeenFifo<K> {
    /// True when `key` is new (and now remembered).
    pub(super) fn insert(&mut self, key: K, cap: usize) -> bool {
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > cap {
            let old = self.order.pop_front().unwrap();
            self.set.remove(&old);
        }
        true
    }
}

/// How many of the partial-view members hosted by one `loadgen` have relayed each alive
/// message, shared between them.
///
/// In a real pool every member relays every alive message it hears, `retransmit_limit` times:
/// O(n² log n) work for n joins, spread over n machines. Thousands of simulated members in
/// one process cannot do that work (5,000 joins are ~375 M receptions), so the first
/// `relayers` members to hear a message relay it and the rest drop it as already spread. Each
/// relayer still sends it `retransmit_limit` times to random members of its view, servers
/// included, so the agents learn of it through the protocol itself. Not used by agents.
pub struct RelayLedger {
    relayers: u16,
    /// Per member: the newest incarnation heard and how many relayed it.
    counts: std::sync::Mutex<HashMap<String, (u32, u16)>>,
}

/// Alive messages the ledger remembers before it starts over (a bound, not a tuning knob).
const RELAY_LEDGER_MAX: usize = 1 << 20;

impl RelayLedger {
    pub fn new(relayers: u16) -> RelayLedger {
        RelayLedger {
            relayers,
            counts: Default::default(),
        }
    }

    /// True when the caller should relay this alive message (it is among the first relayers).
    pub(super) fn take(&self, name: &str, incarnation: u32) -> bool {
        let mut counts = self.counts.lock().unwrap();
        if counts.len() >= RELAY_LEDGER_MAX {
            counts.clear();
        }
        // Looked up by &str first: the common case (heard before) allocates nothing.
        let entry = match counts.get_mut(name) {
            Some(e) => e,
            None => counts.entry(name.to_string()).or_insert((incarnation, 0)),
        };
        if incarnation < entry.0 {
            return false; // older than what is being spread
        }
        if incarnation > entry.0 {
            *entry = (incarnation, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= self.relayers
    }
}
