//! The Raft log as raft-rs sees it: entries in memory, backed by our segment files.
//!
//! Owned by the Raft core thread. Durable state is the sequence of `LogRecord`s; this type
//! replays them on start and turns raft-rs `Ready`s into new records.

use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use super::record::{LogRecord, PeerRecord};

/// The latest snapshot: state machine at `index`, with the configuration of that moment.
#[derive(Clone, Debug, Default)]
pub struct RaftSnapshot {
    pub index: u64,
    pub term: u64,
    pub conf_state: ConfState,
    pub peers: Vec<PeerRecord>,
    /// A snapshot file (`crate::snapshot`); empty before the first snapshot.
    pub data: Vec<u8>,
}

/// In-memory view of the durable log: the latest snapshot and the entries after it.
#[derive(Default)]
pub struct LogStore {
    /// `entries[i].index == snapshot.index + 1 + i`.
    entries: Vec<Entry>,
    hard_state: HardState,
    conf_state: ConfState,
    peers: Vec<PeerRecord>,
    snapshot: RaftSnapshot,
    /// Set when raft-rs asked for a snapshot for a peer the latest one does not include
    /// (raft-rs refuses to restore those): the Raft core then takes a fresh one.
    snapshot_wanted: std::cell::Cell<bool>,
}

impl LogStore {
    /// Replays records in the order they were written.
    pub fn replay(records: Vec<LogRecord>) -> LogStore {
        let mut store = LogStore::default();
        for record in records {
            store.apply_record(record);
        }
        store
    }

    fn apply_record(&mut self, record: LogRecord) {
        match record {
            LogRecord::Entry {
                index,
                term,
                entry_type,
                data,
                context,
            } => {
                let base = self.snapshot.index;
                assert!(
                    index > base && index <= self.last() + 1,
                    "entry {index} outside ({base}, {}]",
                    self.last() + 1
                );
                self.entries.truncate((index - base - 1) as usize);
                let mut e = Entry {
                    index,
                    term,
                    ..Default::default()
                };
                e.set_entry_type(match entry_type {
                    1 => EntryType::EntryConfChange,
                    2 => EntryType::EntryConfChangeV2,
                    _ => EntryType::EntryNormal,
                });
                e.data = data.into();
                e.context = context.into();
                self.entries.push(e);
            }
            LogRecord::HardState { term, vote, commit } => {
                self.hard_state.term = term;
                self.hard_state.vote = vote;
                // A commit index written before an installed snapshot reached us may trail it;
                // raft-rs refuses a commit below the snapshot.
                self.hard_state.commit = commit.max(self.snapshot.index);
            }
            LogRecord::ConfState { voters, learners } => {
                self.conf_state.voters = voters;
                self.conf_state.learners = learners;
            }
            LogRecord::Peers { peers } => self.peers = peers,
            LogRecord::Snapshot {
                index,
                term,
                voters,
                learners,
                peers,
                data,
            } => {
                // Everything before is superseded; entries after it follow this record (a
                // compaction rewrites them; an installed snapshot replaces the whole log).
                self.entries.clear();
                self.conf_state.voters = voters;
                self.conf_state.learners = learners;
                self.peers = peers.clone();
                self.snapshot = RaftSnapshot {
                    index,
                    term,
                    conf_state: self.conf_state.clone(),
                    peers,
                    data,
                };
            }
        }
    }

    /// True once after `snapshot` could not serve a peer (see `snapshot_wanted`).
    pub fn take_snapshot_wanted(&self) -> bool {
        self.snapshot_wanted.replace(false)
    }

    /// The latest snapshot (index 0 when there is none).
    pub fn snapshot_meta(&self) -> &RaftSnapshot {
        &self.snapshot
    }

    /// Replaces the whole log with a snapshot: at bootstrap (index 1, empty state) and when the
    /// leader sends one. Returns the records of a fresh segment (`LogFiles::replace`).
    pub fn install(&mut self, meta: RaftSnapshot) -> Vec<LogRecord> {
        self.apply_record(snapshot_record(&meta));
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.hard_state.commit = self.hard_state.commit.max(meta.index);
        self.base_records()
    }

