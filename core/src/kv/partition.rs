//! One shard's slice of the KV table: entries, tombstones, and the indexes Consul reports.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

use super::command::{KvVerb, TxnKvOp};

/// A stored key (Consul `structs.DirEntry`). The key itself is the map key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub key: String,
    pub lock_index: u64,
    pub flags: u64,
    /// `None` is JSON `null` (a PUT with no body); `Some(empty)` is `""`.
    pub value: Option<Bytes>,
    /// Lock holder; always empty until sessions exist.
    pub session: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One shard's KV tables. Owned by that shard's core; changed only by `apply_*` in Raft index
/// order, which `applied` records and asserts.
#[derive(Default, Debug, Clone)]
pub struct KvPartition {
    entries: BTreeMap<String, DirEntry>,
    /// Deleted keys → index of the delete, so list indexes never go backwards on delete.
    /// Reaping (Consul's tombstone GC after 15 min) is not implemented yet: a key deleted and
    /// never re-created keeps a small tombstone.
    tombstones: BTreeMap<String, u64>,
    /// Highest index that changed an entry or a tombstone here.
    index_max: u64,
    /// Highest Raft index this partition has seen (applied or skipped as not ours).
    applied: u64,
}

/// What a transaction did on one partition, kept so the coordinator can abort it.
#[derive(Debug, Default)]
pub struct TxnUndo {
    /// Prior state of every key touched, oldest first: (key, entry, tombstone).
    prior: Vec<(String, Option<DirEntry>, Option<u64>)>,
    index_max: u64,
}

/// One op's result; `op_index` is the op's position in the whole transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOpResult {
    pub op_index: usize,
    pub entry: DirEntry,
}

/// Outcome of one partition's share of a transaction.
#[derive(Debug, Default)]
pub struct TxnPartOutcome {
    pub results: Vec<TxnOpResult>,
    /// (op index, Consul's error text).
    pub errors: Vec<(usize, String)>,
    pub undo: TxnUndo,
}

fn prefix_range<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
}

fn same_value(a: &Option<Bytes>, b: &Option<Bytes>) -> bool {
    // Go's bytes.Equal treats nil and empty alike; so does Consul's no-op check.
    a.as_deref().unwrap_or(&[]) == b.as_deref().unwrap_or(&[])
}

impl KvPartition {
    /// This partition's entries and tombstones for a snapshot.
    pub fn export(&self, into: &mut crate::snapshot::StateSnapshot) {
        for e in self.entries.values() {
            into.kv.push(crate::snapshot::SnapKv {
                key: e.key.clone(),
                flags: e.flags,
                value: e.value.as_ref().map(|v| v.to_vec()),
                session: e.session.clone(),
                lock_index: e.lock_index,
                create_index: e.create_index,
                modify_index: e.modify_index,
            });
        }
        into.tombstones
            .extend(self.tombstones.iter().map(|(k, i)| (k.clone(), *i)));
    }

    /// Replaces this partition with the keys of `snap` that `owns` accepts, as the committed
    /// restore at `index`. Entries keep their indexes; the partition's index becomes `index`
    /// so that every watcher wakes and `X-Consul-Index` never goes backwards.
    pub fn restore(
        &mut self,
        index: u64,
        snap: &crate::snapshot::StateSnapshot,
        owns: impl Fn(&str) -> bool,
    ) {
        self.entries.clear();
        self.tombstones.clear();
        for e in snap.kv.iter().filter(|e| owns(&e.key)) {
            self.entries.insert(
                e.key.clone(),
                DirEntry {
                    key: e.key.clone(),
                    lock_index: e.lock_index,
                    flags: e.flags,
                    value: e.value.clone().map(Bytes::from),
                    session: e.session.clone(),
                    create_index: e.create_index,
                    modify_index: e.modify_index,
                },
            );
        }
        for (k, i) in snap.tombstones.iter().filter(|(k, _)| owns(k)) {
            self.tombstones.insert(k.clone(), *i);
        }
        self.index_max = self.index_max.max(index);
        self.applied = self.applied.max(index);
    }

    /// Highest Raft index this partition has been told about.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Highest index that changed this partition (entries or tombstones).
    pub fn index_max(&self) -> u64 {
        self.index_max
    }

    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records that entry `index` has been handled (by this or another partition).
    pub fn advance(&mut self, index: u64) {
        assert!(
            index >= self.applied,
            "apply went backwards: {index} < {}",
            self.applied
        );
        self.applied = index;
    }

