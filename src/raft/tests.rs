//! Log durability properties: framing, torn tails, replay.

use proptest::prelude::*;

use super::log_store::LogStore;
use super::record::{self, LogRecord};
use crate::io::log_files::LogFiles;

fn entry(index: u64, term: u64, data: Vec<u8>) -> LogRecord {
    LogRecord::Entry {
        index,
        term,
        entry_type: 0,
        data,
        context: vec![1, 2],
    }
}

fn aligned(bytes: &[u8]) -> rkyv::util::AlignedVec<16> {
    let mut v = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    v
}

proptest! {
    /// Cutting the file at any byte of the last record yields exactly the earlier records:
    /// a prefix of what was acknowledged, never a partial or invented record.
    #[test]
    fn cut_anywhere_in_last_record_recovers_prefix(
        sizes in prop::collection::vec(0usize..300, 1..8),
        cut_fraction in 0.0f64..1.0,
    ) {
        let records: Vec<LogRecord> = sizes.iter().enumerate()
            .map(|(i, &n)| entry(i as u64 + 1, 1, vec![i as u8; n]))
            .collect();
        let mut buf = Vec::new();
        let mut last_start = 0;
        for r in &records {
            last_start = buf.len();
            record::encode_into(r, &mut buf);
        }
        let cut = last_start + ((buf.len() - last_start) as f64 * cut_fraction) as usize;
        let scan = record::scan(&aligned(&buf[..cut]));
        prop_assert_eq!(&scan.records[..], &records[..records.len() - 1]);
        prop_assert_eq!(scan.valid_bytes, last_start);
        let whole = record::scan(&aligned(&buf));
        prop_assert_eq!(whole.records, records);
        prop_assert!(whole.stopped.is_none());
    }

    /// A flipped byte anywhere is caught; what survives is a prefix.
    #[test]
    fn corruption_is_detected(sizes in prop::collection::vec(1usize..100, 1..6), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let records: Vec<LogRecord> = sizes.iter().enumerate().map(|(i, &n)| entry(i as u64 + 1, 2, vec![7; n])).collect();
        let mut buf = Vec::new();
        for r in &records {
            record::encode_into(r, &mut buf);
        }
        let at = at.index(buf.len());
        buf[at] ^= 1 << bit;
        let scan = record::scan(&aligned(&buf));
        prop_assert!(scan.records.len() <= records.len());
        prop_assert_eq!(&scan.records[..], &records[..scan.records.len()]);
    }

    /// Random bytes never panic the scanner.
    #[test]
    fn scan_survives_garbage(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = record::scan(&aligned(&bytes));
    }
}

/// Replay applies the rule "a later entry at index i supersedes entries ≥ i".
#[test]
fn replay_truncates_conflicting_suffix() {
    let store = LogStore::replay(vec![
        entry(1, 1, vec![1]),
        entry(2, 1, vec![2]),
        entry(3, 1, vec![3]),
        entry(2, 2, vec![9]),
        LogRecord::HardState {
            term: 2,
            vote: 1,
            commit: 2,
        },
    ]);
    use raft::Storage;
    assert_eq!(store.last_index().unwrap(), 2);
    assert_eq!(store.term(2).unwrap(), 2);
    assert_eq!(store.hard_state().commit, 2);
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
