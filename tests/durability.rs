//! SIGKILL + restart on the same data dir loses no acknowledged write.

mod support;

use std::sync::{Arc, Mutex};

use support::{free_port, Agent};

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut acked = Vec::new();
    let agent = Agent::start(port, Some(dir.path()));
    write_then_kill(agent, port, 700, &mut acked);
    check_and_write_on(Agent::start(port, Some(dir.path())), &acked);
}

/// The same under compaction: a snapshot every 64 entries, so that with writes streaming in
/// the log is compacted many times a second, and each of several SIGKILLs at a random moment
/// lands before, during or after one (the prepared segment written, adopted, old segments
/// deleted). `io::log_files`' tests crash at each of those points exactly.
#[test]
fn acknowledged_writes_survive_sigkill_during_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("compact.json");
    std::fs::write(
        &config,
        r#"{"raft_snapshot_threshold": 64, "raft_snapshot_interval": "5ms"}"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let start = || {
        Agent::start_with(
            port,
            Some(&data),
            &[&format!("-config-file={}", config.display())],
        )
    };
    let mut acked = Vec::new();
    for round in 0..4u64 {
        let agent = start();
        write_then_kill(agent, port, 400 + 150 * round, &mut acked);
    }
    // Compaction did happen: each one starts a new segment (`<seq>.seg`), and 64 MiB
    // rotations are far off.
    let newest = newest_segment(&data);
    assert!(newest > 4, "only {newest} segments: compaction never ran");
    check_and_write_on(start(), &acked);
}

/// Eight writers put new keys until `agent` is SIGKILLed after `ms`; what was acknowledged
/// is added to `acked`.
fn write_then_kill(mut agent: Agent, port: u16, ms: u64, acked_all: &mut Vec<(String, String)>) {
    let run = acked_all.len();
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("dur/{run}/{w}/{i}");
                let value = format!("v{w}-{i}");
                let url = format!("http://127.0.0.1:{port}/v1/kv/{key}");
                let answer = ureq::put(&url)
                    .send_string(&value)
                    .ok()
                    .and_then(|r| r.into_string().ok());
                if answer.as_deref() != Some("true") {
                    return; // the agent died mid-request: that write was never acked
                }
                acked.lock().unwrap().push((key, value));
                i += 1;
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(ms));
    agent.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few writes to mean anything: {}",
        acked.len()
    );
    acked_all.extend(acked);
}

/// Every acknowledged write reads back from the restarted `agent`, which takes new ones.
fn check_and_write_on(agent: Agent, acked: &[(String, String)]) {
    for (key, value) in acked {
        let (status, body) = agent.get(&format!("/v1/kv/{key}?raw")).unwrap();
        assert_eq!(
            (status, body.as_str()),
            (200, value.as_str()),
            "lost acknowledged write {key}"
        );
    }
    // And the restarted agent takes new writes after the replayed ones.
    assert_eq!(agent.put("/v1/kv/after", b"ok").1, "true");
}

/// The highest segment number of the Raft log under `dir`.
fn newest_segment(dir: &std::path::Path) -> u64 {
    let mut newest = 0;
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            newest = newest.max(newest_segment(&path));
        } else if let Some(seq) = path
            .file_name()
            .and_then(|n| n.to_str()?.strip_suffix(".seg")?.parse().ok())
        {
            newest = newest.max(seq);
        }
    }
    newest
}