    fn begin(&mut self, index: u64) {
        assert!(
            index > self.applied,
            "entry {index} applied twice (at {})",
            self.applied
        );
        self.applied = index;
    }

    /// The entry at `key`.
    pub fn get(&self, key: &str) -> Option<&DirEntry> {
        self.entries.get(key)
    }

    /// Entries under `prefix` in key order, and the highest index among them and the
    /// tombstones under the prefix (0 when neither exists).
    pub fn list(&self, prefix: &str) -> (Vec<DirEntry>, u64) {
        let entries: Vec<DirEntry> = prefix_range(&self.entries, prefix)
            .map(|(_, e)| e.clone())
            .collect();
        let index = self.prefix_index(prefix, entries.iter().map(|e| e.modify_index).max());
        (entries, index)
    }

    /// Keys under `prefix`, rolled up at the first `separator` after the prefix (deduplicated),
    /// and the same index as `list`.
    pub fn keys(&self, prefix: &str, separator: &str) -> (Vec<String>, u64) {
        let mut keys: Vec<String> = Vec::new();
        let mut entries_max = None;
        for (key, entry) in prefix_range(&self.entries, prefix) {
            entries_max = entries_max.max(Some(entry.modify_index));
            let rolled = roll_up(key, prefix, separator);
            if keys.last().map(String::as_str) != Some(rolled) {
                keys.push(rolled.to_string());
            }
        }
        (keys, self.prefix_index(prefix, entries_max))
    }

    fn prefix_index(&self, prefix: &str, entries_max: Option<u64>) -> u64 {
        let tomb_max = prefix_range(&self.tombstones, prefix)
            .map(|(_, i)| *i)
            .max();
        entries_max.unwrap_or(0).max(tomb_max.unwrap_or(0))
    }

    /// `PUT /v1/kv/<key>`. Returns Consul's answer: `false` only when a CAS fails.
    pub fn apply_set(
        &mut self,
        index: u64,
        key: &str,
        value: Option<Bytes>,
        flags: u64,
        cas: Option<u64>,
    ) -> bool {
        self.begin(index);
        self.set_inner(index, key, value, flags, cas, &mut None)
    }

    /// `DELETE /v1/kv/<key>`. `false` only when the key exists and the CAS index differs.
    pub fn apply_delete(&mut self, index: u64, key: &str, cas: Option<u64>) -> bool {
        self.begin(index);
        self.delete_inner(index, key, cas, &mut None)
    }

    /// `DELETE /v1/kv/<prefix>?recurse`.
    pub fn apply_delete_tree(&mut self, index: u64, prefix: &str) {
        self.begin(index);
        self.delete_tree_inner(index, prefix, &mut None);
    }

    /// `PUT /v1/kv/<key>?acquire=<session>` (`acquire`) or `?release=<session>`, for a
    /// session the caller found alive. Consul's rules (§4.2): an acquire takes an absent or
    /// unlocked key (`LockIndex` + 1) or updates a key the session already holds (`LockIndex`
    /// kept), and fails on a key another session holds; a release clears `Session` on a key
    /// the session holds (value set, `LockIndex` kept) and fails otherwise.
    pub fn apply_lock(
        &mut self,
        index: u64,
        key: &str,
        value: Option<Bytes>,
        flags: u64,
        session: &str,
        acquire: bool,
    ) -> bool {
        self.begin(index);
        self.lock_inner(index, key, value, flags, session, acquire, &mut None)
    }

    #[allow(clippy::too_many_arguments)]
    fn lock_inner(
        &mut self,
        index: u64,
        key: &str,
        value: Option<Bytes>,
        flags: u64,
        session: &str,
        acquire: bool,
        undo: &mut Option<&mut TxnUndo>,
    ) -> bool {
        assert!(!session.is_empty(), "a lock operation names its session");
        let existing = self.entries.get(key);
        let held_by = existing.map(|e| e.session.as_str()).unwrap_or("");
        let (lock_index, holder) = match (acquire, existing) {
            (true, _) if held_by == session => (existing.map_or(1, |e| e.lock_index), session),
            (true, _) if !held_by.is_empty() => return false,
            (true, Some(e)) => (e.lock_index + 1, session),
            (true, None) => (1, session),
            (false, Some(e)) if held_by == session => (e.lock_index, ""),
            (false, _) => return false,
        };
        let create_index = existing.map_or(index, |e| e.create_index);
        let entry = DirEntry {
            key: key.to_string(),
            lock_index,
            flags,
            value,
            session: holder.to_string(),
            create_index,
            modify_index: index,
        };
        self.remember(undo, key);
        self.entries.insert(key.to_string(), entry);
        self.tombstones.remove(key);
        self.index_max = self.index_max.max(index);
        true
    }

