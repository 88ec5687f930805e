//! SIGKILL + restart on the same data dir loses no acknowledged write.

mod support;

use std::sync::{Arc, Mutex};

use support::{free_port, Agent};

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut agent = Agent::start(port, Some(dir.path()));
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let key = format!("dur/{w}/{i}");
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
    std::thread::sleep(std::time::Duration::from_millis(700));
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

    let agent = Agent::start(port, Some(dir.path()));
    for (key, value) in &acked {
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
