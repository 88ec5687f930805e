//! Log files on disk: torn tails, segment rotation, and compaction's rewrite replaying to
//! the same log (moved from the Raft core's tests when the pure cores became their own crate).

use super::LogFiles;
use crate::raft::log_store::{LogStore, RaftSnapshot};
use crate::raft::record::{self, LogRecord};

fn entry(index: u64, term: u64, data: Vec<u8>) -> LogRecord {
    LogRecord::Entry {
        index,
        term,
        entry_type: 0,
        data,
        context: vec![1, 2],
    }
}

fn snapshot_at(index: u64, term: u64, voters: Vec<u64>) -> RaftSnapshot {
    RaftSnapshot {
        index,
        term,
        conf_state: raft::eraftpb::ConfState {
            voters,
            ..Default::default()
        },
        peers: Vec::new(),
        data: vec![7; 10],
    }
}

/// Entries 1..=10 of terms 1 to 3.
fn ten_entries() -> Vec<raft::eraftpb::Entry> {
    (1..=10)
        .map(|i| raft::eraftpb::Entry {
            index: i,
            term: 1 + i / 5,
            data: vec![i as u8; 20].into(),
            ..Default::default()
        })
        .collect()
}

/// Files: append, reopen, tear the tail on disk, reopen again.
#[test]
fn files_recover_after_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut recovered = LogFiles::open(dir.path()).unwrap();
    assert!(recovered.records.is_empty());
    let mut frames = Vec::new();
    for i in 1..=3 {
        record::encode_into(&entry(i, 1, vec![i as u8; 50]), &mut frames);
    }
    recovered.files.append(&frames).unwrap();
    let mut more = Vec::new();
    record::encode_into(&entry(4, 1, vec![4; 50]), &mut more);
    recovered.files.append(&more).unwrap();
    drop(recovered);

    let again = LogFiles::open(dir.path()).unwrap();
    assert_eq!(again.records.len(), 4);
    drop(again);

    // Tear the last record: keep only part of it.
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 20)
        .unwrap();
    let mut torn = LogFiles::open(dir.path()).unwrap();
    assert_eq!(torn.records.len(), 3);
    assert!(!torn.notes.is_empty());
    // Appending after recovery continues cleanly from the truncated end.
    torn.files.append(&more).unwrap();
    drop(torn);
    assert_eq!(LogFiles::open(dir.path()).unwrap().records.len(), 4);
}

/// Past `LOG_SEGMENT_BYTES_MAX` appends go to a new segment; replay reads every segment in
/// order, and a torn tail in the newest one costs only that tail.
#[test]
fn segments_rotate_and_replay_in_order() {
    use crate::config::LOG_SEGMENT_BYTES_MAX;
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogFiles::open(dir.path()).unwrap().files;
    let record_bytes = 1 << 20;
    let per_batch = 16u64;
    let batches = LOG_SEGMENT_BYTES_MAX / (record_bytes as u64 * per_batch) + 2;
    let mut index = 0;
    for _ in 0..batches {
        let mut frames = Vec::new();
        for _ in 0..per_batch {
            index += 1;
            record::encode_into(
                &entry(index, 1, vec![index as u8; record_bytes]),
                &mut frames,
            );
        }
        log.append(&frames).unwrap();
    }
    drop(log);
    let segments = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(
        segments >= 2,
        "expected a rotation, found {segments} segment(s)"
    );
    let recovered = LogFiles::open(dir.path()).unwrap();
    let indexes: Vec<u64> = recovered
        .records
        .iter()
        .map(|r| match r {
            LogRecord::Entry { index, .. } => *index,
            _ => 0,
        })
        .collect();
    assert_eq!(indexes, (1..=index).collect::<Vec<_>>());
    drop(recovered);
    // Tear the newest segment's last record.
    let mut paths: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    let newest = paths.last().unwrap();
    let len = std::fs::metadata(newest).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(newest)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    assert_eq!(
        LogFiles::open(dir.path()).unwrap().records.len() as u64,
        index - 1
    );
}