    /// A session died at `index`: every key here it holds is released (`Session` cleared,
    /// `ModifyIndex` moved, `LockIndex` kept) or deleted, per its behavior. Returns those
    /// keys (their lock-delay is armed by the caller). Shares `index` with the entry that
    /// killed the session (a destroy, or the catalog change that invalidated it).
    pub fn release_session(&mut self, index: u64, session: &str, delete: bool) -> Vec<String> {
        let held: Vec<String> = self
            .entries
            .values()
            .filter(|e| e.session == session)
            .map(|e| e.key.clone())
            .collect();
        for key in &held {
            if delete {
                self.entries.remove(key);
                self.tombstones.insert(key.clone(), index);
            } else if let Some(e) = self.entries.get_mut(key) {
                e.session.clear();
                e.modify_index = index;
            }
        }
        if !held.is_empty() {
            self.index_max = self.index_max.max(index);
        }
        held
    }

    fn remember(&self, undo: &mut Option<&mut TxnUndo>, key: &str) {
        if let Some(undo) = undo.as_deref_mut() {
            undo.prior.push((
                key.to_string(),
                self.entries.get(key).cloned(),
                self.tombstones.get(key).copied(),
            ));
        }
    }

    fn set_inner(
        &mut self,
        index: u64,
        key: &str,
        value: Option<Bytes>,
        flags: u64,
        cas: Option<u64>,
        undo: &mut Option<&mut TxnUndo>,
    ) -> bool {
        let existing = self.entries.get(key);
        match (cas, existing) {
            (Some(0), Some(_)) => return false,
            (Some(i), Some(e)) if i != 0 && e.modify_index != i => return false,
            (Some(i), None) if i != 0 => return false,
            _ => {}
        }
        if let Some(e) = existing {
            if same_value(&e.value, &value) && e.flags == flags {
                return true; // Identical write: Consul leaves every index alone.
            }
        }
        self.remember(undo, key);
        let (create_index, lock_index, session) = match existing {
            Some(e) => (e.create_index, e.lock_index, e.session.clone()),
            None => (index, 0, String::new()),
        };
        self.entries.insert(
            key.to_string(),
            DirEntry {
                key: key.to_string(),
                lock_index,
                flags,
                value,
                session,
                create_index,
                modify_index: index,
            },
        );
        self.tombstones.remove(key);
        self.index_max = self.index_max.max(index);
        true
    }

    fn delete_inner(
        &mut self,
        index: u64,
        key: &str,
        cas: Option<u64>,
        undo: &mut Option<&mut TxnUndo>,
    ) -> bool {
        let Some(existing) = self.entries.get(key) else {
            return true; // Deleting nothing succeeds, with or without cas.
        };
        if let Some(i) = cas {
            if existing.modify_index != i {
                return false;
            }
        }
        self.remember(undo, key);
        self.entries.remove(key);
        self.tombstones.insert(key.to_string(), index);
        self.index_max = self.index_max.max(index);
        true
    }

