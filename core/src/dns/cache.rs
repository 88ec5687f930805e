//! A shard's cache of encoded DNS answers, so a repeated question costs a hash lookup and a
//! copy instead of a catalog read, a plan and an encoding.
//!
//! Keyed by the query's bytes after its ID (flags, question, EDNS record) and the transport:
//! identical bytes are the same question, asked the same way, so they get the same answer;
//! only the ID is patched per reply. Nothing is decoded on a hit.
//!
//! Each answer carries the `Stamp` it was computed under: the catalog index of the shard whose
//! data decided it, the ACL state, and the second (the SOA serial is the time). The shell reads
//! the same values again on every hit; any difference drops the answer, so the cache is exact
//! by construction rather than by invalidation messages. The shell reads a stamp *before* it
//! gathers the facts, so a change landing while an answer is built leaves it stamped older,
//! and the next hit recomputes it.
//!
//! Consul shuffles service answers per query. A cached shuffled answer is kept in
//! `DNS_CACHE_ORDERS` orders served in turn (consecutive replies differ), and after
//! `DNS_CACHE_SHUFFLED_REPLIES_MAX` replies it is planned again with fresh randomness: the
//! orders keep changing, at a fraction of the encoding cost.

use std::collections::HashMap;

use crate::config::{
    DNS_CACHE_ENTRIES_MAX, DNS_CACHE_KEY_BYTES_MAX, DNS_CACHE_ORDERS,
    DNS_CACHE_SHUFFLED_REPLIES_MAX,
};

/// What an answer was computed from. Equal stamps: the answer still holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    /// Unix second.
    pub second: u64,
    /// Catalog index of the shard named by `Source::shard` (0 when none).
    pub catalog: u64,
    /// With ACLs: the ACL table's index, a hash of the token answering, and whether it
    /// resolved (an expired token stops resolving without the table moving).
    pub acl: (u64, u64, bool),
}

/// Where a cacheable answer's facts come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// The shard whose catalog decided the answer (`None`: no catalog data did).
    pub shard: Option<usize>,
    /// Shuffled per query, as Consul's service answers are.
    pub shuffled: bool,
}

impl Source {
    fn orders(self) -> usize {
        if self.shuffled {
            DNS_CACHE_ORDERS
        } else {
            1
        }
    }

    fn replies_max(self) -> u32 {
        if self.shuffled {
            DNS_CACHE_SHUFFLED_REPLIES_MAX
        } else {
            u32::MAX
        }
    }
}

struct Entry {
    source: Source,
    stamp: Stamp,
    /// Encoded replies (ID as first asked); `source.orders()` of them once complete.
    orders: Vec<Box<[u8]>>,
    served: u32,
}

/// Counters for tests and telemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
}

#[derive(Default)]
pub struct AnswerCache {
    entries: HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>,
    /// The key being looked up, built here so a hit allocates nothing.
    scratch: Vec<u8>,
    stats: CacheStats,
}

impl AnswerCache {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Builds the key of `packet` in `scratch`; `false` when it is not cacheable by size.
    fn key(&mut self, tcp: bool, packet: &[u8]) -> bool {
        if packet.len() < 12 || packet.len() - 2 > DNS_CACHE_KEY_BYTES_MAX {
            return false;
        }
        self.scratch.clear();
        self.scratch.push(tcp as u8);
        self.scratch.extend_from_slice(&packet[2..]);
        true
    }

    /// Writes the cached reply to `packet` into `out` (its ID patched) and says `true`, when
    /// one is held and `current` (the stamp read again for its source) still matches. A stale
    /// answer is dropped; an answer still collecting its orders is a miss.
    pub fn serve(
        &mut self,
        tcp: bool,
        packet: &[u8],
        current: impl FnOnce(Source) -> Stamp,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.key(tcp, packet) {
            return false;
        }
        let Some(entry) = self.entries.get_mut(self.scratch.as_slice()) else {
            self.stats.misses += 1;
            return false;
        };
        let source = entry.source;
        if current(source) != entry.stamp || entry.served >= source.replies_max() {
            self.entries.remove(self.scratch.as_slice());
            self.stats.misses += 1;
            return false;
        }
        if entry.orders.len() < source.orders() {
            self.stats.misses += 1;
            return false;
        }
        let reply = &entry.orders[entry.served as usize % entry.orders.len()];
        entry.served += 1;
        out.clear();
        out.extend_from_slice(reply);
        out[..2].copy_from_slice(&packet[..2]);
        self.stats.hits += 1;
        true
    }

