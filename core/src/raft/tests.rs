//! Log durability properties: framing, torn tails, replay.

use proptest::prelude::*;

use super::log_store::LogStore;
use super::record::{self, LogRecord};

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

/// Seeds per simulator run (`TRIBUNE_SIM_SEEDS` raises it for a soak).
fn sim_seeds() -> u64 {
    std::env::var("TRIBUNE_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6)
}

/// Safety under loss, delay, reordering, partitions and crashes (checked on every step inside
/// the simulator, on the agent's real state machines with multi-shard transactions), then
/// liveness once the faults stop: one leader, and every server applies
/// the same entries up to the same index. Each shape runs without log compaction and with
/// it (every 25 entries), where servers that were down or cut off catch up by snapshot.
#[test]
fn simulated_clusters_stay_safe_and_recover() {
    use super::sim::{RaftFaults, RaftSim};
    use rand::{Rng, SeedableRng};
    let mut installs = 0;
    let (mut committed, mut aborted, mut reads, mut sessions) = (0, 0, 0, 0);
    for (seed, compact_every) in (0..sim_seeds()).flat_map(|s| [(s, 0), (s, 25)]) {
        // Slow restarts (the term moves on meanwhile) and fast ones (a server back within the
        // same term must remember its vote).
        for (n, crash, down_ticks) in [
            (3usize, 0.002, 40),
            (5, 0.002, 40),
            (3, 0.02, 2),
            (5, 0.02, 2),
        ] {
            let faults = RaftFaults {
                loss: 0.1,
                delay_max_ticks: 5,
                crash,
                down_ticks,
                compact_every,
            };
            let mut sim = RaftSim::new(n, faults, seed);
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0xfeed);
            for round in 0..8 {
                if round % 2 == 1 {
                    // A random split; minorities must not commit on their own.
                    sim.partition((0..n).map(|_| rng.gen_range(0..2u8)).collect());
                } else {
                    sim.heal();
                }
                sim.run(400, 0.3);
            }
            sim.heal();
            sim.faults = RaftFaults {
                compact_every,
                ..RaftFaults::default()
            };
            sim.run(300, 0.0); // crashed servers come back and catch up
            sim.run(200, 0.3);
            sim.run(300, 0.0);
            assert!(
                sim.leader().is_some(),
                "seed {seed}, {n} servers: no leader after healing"
            );
            let (lo, hi) = sim.applied_range();
            assert_eq!(
                lo, hi,
                "seed {seed}, {n} servers: replicas differ after healing"
            );
            assert!(
                sim.committed_len() > 50,
                "seed {seed}, {n} servers: only {} entries committed",
                sim.committed_len()
            );
            assert_eq!(sim.compactions > 0, compact_every > 0);
            installs += sim.snapshots_installed;
            committed += sim.txns_committed;
            aborted += sim.txns_aborted;
            reads += sim.scattered_reads;
            sessions += sim.sessions_seen;
        }
    }
    // The workload reached what the checks are about: multi-shard transactions decided both
    // ways, and scattered reads interleaved with them.
    assert!(
        committed > 100 && aborted > 100 && reads > 1000,
        "{committed} {aborted} {reads}"
    );
    assert!(sessions > 1000, "sessions alive after batches: {sessions}");
    assert!(
        installs > 0,
        "no server ever needed a snapshot: the shapes test too little"
    );
}

/// A minority partition commits nothing while the majority goes on.
#[test]
fn a_minority_commits_nothing() {
    use super::sim::{RaftFaults, RaftSim};
    let mut sim = RaftSim::new(5, RaftFaults::default(), 42);
    sim.run(100, 0.0);
    let old = sim.leader().expect("a leader");
    // The old leader alone with one follower: a minority of 2.
    let group: Vec<u8> = (0..5)
        .map(|i| if i == old || i == (old + 1) % 5 { 1 } else { 0 })
        .collect();
    sim.partition(group.clone());
    let before = sim.committed_len();
    sim.run(300, 0.5);
    let leader = sim.leader().expect("the majority elects a leader");
    assert_eq!(
        group[leader], 0,
        "the leader that can commit is in the majority"
    );
    assert!(sim.committed_len() > before, "the majority commits");
    sim.heal();
    sim.run(300, 0.0);
    let (lo, hi) = sim.applied_range();
    assert_eq!(lo, hi);
}

fn snapshot_at(index: u64, term: u64, voters: Vec<u64>) -> super::log_store::RaftSnapshot {
    super::log_store::RaftSnapshot {
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

/// An installed snapshot replaces the whole log, and a commit index written before it (in
/// the same batch) never drops below it.
#[test]
fn an_installed_snapshot_replaces_the_log() {
    use raft::Storage;
    let mut store = LogStore::replay(vec![entry(1, 1, vec![1]), entry(2, 1, vec![2])]);
    let fresh = store.install(snapshot_at(40, 5, vec![4, 5]));
    assert_eq!(store.first_index().unwrap(), 41);
    assert_eq!(store.last_index().unwrap(), 40);
    assert_eq!(store.hard_state().commit, 40);
    let mut replayed = fresh;
    replayed.push(LogRecord::HardState {
        term: 5,
        vote: 0,
        commit: 3,
    });
    let again = LogStore::replay(replayed);
    assert_eq!(again.hard_state().commit, 40);
    assert_eq!(again.snapshot(0, 4).unwrap().get_metadata().index, 40);
    // A peer the snapshot's configuration lacks (added since) makes the store ask for a
    // fresh snapshot rather than send one raft-rs would refuse.
    assert!(again.snapshot(0, 9).is_err());
    assert!(again.take_snapshot_wanted() && !again.take_snapshot_wanted());
}
