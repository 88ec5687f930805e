//! Multi-shard transactions under contention: concurrent CAS transfers between keys on
//! different shards conserve the total, and every acknowledged transfer is applied.

mod support;

use base64::Engine;
use support::{free_port, Agent};

const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;
const KEYS: [&str; 4] = ["bank/alice", "bank/bob", "bank/carol", "bank/dave"];

fn read(port: u16, key: &str) -> (i64, u64) {
    let resp = ureq::get(&format!("http://127.0.0.1:{port}/v1/kv/{key}"))
        .call()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap();
    let raw = B64.decode(v[0]["Value"].as_str().unwrap()).unwrap();
    (
        String::from_utf8(raw).unwrap().parse().unwrap(),
        v[0]["ModifyIndex"].as_u64().unwrap(),
    )
}

#[test]
fn concurrent_cross_shard_transfers_conserve_total() {
    let agent = Agent::start(free_port(), None);
    for key in KEYS {
        assert_eq!(agent.put(&format!("/v1/kv/{key}"), b"100").1, "true");
    }
    let port = agent.port;
    let workers: Vec<_> = (0..6)
        .map(|w| {
            std::thread::spawn(move || {
                let mut done = Vec::new();
                for i in 0..40usize {
                    let (f, t) = ((w + i) % 4, (w + i + 1) % 4);
                    let (from, to) = (KEYS[f], KEYS[t]);
                    let ((a, ai), (b, bi)) = (read(port, from), read(port, to));
                    let body = serde_json::json!([
                        {"KV": {"Verb": "cas", "Key": from, "Index": ai, "Value": B64.encode((a - 1).to_string())}},
                        {"KV": {"Verb": "cas", "Key": to, "Index": bi, "Value": B64.encode((b + 1).to_string())}},
                    ]);
                    let url = format!("http://127.0.0.1:{port}/v1/txn");
                    match ureq::put(&url).send_string(&body.to_string()) {
                        Ok(_) => done.push((f, t)),
                        Err(ureq::Error::Status(409, _)) => {} // lost a race: nothing applied
                        Err(e) => panic!("txn failed: {e}"),
                    }
                }
                done
            })
        })
        .collect();
    let committed: Vec<(usize, usize)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(!committed.is_empty());
    let total: i64 = KEYS.iter().map(|k| read(port, k).0).sum();
    assert_eq!(
        total, 400,
        "money created or destroyed: transactions were not atomic"
    );
    // Every acknowledged transfer was applied exactly once, and no rejected one was.
    let mut expected = [100i64; 4];
    for (f, t) in &committed {
        expected[*f] -= 1;
        expected[*t] += 1;
    }
    for (i, key) in KEYS.iter().enumerate() {
        assert_eq!(read(port, key).0, expected[i], "{key}");
    }
}