    /// Keeps `reply`, the answer to `packet` computed from `source` under `stamp` (read before
    /// its facts were gathered). A shuffled answer gathers its orders from successive misses.
    pub fn insert(&mut self, tcp: bool, packet: &[u8], reply: &[u8], source: Source, stamp: Stamp) {
        if reply.len() < 12 || !self.key(tcp, packet) {
            return;
        }
        if let Some(entry) = self.entries.get_mut(self.scratch.as_slice()) {
            if entry.source == source && entry.stamp == stamp {
                if entry.orders.len() < source.orders() {
                    entry.orders.push(reply.into());
                }
                return;
            }
        } else if self.entries.len() >= DNS_CACHE_ENTRIES_MAX {
            // Bounded memory at the cost of a cold moment: cheaper than tracking recency on
            // every hit, and a working set this large is not what the cache is for.
            self.entries.clear();
        }
        self.entries.insert(
            self.scratch.as_slice().into(),
            Entry {
                source,
                stamp,
                orders: vec![reply.into()],
                served: 0,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: u8) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, name, 0, 0, 1, 0, 1]);
        q
    }

    fn reply(id: u16, marker: u8) -> Vec<u8> {
        let mut r = id.to_be_bytes().to_vec();
        r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, marker]);
        r
    }

    const NODE: Source = Source {
        shard: Some(0),
        shuffled: false,
    };
    const SERVICE: Source = Source {
        shard: Some(1),
        shuffled: true,
    };

    fn stamp(catalog: u64) -> Stamp {
        Stamp {
            second: 100,
            catalog,
            acl: (0, 0, false),
        }
    }

    #[test]
    fn a_hit_patches_the_id_and_a_moved_stamp_drops_the_answer() {
        let mut cache = AnswerCache::new();
        let mut out = Vec::new();
        assert!(!cache.serve(false, &query(1, b'a'), |_| stamp(5), &mut out));
        cache.insert(false, &query(1, b'a'), &reply(1, 7), NODE, stamp(5));
        assert!(cache.serve(
            false,
            &query(0xbeef, b'a'),
            |s| {
                assert_eq!(s, NODE);
                stamp(5)
            },
            &mut out
        ));
        assert_eq!(out, reply(0xbeef, 7));
        // Another name, or the same over TCP, is another question.
        assert!(!cache.serve(false, &query(2, b'b'), |_| stamp(5), &mut out));
        assert!(!cache.serve(true, &query(2, b'a'), |_| stamp(5), &mut out));
        // The catalog moved: dropped, and not served again when it would match once more.
        assert!(!cache.serve(false, &query(3, b'a'), |_| stamp(6), &mut out));
        assert!(cache.is_empty());
        assert!(!cache.serve(false, &query(3, b'a'), |_| stamp(5), &mut out));
        let next_second = Stamp {
            second: 101,
            ..stamp(5)
        };
        cache.insert(false, &query(1, b'a'), &reply(1, 8), NODE, stamp(5));
        assert!(!cache.serve(false, &query(4, b'a'), |_| next_second, &mut out));
        assert_eq!(cache.stats().hits, 1);
    }

    #[test]
    fn shuffled_answers_rotate_through_their_orders_then_are_planned_again() {
        let mut cache = AnswerCache::new();
        let mut out = Vec::new();
        for order in 0..DNS_CACHE_ORDERS as u8 {
            // Still collecting orders: every query is a miss that adds one.
            assert!(!cache.serve(false, &query(1, b's'), |_| stamp(9), &mut out));
            cache.insert(false, &query(1, b's'), &reply(1, order), SERVICE, stamp(9));
        }
        // More misses in flight add nothing once the orders are complete.
        cache.insert(false, &query(1, b's'), &reply(1, 99), SERVICE, stamp(9));
        let mut seen = Vec::new();
        for i in 0..DNS_CACHE_SHUFFLED_REPLIES_MAX {
            assert!(cache.serve(false, &query(i as u16, b's'), |_| stamp(9), &mut out));
            seen.push(*out.last().unwrap());
        }
        // Consecutive replies differ, every order is served, and then the answer is retired.
        assert!(seen.windows(2).all(|w| w[0] != w[1]));
        assert_eq!(
            seen.iter().collect::<std::collections::BTreeSet<_>>().len(),
            DNS_CACHE_ORDERS
        );
        assert!(!cache.serve(false, &query(1, b's'), |_| stamp(9), &mut out));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_late_answer_from_an_older_stamp_never_outlives_it() {
        let mut cache = AnswerCache::new();
        let mut out = Vec::new();
        cache.insert(false, &query(1, b'a'), &reply(1, 2), NODE, stamp(2));
        // A miss that started before the change finishes after it: kept, under its old stamp.
        cache.insert(false, &query(1, b'a'), &reply(1, 1), NODE, stamp(1));
        assert!(!cache.serve(false, &query(1, b'a'), |_| stamp(2), &mut out));
    }

    #[test]
    fn size_bounds_hold() {
        let mut cache = AnswerCache::new();
        let mut out = Vec::new();
        let long = vec![0u8; DNS_CACHE_KEY_BYTES_MAX + 3];
        cache.insert(false, &long, &reply(0, 1), NODE, stamp(1));
        assert!(cache.is_empty());
        assert!(!cache.serve(false, &long, |_| stamp(1), &mut out));
        assert!(!cache.serve(false, &[0u8; 5], |_| stamp(1), &mut out));
        for i in 0..=DNS_CACHE_ENTRIES_MAX as u32 {
            let mut q = query(0, b'x');
            q.extend_from_slice(&i.to_be_bytes());
            cache.insert(false, &q, &reply(0, 1), NODE, stamp(1));
        }
        assert!(cache.len() <= DNS_CACHE_ENTRIES_MAX);
    }
}