/// Compaction keeps the entries after the snapshot, and the fresh segment it writes, on disk
/// after the old segments were deleted, rebuilds the same log; a crash before the deletion
/// (old segments still there) replays to the same log too.
#[test]
fn compaction_rewrites_the_log_into_one_segment_that_replays_identically() {
    use raft::Storage;
    let dir = tempfile::tempdir().unwrap();
    let mut recovered = LogFiles::open(dir.path()).unwrap();
    let mut store = LogStore::default();
    let mut records = Vec::new();
    let entries = ten_entries();
    store.append(&entries, &mut records);
    store.set_hard_state(
        &raft::eraftpb::HardState {
            term: 3,
            vote: 2,
            commit: 9,
            ..Default::default()
        },
        &mut records,
    );
    let mut frames = Vec::new();
    for r in &records {
        record::encode_into(r, &mut frames);
    }
    recovered.files.append(&frames).unwrap();
    let old_segments = LogFiles::open(dir.path()).unwrap().records;

    let fresh = store.compact(snapshot_at(6, 2, vec![1, 2, 3]));
    assert_eq!(store.first_index().unwrap(), 7);
    assert_eq!(store.last_index().unwrap(), 10);
    assert_eq!(store.term(6).unwrap(), 2);
    assert!(
        store.term(5).is_err()
            && store
                .entries(5, 8, None, raft::GetEntriesContext::empty(false))
                .is_err()
    );
    let mut frames = Vec::new();
    for r in &fresh {
        record::encode_into(r, &mut frames);
    }
    recovered.files.replace(&frames).unwrap();
    drop(recovered);

    let segments = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(segments, 1, "older segments are deleted");
    let after_crash = [old_segments, fresh.clone()].concat();
    for replayed in [LogFiles::open(dir.path()).unwrap().records, after_crash] {
        let again = LogStore::replay(replayed);
        assert_eq!(again.first_index().unwrap(), 7);
        assert_eq!(again.last_index().unwrap(), 10);
        let ctx = raft::GetEntriesContext::empty(false);
        assert_eq!(
            again.entries(7, 11, None, ctx).unwrap(),
            store
                .entries(7, 11, None, raft::GetEntriesContext::empty(false))
                .unwrap()
        );
        assert_eq!(again.hard_state(), store.hard_state());
        assert_eq!(again.snapshot_meta().data, vec![7; 10]);
        // The snapshot keeps the configuration of its index; the log's current one stays.
        assert_eq!(again.snapshot_meta().conf_state.voters, vec![1, 2, 3]);
        assert_eq!(again.conf_state(), store.conf_state());
    }
}

