//! Linearizability of the KV store under faults, with real processes: three servers on
//! 127.0.0.91–.93, concurrent clients writing (PUT) and reading (`?consistent`) two keys
//! through every server while the leader is SIGKILLed and later restarted; the recorded
//! history must admit a linearization (`support::linearizability`).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::linearizability::{check, Event, Op};
use support::{eventually, Agent};

fn server(n: u8, dir: &std::path::Path) -> Agent {
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.91",
        "-retry-join=127.0.0.92",
        "-retry-interval=1s",
    ];
    Agent::on_loopback(n, &format!("agent{n}"), dir, &args)
}

/// One client's operations until `stop`: random key, random server, write or read.
fn client(id: usize, stop: Instant, history: Arc<Mutex<Vec<Event>>>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(id as u64);
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(3))
        .build();
    let mut n = 0;
    while Instant::now() < stop {
        let key = ["x", "y"][rng.gen_range(0..2)];
        let server = rng.gen_range(91..=93);
        let url = format!("http://127.0.0.{server}:8500/v1/kv/{key}");
        let call = Instant::now();
        let event = if rng.gen_bool(0.5) {
            n += 1;
            let value = format!("c{id}-{n}");
            let ok = matches!(agent.put(&url).send_string(&value), Ok(r) if r.status() == 200);
            // Failed or unanswered: it may still have happened.
            Event {
                key: key.into(),
                op: Op::Write(value),
                call,
                ret: ok.then(Instant::now),
            }
        } else {
            let read = match agent.get(&format!("{url}?consistent&raw")).call() {
                Ok(r) => Some(Some(r.into_string().unwrap_or_default())),
                Err(ureq::Error::Status(404, _)) => Some(None),
                Err(_) => None, // no answer: says nothing
            };
            match read {
                Some(v) => Event {
                    key: key.into(),
                    op: Op::Read(v),
                    call,
                    ret: Some(Instant::now()),
                },
                None => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
        };
        history.lock().unwrap().push(event);
        // A few hundred operations per key keep the check quick.
        std::thread::sleep(Duration::from_millis(rng.gen_range(10..40)));
    }
}

#[test]
fn kv_history_under_a_leader_kill_is_linearizable() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Agent> = (91..=93).map(|n| server(n, dir.path())).collect();
    eventually(30, "a leader every server agrees on", || {
        let leaders: Vec<String> = servers.iter().map(Agent::leader).collect();
        !leaders[0].is_empty() && leaders.iter().all(|l| *l == leaders[0])
    });
    let history = Arc::new(Mutex::new(Vec::new()));
    let stop = Instant::now() + Duration::from_secs(12);
    let clients: Vec<_> = (0..4)
        .map(|id| {
            let h = history.clone();
            std::thread::spawn(move || client(id, stop, h))
        })
        .collect();
    // Kill the leader a few seconds in, restart it a few seconds later.
    std::thread::sleep(Duration::from_secs(3));
    let leader = servers[0].leader();
    let victim = (0..3)
        .find(|&i| leader.starts_with(&format!("{}:", servers[i].host)))
        .expect("the leader is one of ours");
    servers[victim].kill();
    std::thread::sleep(Duration::from_secs(4));
    servers[victim] = server(91 + victim as u8, dir.path());
    for c in clients {
        c.join().unwrap();
    }
    let history = history.lock().unwrap().clone();
    let writes = history
        .iter()
        .filter(|e| matches!(e.op, Op::Write(_)) && e.ret.is_some())
        .count();
    let reads = history
        .iter()
        .filter(|e| matches!(e.op, Op::Read(_)))
        .count();
    assert!(
        writes > 50 && reads > 50,
        "too little traffic: {writes} writes, {reads} reads"
    );
    if let Err(e) = check(&history) {
        panic!("not linearizable: {e}");
    }
}

fn ev(op: Op, call: u64, ret: Option<u64>) -> Event {
    let t0 = Instant::now();
    Event {
        key: "k".into(),
        op,
        call: t0 + Duration::from_millis(call),
        ret: ret.map(|r| t0 + Duration::from_millis(r)),
    }
}

fn w(v: &str) -> Op {
    Op::Write(v.into())
}

fn r(v: Option<&str>) -> Op {
    Op::Read(v.map(String::from))
}

/// The checker itself, on histories whose answer is known.
#[test]
fn the_checker_accepts_and_rejects_known_histories() {
    // Sequential: write a, read a.
    assert!(check(&[ev(w("a"), 0, Some(1)), ev(r(Some("a")), 2, Some(3))]).is_ok());
    // A stale read after a completed write is not linearizable.
    let stale = [
        ev(w("a"), 0, Some(1)),
        ev(w("b"), 2, Some(3)),
        ev(r(Some("a")), 4, Some(5)),
    ];
    assert!(check(&stale).is_err());
    // Concurrent write and read may see either value.
    for seen in [None, Some("a")] {
        assert!(check(&[ev(w("a"), 0, Some(10)), ev(r(seen), 1, Some(2))]).is_ok());
    }
    // A value nobody wrote.
    assert!(check(&[ev(r(Some("z")), 0, Some(1))]).is_err());
    // A timed-out write may have happened (read sees it) or not (read does not).
    for seen in [None, Some("a")] {
        assert!(check(&[ev(w("a"), 0, None), ev(r(seen), 5, Some(6))]).is_ok());
    }
    // But once seen, it cannot be unseen.
    let flicker = [
        ev(w("a"), 0, None),
        ev(r(Some("a")), 5, Some(6)),
        ev(r(None), 7, Some(8)),
    ];
    assert!(check(&flicker).is_err());
}
