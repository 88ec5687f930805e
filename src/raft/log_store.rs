//! The Raft log as raft-rs sees it: entries in memory, backed by our segment files.
//!
//! Owned by the Raft core thread. Durable state is the sequence of `LogRecord`s; this type
//! replays them on start and turns raft-rs `Ready`s into new records.

use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use super::record::{LogRecord, PeerRecord};

/// In-memory view of the durable log. Snapshots and compaction arrive with the cluster
/// issue; until then the whole log stays in memory and is replayed on start.
#[derive(Default)]
pub struct LogStore {
    /// `entries[i].index == i + 1` (nothing is compacted yet).
    entries: Vec<Entry>,
    hard_state: HardState,
    conf_state: ConfState,
    peers: Vec<PeerRecord>,
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
                assert!(
                    index >= 1 && index <= self.entries.len() as u64 + 1,
                    "gap at {index}"
                );
                self.entries.truncate(index as usize - 1);
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
                self.hard_state.commit = commit;
            }
            LogRecord::ConfState { voters, learners } => {
                self.conf_state.voters = voters;
                self.conf_state.learners = learners;
            }
            LogRecord::Peers { peers } => self.peers = peers,
        }
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
            let record = LogRecord::Entry {
                index: e.index,
                term: e.term,
                entry_type: e.get_entry_type() as u8,
                data: e.data.to_vec(),
                context: e.context.to_vec(),
            };
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
        self.entries.len() as u64
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
        if low < 1 {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        assert!(
            high <= self.last() + 1,
            "entries({low}, {high}) past last {}",
            self.last()
        );
        let mut out = Vec::new();
        let (mut size, max) = (0u64, max_size.into().unwrap_or(u64::MAX));
        for e in &self.entries[(low - 1) as usize..(high - 1) as usize] {
            size += e.data.len() as u64 + e.context.len() as u64 + 16;
            if !out.is_empty() && size > max {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == 0 {
            return Ok(0);
        }
        match self.entries.get(idx as usize - 1) {
            Some(e) => Ok(e.term),
            None => Err(raft::Error::Store(StorageError::Unavailable)),
        }
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        // Never needed while nothing is compacted (first_index is always 1).
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable,
        ))
    }
}