    /// Drops the entries up to `meta.index`, which `meta` now stands for, keeping the rest.
    /// Returns the records of a fresh segment (`LogFiles::replace`).
    pub fn compact(&mut self, meta: RaftSnapshot) -> Vec<LogRecord> {
        self.compact_in_memory(meta);
        self.base_records()
    }

    /// `compact`, returning only the records that follow the snapshot's in a fresh segment:
    /// the snapshot record itself (the bulk) was written off the Raft core's thread
    /// (`LogFiles::prepare_segment`), and is not copied again here.
    pub fn compact_tail(&mut self, meta: RaftSnapshot) -> Vec<LogRecord> {
        self.compact_in_memory(meta);
        self.tail_records()
    }

    /// `compact` when the new segment was written whole elsewhere: the snapshot, then
    /// `records_after(meta.index)` as they were when it was cut, then every batch appended
    /// since (the Raft core's tail capture).
    pub fn compact_in_memory(&mut self, meta: RaftSnapshot) {
        assert!(meta.index > self.snapshot.index && meta.index <= self.last());
        let keep = self
            .entries
            .split_off((meta.index - self.snapshot.index) as usize);
        let (conf, peers) = (self.conf_state.clone(), self.peers.clone());
        // Moved, not copied: the data is the whole state.
        let RaftSnapshot {
            index,
            term,
            mut conf_state,
            peers: snapshot_peers,
            data,
        } = meta;
        self.apply_record(LogRecord::Snapshot {
            index,
            term,
            voters: conf_state.take_voters(),
            learners: conf_state.take_learners(),
            peers: snapshot_peers,
            data,
        });
        self.entries = keep;
        self.conf_state = conf;
        self.peers = peers;
    }

    /// Everything the log holds, as the records that rebuild it: the snapshot, the current
    /// configuration and hard state, then the entries after the snapshot.
    fn base_records(&self) -> Vec<LogRecord> {
        let mut out = vec![snapshot_record(&self.snapshot)];
        out.extend(self.tail_records());
        out
    }

    /// `base_records` after the snapshot's.
    fn tail_records(&self) -> Vec<LogRecord> {
        self.records_after(self.snapshot.index)
    }

    /// The records that rebuild the log after a snapshot at `index` (at or after the
    /// current one): the configuration, the address book, the hard state, the entries after
    /// `index`.
    pub fn records_after(&self, index: u64) -> Vec<LogRecord> {
        let mut out = vec![
            LogRecord::ConfState {
                voters: self.conf_state.voters.clone(),
                learners: self.conf_state.learners.clone(),
            },
            LogRecord::Peers {
                peers: self.peers.clone(),
            },
            LogRecord::HardState {
                term: self.hard_state.term,
                vote: self.hard_state.vote,
                commit: self.hard_state.commit,
            },
        ];
        let skip = index.saturating_sub(self.snapshot.index) as usize;
        out.extend(self.entries.iter().skip(skip).map(entry_record));
        out
    }

    /// Record for a new peer address book.
    pub fn set_peers(&mut self, peers: Vec<PeerRecord>, out: &mut Vec<LogRecord>) {
        let record = LogRecord::Peers { peers };
        self.apply_record(record.clone());
        out.push(record);
    }

    /// The voters' identities and addresses.
    pub fn peers(&self) -> &[PeerRecord] {
        &self.peers
    }

    /// Records for `entries` (which raft-rs asks us to append) and applies them here.
    pub fn append(&mut self, entries: &[Entry], out: &mut Vec<LogRecord>) {
        for e in entries {
            let record = entry_record(e);
            self.apply_record(record.clone());
            out.push(record);
        }
    }

    /// Record for a new hard state.
    pub fn set_hard_state(&mut self, hs: &HardState, out: &mut Vec<LogRecord>) {
        let record = LogRecord::HardState {
            term: hs.term,
            vote: hs.vote,
            commit: hs.commit,
        };
        self.apply_record(record.clone());
        out.push(record);
    }