    fn delete_tree_inner(&mut self, index: u64, prefix: &str, undo: &mut Option<&mut TxnUndo>) {
        let doomed: Vec<String> = prefix_range(&self.entries, prefix)
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            let deleted = self.delete_inner(index, &key, None, undo);
            debug_assert!(deleted);
        }
    }

    /// Applies this partition's share of a transaction, op by op, so that later ops see the
    /// effects of earlier ones on the same key. The changes stay in place; the coordinator
    /// either keeps them or calls `undo_txn` when any partition reported an error.
    /// `session_live` says whether a session exists (the replicated session table), for the
    /// `lock` verb.
    pub fn apply_txn(
        &mut self,
        index: u64,
        ops: &[(usize, TxnKvOp)],
        session_live: &dyn Fn(&str) -> bool,
    ) -> TxnPartOutcome {
        self.begin(index);
        let mut outcome = TxnPartOutcome {
            undo: TxnUndo {
                prior: Vec::new(),
                index_max: self.index_max,
            },
            ..Default::default()
        };
        for (op_index, op) in ops {
            match self.txn_op(index, op, session_live, &mut outcome) {
                Ok(entries) => {
                    outcome
                        .results
                        .extend(entries.into_iter().map(|entry| TxnOpResult {
                            op_index: *op_index,
                            entry,
                        }))
                }
                Err(what) => outcome.errors.push((*op_index, what)),
            }
        }
        outcome
    }

    /// Restores the state from before `apply_txn` (the applied index stays advanced).
    pub fn undo_txn(&mut self, undo: TxnUndo) {
        for (key, entry, tombstone) in undo.prior.into_iter().rev() {
            match entry {
                Some(e) => self.entries.insert(key.clone(), e),
                None => self.entries.remove(&key),
            };
            match tombstone {
                Some(t) => self.tombstones.insert(key, t),
                None => self.tombstones.remove(&key),
            };
        }
        self.index_max = undo.index_max;
    }

    fn txn_op(
        &mut self,
        index: u64,
        op: &TxnKvOp,
        session_live: &dyn Fn(&str) -> bool,
        outcome: &mut TxnPartOutcome,
    ) -> Result<Vec<DirEntry>, String> {
        let key = op.key.as_str();
        let undo = &mut Some(&mut outcome.undo);
        let without_value = |e: &DirEntry| DirEntry {
            value: None,
            ..e.clone()
        };
        let value = op.value.clone().map(Bytes::from);
        match op.verb {
            KvVerb::Set => {
                self.set_inner(index, key, value, op.flags, None, undo);
                Ok(self.get(key).map(without_value).into_iter().collect())
            }
            KvVerb::Cas => {
                if self.set_inner(index, key, value, op.flags, Some(op.index), undo) {
                    Ok(self.get(key).map(without_value).into_iter().collect())
                } else {
                    Err(format!("failed to set key {key:?}, index is stale"))
                }
            }
            KvVerb::Get => match self.get(key) {
                Some(e) => Ok(vec![e.clone()]),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            KvVerb::GetOrEmpty => Ok(vec![self.get(key).cloned().unwrap_or(DirEntry {
                key: key.to_string(),
                lock_index: 0,
                flags: 0,
                value: None,
                session: String::new(),
                create_index: 0,
                modify_index: 0,
            })]),
            KvVerb::GetTree => Ok(self.list(key).0),
            KvVerb::CheckIndex => match self.get(key) {
                None => Err(format!("failed to check index, key {key:?} doesn't exist")),
                Some(e) if e.modify_index != op.index => Err(format!(
                    "failed index check for key {key:?}, current modify index {} != {}",
                    e.modify_index, op.index
                )),
                Some(e) => Ok(vec![without_value(e)]),
            },
            KvVerb::CheckNotExists => match self.get(key) {
                Some(_) => Err(format!("key {key:?} exists")),
                None => Ok(Vec::new()),
            },
            KvVerb::Delete => {
                self.delete_inner(index, key, None, undo);
                Ok(Vec::new())
            }
            KvVerb::DeleteTree => {
                self.delete_tree_inner(index, key, undo);
                Ok(Vec::new())
            }
            KvVerb::DeleteCas => {
                if self.delete_inner(index, key, Some(op.index), undo) {
                    Ok(Vec::new())
                } else {
                    Err(format!("failed to delete key {key:?}, index is stale"))
                }
            }
            KvVerb::Lock | KvVerb::Unlock if op.session.is_empty() => Err("missing session".into()),
            KvVerb::Lock if !session_live(&op.session) => {
                Err(format!("invalid session {:?}", op.session))
            }
            KvVerb::Lock | KvVerb::Unlock => {
                let acquire = op.verb == KvVerb::Lock;
                let session = op.session.as_str();
                if self.lock_inner(index, key, value, op.flags, session, acquire, undo) {
                    Ok(self.get(key).map(without_value).into_iter().collect())
                } else if acquire {
                    Err(format!("failed to lock key {key:?}, lock is already held"))
                } else {
                    Err(format!(
                        "failed to unlock key {key:?}, lock isn't held, or is held by another \
                         session"
                    ))
                }
            }
            KvVerb::CheckSession => match self.get(key) {
                None => Err(format!(
                    "failed to check session, key {key:?} doesn't exist"
                )),
                Some(e) if e.session == op.session => Ok(vec![without_value(e)]),
                Some(e) => Err(format!(
                    "failed session check for key {key:?}, current session {:?} != {:?}",
                    e.session, op.session
                )),
            },
        }
    }
}

/// The part of `key` after `prefix`, cut just after the first `separator` (empty = no cut).
pub fn roll_up<'a>(key: &'a str, prefix: &str, separator: &str) -> &'a str {
    if separator.is_empty() {
        return key;
    }
    match key[prefix.len()..].find(separator) {
        Some(at) => &key[..prefix.len() + at + separator.len()],
        None => key,
    }
}