/// A compaction whose snapshot segment was prepared off the Raft core's thread, crashed at
/// every point: a torn prepared file, a prepared file never adopted, a torn tail written by
/// `adopt` before the rename, and old segments left after the rename. Each recovers to
/// either the log before the compaction or the one after it, entry for entry.
#[test]
fn a_prepared_segment_is_adopted_whole_or_not_at_all() {
    use raft::Storage;
    let entries = ten_entries();
    // A log on disk holding entries 1..=10, and its store.
    let fresh_log = || {
        let dir = tempfile::tempdir().unwrap();
        let mut recovered = LogFiles::open(dir.path()).unwrap();
        let mut store = LogStore::default();
        let mut records = Vec::new();
        store.append(&entries, &mut records);
        let mut frames = Vec::new();
        for r in &records {
            record::encode_into(r, &mut frames);
        }
        recovered.files.append(&frames).unwrap();
        (dir, recovered.files, store)
    };
    let head_of = |snapshot: &RaftSnapshot| {
        let mut head = Vec::new();
        record::encode_into(
            &crate::raft::log_store::snapshot_record(snapshot),
            &mut head,
        );
        head
    };
    let entries_of = |store: &LogStore| {
        let (first, last) = (store.first_index().unwrap(), store.last_index().unwrap());
        let ctx = raft::GetEntriesContext::empty(false);
        (first, store.entries(first, last + 1, None, ctx).unwrap())
    };
    let files_in = |dir: &std::path::Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (_, _, before) = fresh_log();
    let before = entries_of(&before);
    assert_eq!(before.0, 1);

    // 1. Crash while the prepared head is written (torn), or before `adopt`: the old log.
    for cut in [None, Some(17)] {
        let (dir, files, _) = fresh_log();
        let prepared =
            LogFiles::prepare_segment(files.dir(), &head_of(&snapshot_at(6, 2, vec![1]))).unwrap();
        if let Some(cut) = cut {
            let path = files_in(dir.path())
                .into_iter()
                .find(|n| n.ends_with(".prepared"))
                .unwrap();
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.path().join(path))
                .unwrap()
                .set_len(cut)
                .unwrap();
        }
        // A crash: no destructor runs.
        std::mem::forget(prepared);
        drop(files);
        let recovered = LogFiles::open(dir.path()).unwrap();
        assert!(recovered.notes.iter().any(|n| n.contains("never adopted")));
        assert_eq!(files_in(dir.path()), ["00000000000000000001.seg"]);
        assert_eq!(entries_of(&LogStore::replay(recovered.records)), before);
    }

    // A prepared segment dropped without a crash (a failed write, an overtaken snapshot) is
    // removed at once.
    let (dir, files, _) = fresh_log();
    let prepared = LogFiles::prepare_segment(files.dir(), &head_of(&snapshot_at(6, 2, vec![1])));
    drop(prepared);
    assert_eq!(files_in(dir.path()), ["00000000000000000001.seg"]);
    drop(files);

    // 2. Adopted: one segment, the snapshot and entries 7..=10.
    let (dir, mut files, mut store) = fresh_log();
    let old_segment = std::fs::read(dir.path().join("00000000000000000001.seg")).unwrap();
    let snapshot = snapshot_at(6, 2, vec![1, 2, 3]);
    let prepared = LogFiles::prepare_segment(files.dir(), &head_of(&snapshot)).unwrap();
    let tail = store.compact_tail(snapshot);
    let mut tail_frames = Vec::new();
    for r in &tail {
        record::encode_into(r, &mut tail_frames);
    }
    files.adopt(prepared, &tail_frames).unwrap();
    drop(files);
    assert_eq!(files_in(dir.path()), ["00000000000000000002.seg"]);
    let after = entries_of(&store);
    assert_eq!(after.0, 7);
    let recovered = LogFiles::open(dir.path()).unwrap();
    assert_eq!(entries_of(&LogStore::replay(recovered.records)), after);
    drop(recovered.files);

    // 3. The old segment left behind (a crash between the rename and the deletion): the
    //    snapshot supersedes it, and it is removed.
    std::fs::write(dir.path().join("00000000000000000001.seg"), &old_segment).unwrap();
    let recovered = LogFiles::open(dir.path()).unwrap();
    assert_eq!(entries_of(&LogStore::replay(recovered.records)), after);
    drop(recovered.files);
    assert_eq!(files_in(dir.path()), ["00000000000000000002.seg"]);
    //    Or only part of an old log of several segments: its first segment deleted, a later
    //    one (entries 5..=10, no snapshot ahead of them) still there.
    let mut partial = Vec::new();
    for e in &entries[4..] {
        record::encode_into(&entry(e.index, e.term, e.data.to_vec()), &mut partial);
    }
    std::fs::write(dir.path().join("00000000000000000001.seg"), &partial).unwrap();
    let recovered = LogFiles::open(dir.path()).unwrap();
    assert_eq!(entries_of(&LogStore::replay(recovered.records)), after);

    // 4. A crash during `adopt`'s tail write, before the rename: the prepared file is
    //    removed and the old log is whole.
    let (dir, files, _) = fresh_log();
    let mut torn = head_of(&snapshot_at(6, 2, vec![1]));
    torn.extend_from_slice(&tail_frames[..tail_frames.len() / 2]);
    let prepared = LogFiles::prepare_segment(files.dir(), &torn).unwrap();
    // A crash: no destructor runs.
    std::mem::forget(prepared);
    drop(files);
    let recovered = LogFiles::open(dir.path()).unwrap();
    assert_eq!(entries_of(&LogStore::replay(recovered.records)), before);
}
