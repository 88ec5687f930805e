//! A deterministic simulator of a Raft cluster built from our pieces: raft-rs `RawNode`s over
//! our `LogStore`, made durable through our record codec (`record::encode_into`, replayed with
//! `record::scan` + `LogStore::replay` after a crash), driven the way `shard::raft_core` drives
//! its node (messages sent before and after persistence, commit index deferred to the next
//! batch). The network loses, delays and reorders messages and can be partitioned; servers
//! crash and restart. Every step checks safety:
//! - at most one leader per term;
//! - a committed entry never changes (every server applies the same entry at each index);
//! - a server's applied index never goes backwards while it runs;
//! - identical state at equal index: every server runs the agent's real state machines
//!   (`state::ShardMachine`, `SHARDS` per server, entries placed by `state::place`, multi-shard
//!   transactions through `state::TxnCoordinator`), and the whole exported state after a batch
//!   ending at index i, or after installing a snapshot at i, is the same on every server;
//! - transactions are atomic to scattered reads: while the shards of a server work through a
//!   batch in a random interleaving, reads visit the shards one by one (waiting on a frozen
//!   one, as `ShardCtx::until_thawed` does) and never see a write of a transaction that
//!   aborted, and a read that starts after a transaction was decided sees all of it.
//!
//! The workload is real `Command`s: single-key writes, delete-trees, transactions that
//! write one value under several keys (spread over the shards), a share of them made to
//! abort by a failing `check-index`, and sessions: nodes whose serfHealth flips, sessions
//! created and destroyed, locks taken and released. After every batch each server's shards
//! hold the same session table and no key is held by a session that is not alive.
//!
//! With `compact_every`, servers take snapshots of their state (the agent's snapshot file
//! format) and compact their logs
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
use crate::kv::{KvVerb, TxnKvOp};
use crate::snapshot::StateSnapshot;
use crate::state::{place, Command, Placement, ShardMachine, ShardWork, TxnCoordinator};

/// Shards per simulated server.
const SHARDS: usize = 3;
/// Keys the workload writes (`k00`..), few enough that transactions collide.
const KEYS: u64 = 24;

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
    /// The state machines, as the agent's shards hold them.
    state: Shards,
    down_until: u64,
}

/// One server's shards as the Raft core and the shard inboxes drive them, on one thread:
/// per-shard FIFO inboxes, a decision slot per shard, the coordinator.
struct Shards {
    machines: Vec<ShardMachine>,
    inboxes: Vec<std::collections::VecDeque<(u64, ShardWork)>>,
    decisions: Vec<Option<(u64, bool)>>,
    coordinator: TxnCoordinator<()>,
}

impl Shards {
    fn new() -> Shards {
        Shards {
            machines: (0..SHARDS).map(|i| ShardMachine::new(i, SHARDS)).collect(),
            inboxes: vec![Default::default(); SHARDS],
            decisions: vec![None; SHARDS],
            coordinator: TxnCoordinator::default(),
        }
    }

    /// The state of a snapshot file (as the agent restores at start and on install).
    fn from_snapshot(data: &[u8]) -> Shards {
        let (meta, body) = crate::snapshot::open_file(data).expect("a snapshot we wrote");
        let mut shards = Shards::new();
        let cmd = Command::Restore {
            snapshot: body.to_vec(),
        };
        shards.dispatch(meta.index, cmd);
        while shards.step(0).is_some() {}
        shards
    }

    /// As `RaftCore::dispatch`: the entry goes to the inboxes of the shards it touches.
    fn dispatch(&mut self, index: u64, cmd: Command) {
        match place(cmd, SHARDS) {
            Placement::Nowhere(_) => {}
            Placement::One { shard, work } => self.inboxes[shard].push_back((index, work)),
            Placement::Every(cmd) => {
                for inbox in &mut self.inboxes {
                    inbox.push_back((index, ShardWork::Command(cmd.clone())));
                }
            }
            Placement::Txn { parts } => {
                let participants = parts.iter().map(|(shard, _)| *shard).collect();
                self.coordinator.begin(index, participants, None);
                for (shard, ops) in parts {
                    let work = ShardWork::TxnPart { ops, alone: false };
                    self.inboxes[shard].push_back((index, work));
                }
            }
        }
    }