    /// Record for a new commit index (keeps term and vote).
    pub fn set_commit(&mut self, commit: u64, out: &mut Vec<LogRecord>) {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(&hs, out);
    }

    /// Record for a new configuration.
    pub fn set_conf_state(&mut self, cs: &ConfState, out: &mut Vec<LogRecord>) {
        let record = LogRecord::ConfState {
            voters: cs.voters.clone(),
            learners: cs.learners.clone(),
        };
        self.apply_record(record.clone());
        out.push(record);
    }

    /// Current hard state.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// Current voter set.
    pub fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    fn last(&self) -> u64 {
        self.snapshot.index + self.entries.len() as u64
    }
}

fn entry_record(e: &Entry) -> LogRecord {
    LogRecord::Entry {
        index: e.index,
        term: e.term,
        entry_type: e.get_entry_type() as u8,
        data: e.data.to_vec(),
        context: e.context.to_vec(),
    }
}

/// The log record of a snapshot (its data copied).
pub fn snapshot_record(meta: &RaftSnapshot) -> LogRecord {
    LogRecord::Snapshot {
        index: meta.index,
        term: meta.term,
        voters: meta.conf_state.voters.clone(),
        learners: meta.conf_state.learners.clone(),
        peers: meta.peers.clone(),
        data: meta.data.clone(),
    }
}

/// A snapshot as it travels to a follower in raft-rs's `Snapshot.data`: the record itself,
/// so the follower gets the address book with the state.
pub fn encode_for_peer(meta: &RaftSnapshot) -> Vec<u8> {
    rkyv::to_bytes::<rkyv::rancor::Error>(&snapshot_record(meta))
        .expect("in-memory serialisation")
        .to_vec()
}

/// Decodes what `encode_for_peer` made (validated: it comes off the network).
pub fn decode_from_peer(bytes: &[u8]) -> Result<RaftSnapshot, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    match rkyv::from_bytes::<LogRecord, rkyv::rancor::Error>(&aligned) {
        Ok(LogRecord::Snapshot {
            index,
            term,
            voters,
            learners,
            peers,
            data,
        }) => Ok(RaftSnapshot {
            index,
            term,
            conf_state: ConfState {
                voters,
                learners,
                ..Default::default()
            },
            peers,
            data,
        }),
        Ok(_) => Err("not a snapshot record".into()),
        Err(e) => Err(format!("undecodable snapshot: {e}")),
    }
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let base = self.snapshot.index;
        if low <= base {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= self.last() + 1,
            "entries({low}, {high}) past last {}",
            self.last()
        );
        let mut out = Vec::new();
        let (mut size, max) = (0u64, max_size.into().unwrap_or(u64::MAX));
        for e in &self.entries[(low - base - 1) as usize..(high - base - 1) as usize] {
            size += e.data.len() as u64 + e.context.len() as u64 + 16;
            if !out.is_empty() && size > max {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let base = self.snapshot.index;
        if idx == base {
            return Ok(self.snapshot.term);
        }
        if idx < base {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        match self.entries.get((idx - base - 1) as usize) {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snapshot.index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, _request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let cs = &self.snapshot.conf_state;
        let names_peer = cs.voters.contains(&to) || cs.learners.contains(&to);
        if self.snapshot.index == 0 || !names_peer {
            // A server added after the latest snapshot: raft-rs would refuse a snapshot whose
            // configuration lacks it, so ask for a fresh one; raft-rs retries meanwhile.
            self.snapshot_wanted.set(true);
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snap = Snapshot {
            data: encode_for_peer(&self.snapshot).into(),
            ..Default::default()
        };
        let md = snap.mut_metadata();
        md.index = self.snapshot.index;
        md.term = self.snapshot.term;
        md.set_conf_state(self.snapshot.conf_state.clone());
        Ok(snap)
    }
}
