//! A deterministic simulator of a Raft cluster built from our pieces: raft-rs `RawNode`s over
//! our `LogStore`, made durable through our record codec (`record::encode_into`, replayed with
//! `record::scan` + `LogStore::replay` after a crash), driven the way `shard::raft_core` drives
//! its node (messages sent before and after persistence, commit index deferred to the next
//! batch). The network loses, delays and reorders messages and can be partitioned; servers
//! crash and restart. Every step checks safety:
//! - at most one leader per term;
//! - a committed entry never changes (every server applies the same entry at each index);
//! - a server's applied index never goes backwards while it runs;
//! - identical state at equal index: every server's state digest after applying index i, or
//!   after installing a snapshot at i, is the same.
//!
//! With `compact_every`, servers take snapshots of their (digest) state and compact their logs
//! as `shard::raft_core` does (`LogStore::compact`, the disk rewritten to the fresh segment),
//! so a server that was down or cut off catches up by snapshot install. The cluster starts
//! from the same bootstrap snapshot at index 1 as the agent (`LogStore::install`).
//!
//! It does not share the Raft core's loop code (that loop also owns files and shards); keep the
//! two in step when either changes the order of persist / send / apply.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use raft::eraftpb::{ConfState, Entry, EntryType, Message};
use raft::{RawNode, StateRole};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::log_store::{decode_from_peer, LogStore, RaftSnapshot};
use super::record::{self, LogRecord};

/// Network and crash faults.
#[derive(Clone, Debug)]
pub struct RaftFaults {
    pub loss: f64,
    pub delay_max_ticks: u64,
    /// Chance per tick that a running server crashes (it restarts `down_ticks` later).
    pub crash: f64,
    pub down_ticks: u64,
    /// Snapshot and compact a server's log every this many applied entries (0: never).
    pub compact_every: u64,
}

impl Default for RaftFaults {
    fn default() -> Self {
        RaftFaults {
            loss: 0.0,
            delay_max_ticks: 1,
            crash: 0.0,
            down_ticks: 30,
            compact_every: 0,
        }
    }
}

struct Server {
    id: u64,
    node: Option<RawNode<LogStore>>,
    /// What reached "disk": every record ever persisted, framed as in the log files.
    disk: Vec<u8>,
    /// Commit index records wait for the next batch, as in the Raft core.
    deferred: Vec<LogRecord>,
    applied: u64,
    /// The state machine: a digest of every normal entry applied, in order.
    digest: u64,
    down_until: u64,
}