    /// Lets one shard that can move do one thing (the `pick`-th of those that can, modulo):
    /// take its decision, or apply the next entry of its inbox. `None` when none can move.
    /// Returns the decided transaction's index when a decision completed one.
    fn step(&mut self, pick: usize) -> Option<Option<u64>> {
        let movable: Vec<usize> = (0..SHARDS)
            .filter(|&s| match self.machines[s].is_frozen() {
                true => self.decisions[s].is_some(),
                false => !self.inboxes[s].is_empty(),
            })
            .collect();
        if movable.is_empty() {
            return None;
        }
        let s = movable[pick % movable.len()];
        if let Some((index, commit)) = self.decisions[s].take() {
            assert!(self.machines[s].decide(index, commit).thawed);
            return Some(None);
        }
        let (index, work) = self.inboxes[s].pop_front().expect("movable");
        let effects = self.machines[s].apply(index, work, 0);
        assert!(effects.proposals.is_empty() && effects.warning.is_none());
        let Some(vote) = effects.vote else {
            return Some(None);
        };
        let Some(decision) = self.coordinator.vote(vote) else {
            return Some(None); // more votes to come
        };
        for &p in &decision.participants {
            assert!(self.decisions[p].is_none(), "one decision slot per shard");
            self.decisions[p] = Some((decision.index, decision.commit));
        }
        if !decision.commit {
            return Some(None);
        }
        Some(Some(decision.index))
    }

    /// Whether every inbox is drained and nothing is frozen.
    fn is_idle(&self) -> bool {
        self.inboxes.iter().all(|i| i.is_empty()) && self.machines.iter().all(|m| !m.is_frozen())
    }

    fn export(&self) -> StateSnapshot {
        assert!(self.is_idle(), "a state is compared between batches only");
        let mut all = StateSnapshot::default();
        for m in &self.machines {
            all.merge(m.export());
        }
        all.normalize();
        all
    }
}

/// A scattered read of every workload key, visiting shards in a random order and waiting on
/// a frozen one (it is read once thawed).
struct ScatteredRead {
    /// Transactions already decided (committed) when the read started.
    decided_before: Vec<u64>,
    to_visit: Vec<usize>,
    seen: BTreeMap<String, (u64, Vec<u8>)>,
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
    /// index → the state the first server to get there had (later ones must match).
    states: BTreeMap<u64, StateSnapshot>,
    /// Transactions the workload made to abort (by value), and the committed ones by index.
    doomed_values: std::collections::BTreeSet<Vec<u8>>,
    pub txns_committed: u64,
    pub txns_aborted: u64,
    pub scattered_reads: u64,
    /// Sessions alive after each batch, summed (the workload reached sessions).
    pub sessions_seen: u64,
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
        self.state = Shards::from_snapshot(&snapshot.data);
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
                    data: crate::snapshot::encode_file(&StateSnapshot::default(), 1, 1, 0),
                });
                let mut s = Server {
                    id,
                    node: None,
                    disk: Vec::new(),
                    deferred: Vec::new(),
                    applied: 0,
                    state: Shards::new(),
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
            states: BTreeMap::new(),
            doomed_values: Default::default(),
            txns_committed: 0,
            txns_aborted: 0,
            scattered_reads: 0,
            sessions_seen: 0,
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
                let data = self.workload().encode();
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
            s.state = Shards::from_snapshot(&meta.data);
            self.snapshots_installed += 1;
            self.check_state(i);
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

    /// As `RaftCore::maybe_snapshot` + `compact`, synchronously, in the agent's file format.
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
            data: crate::snapshot::encode_file(&s.state.export(), s.applied, term, 0),
        };
        let records = store.compact(meta);
        s.replace(&records);
        self.compactions += 1;
    }

    /// Identical state at equal index: the whole exported state, not a digest.
    fn check_state(&mut self, i: usize) {
        let s = &self.servers[i];
        let state = s.state.export();
        match self.states.get(&s.applied) {
            Some(first) => assert!(
                *first == state,
                "server {} has a different state at index {}",
                s.id,
                s.applied
            ),
            None => {
                self.states.insert(s.applied, state);
            }
        }
    }

    fn apply(&mut self, i: usize, entries: Vec<Entry>) {
        if entries.is_empty() {
            return;
        }
        // Keys each transaction sets, and the last delete of each key, for the read checks.
        let mut txn_keys: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut last_delete: BTreeMap<String, u64> = BTreeMap::new();
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
            if e.get_entry_type() != EntryType::EntryNormal || e.data.is_empty() {
                continue; // leader no-ops: nothing for the shards, as in the Raft core
            }
            let cmd = Command::decode(&e.data).expect("the workload proposes commands");
            match &cmd {
                Command::Txn { ops } => {
                    let keys = ops.iter().filter(|o| o.verb == KvVerb::Set);
                    txn_keys.insert(e.index, keys.map(|o| o.key.clone()).collect());
                }
                Command::KvDelete { key, .. } => {
                    last_delete.insert(key.clone(), e.index);
                }
                Command::KvDeleteTree { prefix } => {
                    for k in (0..KEYS).map(key_name).filter(|k| k.starts_with(prefix)) {
                        last_delete.insert(k, e.index);
                    }
                }
                _ => {}
            }
            s.state.dispatch(e.index, cmd);
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
        self.run_shards(i, &txn_keys, &last_delete);
        self.check_state(i);
    }

    /// The shards of server `i` work through their inboxes in a random interleaving while
    /// scattered reads visit them; checks what every read saw.
    fn run_shards(
        &mut self,
        i: usize,
        txn_keys: &BTreeMap<u64, Vec<String>>,
        last_delete: &BTreeMap<String, u64>,
    ) {
        let mut decided: Vec<u64> = Vec::new();
        let mut reads: Vec<ScatteredRead> = Vec::new();
        let mut done: Vec<ScatteredRead> = Vec::new();
        loop {
            if self.rng.gen_bool(0.3) {
                let mut to_visit: Vec<usize> = (0..SHARDS).collect();
                for k in (1..to_visit.len()).rev() {
                    to_visit.swap(k, self.rng.gen_range(0..=k));
                }
                reads.push(ScatteredRead {
                    decided_before: decided.clone(),
                    to_visit,
                    seen: BTreeMap::new(),
                });
            }
            let shards = &mut self.servers[i].state;
            for read in &mut reads {
                if self.rng.gen_bool(0.5) {
                    read.visit_next(shards);
                }
            }
            let (finished, going): (Vec<_>, Vec<_>) =
                reads.into_iter().partition(|r| r.to_visit.is_empty());
            done.extend(finished);
            reads = going;
            let pick = self.rng.gen_range(0..SHARDS);
            match self.servers[i].state.step(pick) {
                None => break,
                Some(Some(index)) => decided.push(index),
                Some(None) => {}
            }
        }
        let shards = &self.servers[i].state;
        assert!(
            shards.is_idle(),
            "server {}: shards stuck",
            self.servers[i].id
        );
        assert!(shards.coordinator.is_empty(), "a transaction never decided");
        // Every shard has the same session table, and no key is held by a session that is
        // gone (so a dead holder can never keep a lock, and no two sessions hold one key).
        let table = shards.machines[0].sessions.list();
        for m in &shards.machines {
            assert_eq!(m.sessions.list(), table, "shards disagree on the sessions");
            for e in m.kv.list("").0 {
                assert!(
                    e.session.is_empty() || m.sessions.get(&e.session).is_some(),
                    "{} is held by {}, which is not a live session",
                    e.key,
                    e.session
                );
            }
        }
        self.sessions_seen += table.len() as u64;
        for mut read in reads {
            while !read.to_visit.is_empty() {
                read.visit_next(shards);
            }
            done.push(read);
        }
        self.txns_committed += decided.len() as u64;
        for read in done {
            self.scattered_reads += 1;
            for (key, (_, value)) in &read.seen {
                assert!(
                    !self.doomed_values.contains(value),
                    "a read saw {key} written by an aborted transaction"
                );
            }
            for index in &read.decided_before {
                for key in txn_keys.get(index).into_iter().flatten() {
                    match read.seen.get(key) {
                        Some((modify_index, _)) => assert!(
                            modify_index >= index,
                            "a read after transaction {index} saw {key} from {modify_index}"
                        ),
                        None => assert!(
                            last_delete.get(key).is_some_and(|d| d > index),
                            "a read after transaction {index} missed {key}"
                        ),
                    }
                }
            }
        }
    }

    /// One workload command: single-key writes and deletes, delete-trees, and transactions
    /// writing one fresh value under 2-5 keys, some made to abort by a failing check-index.
    fn workload(&mut self) -> Command {
        self.next_value += 1;
        let value = format!("v{}", self.next_value).into_bytes();
        let key = key_name(self.rng.gen_range(0..KEYS));
        let session = format!("s{}", self.rng.gen_range(0..6));
        match self.rng.gen_range(0..100) {
            0..=24 => Command::KvSet {
                key,
                value: Some(value),
                flags: 0,
                cas: None,
            },
            25..=30 => Command::KvDelete { key, cas: None },
            // Sessions: nodes whose serfHealth flips (a critical one kills their sessions and
            // releases their locks), sessions created and destroyed, locks taken and released.
            31..=33 => sim_node_health(self.rng.gen_range(0..2), self.rng.gen_bool(0.7)),
            34..=36 => {
                Command::SessionCreate(Box::new(sim_session(&session, self.rng.gen_range(0..2))))
            }
            37 => Command::SessionDestroy { id: session },
            38..=44 => Command::KvLock(Box::new(crate::state::KvLock {
                key,
                value: Some(value),
                flags: 0,
                session,
                acquire: self.rng.gen_bool(0.7),
            })),
            45..=49 => Command::KvDeleteTree {
                prefix: key[..2].to_string(),
            },
            // ACLs: policies whose names sometimes collide (refused alike everywhere), tokens
            // linking them, some expiring, deleted and reaped.
            50..=52 => Command::Acl(Box::new(self.acl_command())),
            _ => {
                let n = self.rng.gen_range(2..=5);
                let mut ops: Vec<TxnKvOp> = (0..n)
                    .map(|_| TxnKvOp {
                        verb: KvVerb::Set,
                        key: key_name(self.rng.gen_range(0..KEYS)),
                        value: Some(value.clone()),
                        flags: 0,
                        index: 0,
                        session: String::new(),
                    })
                    .collect();
                ops.sort_by(|a, b| a.key.cmp(&b.key));
                ops.dedup_by(|a, b| a.key == b.key);
                if self.rng.gen_bool(0.3) {
                    // No key is ever at this index: the whole transaction must abort.
                    ops.push(TxnKvOp {
                        verb: KvVerb::CheckIndex,
                        index: u64::MAX,
                        value: None,
                        ..ops[0].clone()
                    });
                    self.doomed_values.insert(value);
                    self.txns_aborted += 1;
                }
                Command::Txn { ops }
            }
        }
    }

    fn acl_command(&mut self) -> crate::acl::AclCommand {
        use crate::acl::model::{AclPolicy, AclToken, Grants, Link};
        use crate::acl::AclCommand;
        let policy = self.rng.gen_range(0..4);
        let token = self.rng.gen_range(0..4);
        match self.rng.gen_range(0..5) {
            0 => AclCommand::PolicySet(AclPolicy {
                id: format!("policy-{policy}"),
                name: format!("name-{}", self.rng.gen_range(0..3)),
                description: String::new(),
                rules: format!("key_prefix \"k{policy}\" {{ policy = \"write\" }}"),
                datacenters: Vec::new(),
                create_index: 0,
                modify_index: 0,
            }),
            1 | 2 => AclCommand::TokenSet(AclToken {
                accessor_id: format!("accessor-{token}"),
                secret_id: format!("secret-{}", self.rng.gen_range(0..6)),
                description: String::new(),
                grants: Grants {
                    policies: vec![Link {
                        id: format!("policy-{policy}"),
                        name: String::new(),
                    }],
                    ..Grants::default()
                },
                local: false,
                auth_method: String::new(),
                expiration_time_ns: self.rng.gen_range(0..3) * 1_000,
                expiration_ttl: String::new(),
                create_time_ns: 0,
                create_index: 0,
                modify_index: 0,
            }),
            3 => AclCommand::TokenDelete {
                accessor_id: format!("accessor-{token}"),
            },
            _ => AclCommand::ReapExpired {
                now_ns: self.rng.gen_range(0..3) * 1_000,
            },
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

/// Node `n<node>` registered with its serfHealth passing or critical (the state tests use it
/// too).
pub(crate) fn sim_node_health(node: u8, passing: bool) -> Command {
    use crate::catalog::{CatalogCommand, CheckDef, NodeDef, RegisterRequest, CRITICAL, PASSING};
    Command::Catalog(CatalogCommand::Register(Box::new(RegisterRequest {
        node: NodeDef {
            name: format!("n{node}"),
            address: "10.0.0.1".into(),
            ..Default::default()
        },
        skip_node_update: false,
        service: None,
        checks: vec![CheckDef {
            id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            status: if passing { PASSING } else { CRITICAL }.into(),
            ..Default::default()
        }],
    })))
}

/// A session on node `n<node>` bound to its serfHealth. `release` only: the read checks
/// account for deletes by the workload's own delete commands. (The state tests vary it.)
pub(crate) fn sim_session(id: &str, node: u8) -> crate::session::Session {
    crate::session::Session {
        id: id.into(),
        name: String::new(),
        node: format!("n{node}"),
        lock_delay_ns: 15_000_000_000,
        behavior: crate::session::Behavior::Release,
        ttl: String::new(),
        node_checks: vec!["serfHealth".into()],
        service_checks: Vec::new(),
        create_index: 0,
        modify_index: 0,
    }
}

/// The workload's key `n` (`k00`..): two-character prefixes group them for delete-trees.
fn key_name(n: u64) -> String {
    format!("k{n:02}")
}

impl ScatteredRead {
    /// Reads the next shard unless it is frozen (then the read waits, as the agent's does).
    fn visit_next(&mut self, shards: &Shards) {
        let Some(&s) = self.to_visit.last() else {
            return;
        };
        let machine = &shards.machines[s];
        if machine.is_frozen() {
            return;
        }
        let (entries, _) = machine.kv.list("");
        for e in entries {
            let value = e.value.as_deref().unwrap_or_default().to_vec();
            self.seen.insert(e.key.clone(), (e.modify_index, value));
        }
        self.to_visit.pop();
    }
}