/// The digest after applying one more entry.
fn fold(digest: u64, term: u64, data: &[u8]) -> u64 {
    let mut h = digest ^ term.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in data {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    h.rotate_left(7)
}

fn digest_of(data: &[u8]) -> u64 {
    u64::from_le_bytes(data.try_into().expect("an 8-byte digest"))
}

/// The simulated cluster.
pub struct RaftSim {
    servers: Vec<Server>,
    pub faults: RaftFaults,
    /// Which group each server is in; servers in different groups cannot talk.
    group: Vec<u8>,
    now: u64,
    rng: SmallRng,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    in_flight: BTreeMap<u64, Message>,
    next_msg: u64,
    /// term → the leader seen in it.
    leaders: BTreeMap<u64, u64>,
    /// index → (term, data) of every entry any server applied.
    committed: BTreeMap<u64, (u64, Vec<u8>)>,
    /// index → the state digest any server had there.
    digests: BTreeMap<u64, u64>,
    pub snapshots_installed: u64,
    pub compactions: u64,
    next_value: u64,
    pub proposals_accepted: u64,
}

fn config(id: u64) -> raft::Config {
    raft::Config {
        id,
        election_tick: 10,
        // As `shard::raft_core` configures it.
        min_election_tick: 10,
        max_election_tick: 15,
        heartbeat_tick: 1,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        check_quorum: true,
        pre_vote: true,
        ..Default::default()
    }
}

fn logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

impl Server {
    fn boot(&mut self) {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(self.disk.len());
        aligned.extend_from_slice(&self.disk);
        let scan = record::scan(&aligned);
        assert!(scan.stopped.is_none(), "the simulated disk is never torn");
        let store = LogStore::replay(scan.records);
        // The state machine starts from the snapshot, then committed entries are replayed, as
        // the agent does.
        let snapshot = store.snapshot_meta();
        self.applied = snapshot.index;
        self.digest = digest_of(&snapshot.data);
        let mut cfg = config(self.id);
        cfg.applied = snapshot.index;
        self.node = Some(RawNode::new(&cfg, store, &logger()).expect("raft node"));
    }

    /// The disk becomes exactly `records` (`LogFiles::replace`).
    fn replace(&mut self, records: &[LogRecord]) {
        self.disk.clear();
        self.persist(records);
    }

    fn persist(&mut self, records: &[LogRecord]) {
        for r in records {
            record::encode_into(r, &mut self.disk);
        }
    }
}

impl RaftSim {
    /// `n` servers bootstrapped together (as `bootstrap_expect` does).
    pub fn new(n: usize, faults: RaftFaults, seed: u64) -> RaftSim {
        let voters: Vec<u64> = (1..=n as u64).collect();
        let servers = voters
            .iter()
            .map(|&id| {
                let mut store = LogStore::default();
                let records = store.install(RaftSnapshot {
                    index: 1,
                    term: 1,
                    conf_state: ConfState {
                        voters: voters.clone(),
                        ..Default::default()
                    },
                    peers: Vec::new(),
                    data: 0u64.to_le_bytes().to_vec(),
                });
                let mut s = Server {
                    id,
                    node: None,
                    disk: Vec::new(),
                    deferred: Vec::new(),
                    applied: 0,
                    digest: 0,
                    down_until: 0,
                };
                s.persist(&records);
                s.boot();
                s
            })
            .collect();
        RaftSim {
            servers,
            faults,
            group: vec![0; n],
            now: 0,
            rng: SmallRng::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            in_flight: BTreeMap::new(),
            next_msg: 0,
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            digests: BTreeMap::new(),
            snapshots_installed: 0,
            compactions: 0,
            next_value: 0,
            proposals_accepted: 0,
        }
    }

    pub fn partition(&mut self, group: Vec<u8>) {
        self.group = group;
    }

    pub fn heal(&mut self) {
        self.group = vec![0; self.servers.len()];
    }

    pub fn crash(&mut self, i: usize, ticks: u64) {
        self.servers[i].node = None;
        self.servers[i].deferred.clear();
        self.servers[i].down_until = self.now + ticks;
    }

    /// The index every running server has applied (the minimum), and the highest.
    pub fn applied_range(&self) -> (u64, u64) {
        let running = self.servers.iter().filter(|s| s.node.is_some());
        let applied: Vec<u64> = running.map(|s| s.applied).collect();
        (
            applied.iter().copied().min().unwrap_or(0),
            applied.iter().copied().max().unwrap_or(0),
        )
    }

    pub fn committed_len(&self) -> u64 {
        self.committed.keys().next_back().copied().unwrap_or(0)
    }

    /// The running leader, if any.
    pub fn leader(&self) -> Option<usize> {
        self.servers.iter().position(|s| {
            s.node
                .as_ref()
                .is_some_and(|n| n.raft.state == StateRole::Leader)
        })
    }

    fn send(&mut self, msgs: Vec<Message>) {
        for m in msgs {
            let to = m.to as usize - 1;
            let from = m.from as usize - 1;
            if self.group[to] != self.group[from] || self.rng.gen_bool(self.faults.loss) {
                continue;
            }
            let delay = self.rng.gen_range(0..=self.faults.delay_max_ticks);
            let id = self.next_msg;
            self.next_msg += 1;
            self.in_flight.insert(id, m);
            self.queue.push(Reverse((self.now + delay, id, to)));
        }
    }

    /// One tick: deliver due messages, maybe propose, tick, process readies, check safety.
    pub fn step(&mut self, propose: bool) {
        self.now += 1;
        for i in 0..self.servers.len() {
            let s = &mut self.servers[i];
            if s.node.is_none() && s.down_until <= self.now && s.down_until > 0 {
                s.boot();
                s.down_until = 0;
            } else if s.node.is_some() && self.rng.gen_bool(self.faults.crash) {
                let ticks = self.faults.down_ticks;
                self.crash(i, ticks);
            }
        }
        while let Some(Reverse((at, id, to))) = self.queue.peek().copied() {
            if at > self.now {
                break;
            }
            self.queue.pop();
            let m = self.in_flight.remove(&id).unwrap();
            let from = m.from as usize - 1;
            if self.group[to] != self.group[from] {
                continue;
            }
            if let Some(node) = self.servers[to].node.as_mut() {
                let _ = node.step(m);
            }
        }
        if propose {
            if let Some(l) = self.leader() {
                self.next_value += 1;
                let data = self.next_value.to_le_bytes().to_vec();
                let node = self.servers[l].node.as_mut().unwrap();
                if node.propose(vec![], data).is_ok() {
                    self.proposals_accepted += 1;
                }
            }
        }
        for i in 0..self.servers.len() {
            if let Some(node) = self.servers[i].node.as_mut() {
                node.tick();
            }
            self.on_ready(i);
        }
        self.check_leaders();
    }

    fn on_ready(&mut self, i: usize) {
        let Some(node) = self.servers[i].node.as_mut() else {
            return;
        };
        if !node.has_ready() {
            return;
        }
        let mut ready = node.ready();
        let early = ready.take_messages();
        if !ready.snapshot().is_empty() {
            // As `RaftCore::install_snapshot`: the log and the state become the snapshot's.
            let meta = decode_from_peer(&ready.snapshot().data).expect("a snapshot we encoded");
            let s = &mut self.servers[i];
            let records = s.node.as_mut().unwrap().mut_store().install(meta.clone());
            s.replace(&records);
            assert!(
                meta.index >= s.applied,
                "server {} installed an older snapshot",
                s.id
            );
            s.applied = meta.index;
            s.digest = digest_of(&meta.data);
            self.snapshots_installed += 1;
            self.check_digest(i);
        }
        let mut records = std::mem::take(&mut self.servers[i].deferred);
        let node = self.servers[i].node.as_mut().unwrap();
        node.mut_store().append(ready.entries(), &mut records);
        if let Some(hs) = ready.hs() {
            node.mut_store().set_hard_state(hs, &mut records);
        }
        let persisted = ready.take_persisted_messages();
        let committed = ready.take_committed_entries();
        self.servers[i].persist(&records);
        let node = self.servers[i].node.as_mut().unwrap();
        super::report_snapshots_sent(node, &early);
        super::report_snapshots_sent(node, &persisted);
        self.send(early);
        self.send(persisted);
        self.apply(i, committed);
        let node = self.servers[i].node.as_mut().unwrap();
        let mut light = node.advance(ready);
        if let Some(commit) = light.commit_index() {
            let mut out = Vec::new();
            node.mut_store().set_commit(commit, &mut out);
            self.servers[i].deferred.extend(out);
        }
        let msgs = light.take_messages();
        let committed = light.take_committed_entries();
        super::report_snapshots_sent(self.servers[i].node.as_mut().unwrap(), &msgs);
        self.send(msgs);
        self.apply(i, committed);
        self.servers[i].node.as_mut().unwrap().advance_apply();
        self.maybe_compact(i);
    }

    /// As `RaftCore::maybe_snapshot` + `compact`, synchronously: the digest is the state.
    fn maybe_compact(&mut self, i: usize) {
        let every = self.faults.compact_every;
        let s = &mut self.servers[i];
        let Some(node) = s.node.as_mut() else {
            return;
        };
        let base = node.store().snapshot_meta().index;
        if every == 0 || s.applied < base + every {
            return;
        }
        let term = node
            .raft
            .raft_log
            .term(s.applied)
            .expect("applied entries are in the log");
        let store = node.mut_store();
        let meta = RaftSnapshot {
            index: s.applied,
            term,
            conf_state: store.conf_state().clone(),
            peers: Vec::new(),
            data: s.digest.to_le_bytes().to_vec(),
        };
        let records = store.compact(meta);
        s.replace(&records);
        self.compactions += 1;
    }

    fn check_digest(&mut self, i: usize) {
        let s = &self.servers[i];
        let first = *self.digests.entry(s.applied).or_insert(s.digest);
        assert_eq!(
            first, s.digest,
            "server {} has a different state at index {}",
            s.id, s.applied
        );
    }

    fn apply(&mut self, i: usize, entries: Vec<Entry>) {
        for e in entries {
            let s = &mut self.servers[i];
            assert_eq!(
                e.index,
                s.applied + 1,
                "server {} applied {} after {}: applied index must advance by one",
                s.id,
                e.index,
                s.applied
            );
            s.applied = e.index;
            if e.get_entry_type() == EntryType::EntryNormal {
                s.digest = fold(s.digest, e.term, &e.data);
            }
            self.check_digest(i);
            if e.get_entry_type() != EntryType::EntryNormal {
                continue;
            }
            let s = &self.servers[i];
            let mine = (e.term, e.data.to_vec());
            match self.committed.get(&e.index) {
                Some(first) => assert_eq!(
                    *first, mine,
                    "server {} applied a different entry at index {}",
                    s.id, e.index
                ),
                None => {
                    self.committed.insert(e.index, mine);
                }
            }
        }
    }

    fn check_leaders(&mut self) {
        for s in &self.servers {
            let Some(n) = s.node.as_ref() else {
                continue;
            };
            if n.raft.state == StateRole::Leader {
                let term = n.raft.term;
                let first = *self.leaders.entry(term).or_insert(s.id);
                assert_eq!(first, s.id, "two leaders in term {term}");
            }
        }
    }

    /// Runs `ticks` steps, proposing with probability `rate` per tick.
    pub fn run(&mut self, ticks: u64, rate: f64) {
        for _ in 0..ticks {
            let propose = self.rng.gen_bool(rate);
            self.step(propose);
        }
    }
}
