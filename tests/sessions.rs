//! Sessions and locks on real agents: the HTTP surface with Consul's texts on one agent, and
//! a 3-server cluster with clients on 127.0.0.131–.135 where the lock holder's agent is
//! SIGKILLed and another agent's session takes the lock only once the holder's session was
//! invalidated (serfHealth critical) and the lock-delay passed; TTL expiry across a leader
//! SIGKILL with renewals keeping a session alive.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{eventually, free_port, Agent};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn create(agent: &Agent, body: &str) -> String {
    let (status, out) = agent.put("/v1/session/create", body.as_bytes());
    assert_eq!(status, 200, "{out}");
    json(&out)["ID"].as_str().unwrap().to_string()
}

fn kv(agent: &Agent, key: &str) -> Value {
    let (status, body) = agent.get(&format!("/v1/kv/{key}")).unwrap();
    assert_eq!(status, 200, "{body}");
    json(&body)[0].clone()
}

#[test]
fn sessions_and_locks_on_one_agent() {
    let agent = Agent::start(free_port(), None);
    let node = json(&agent.get("/v1/agent/self").unwrap().1)["Config"]["NodeName"]
        .as_str()
        .unwrap()
        .to_string();

    // Defaults, and the JSON as Consul writes it (once the leader has registered its node).
    eventually(10, "the agent's node and serfHealth in the catalog", || {
        agent.put("/v1/session/create", br#"{"Name":"probe"}"#).0 == 200
    });
    for s in json(&agent.get("/v1/session/list").unwrap().1)
        .as_array()
        .unwrap()
    {
        let id = s["ID"].as_str().unwrap();
        agent.put(&format!("/v1/session/destroy/{id}"), b"");
    }
    let a = create(&agent, r#"{"Name":"a","LockDelay":"1s"}"#);
    let info = json(&agent.get(&format!("/v1/session/info/{a}")).unwrap().1);
    assert_eq!(info[0]["Node"], node.as_str());
    assert_eq!(info[0]["Behavior"], "release");
    assert_eq!(info[0]["LockDelay"], 1_000_000_000u64);
    assert_eq!(info[0]["NodeChecks"], serde_json::json!(["serfHealth"]));
    let keys: Vec<&str> = info[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "ID",
            "Name",
            "Node",
            "LockDelay",
            "Behavior",
            "TTL",
            "NodeChecks",
            "ServiceChecks",
            "CreateIndex",
            "ModifyIndex"
        ]
    );
    assert_eq!(
        agent.get("/v1/session/info/nope").unwrap(),
        (200, "[]".into())
    );
    let listed = json(&agent.get(&format!("/v1/session/node/{node}")).unwrap().1);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Acquire, a second holder refused, re-acquire by the holder, release.
    let b = create(&agent, r#"{"Name":"b","Behavior":"delete"}"#);
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?acquire={a}"), b"a"),
        (200, "true".into())
    );
    assert_eq!(kv(&agent, "lead")["LockIndex"], 1);
    assert_eq!(kv(&agent, "lead")["Session"], a.as_str());
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?acquire={b}"), b"b"),
        (200, "false".into())
    );
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?acquire={a}"), b"a2"),
        (200, "true".into())
    );
    assert_eq!(
        kv(&agent, "lead")["LockIndex"],
        1,
        "the holder's re-acquire keeps it"
    );
    // A plain PUT keeps the lock.
    assert_eq!(agent.put("/v1/kv/lead", b"plain"), (200, "true".into()));
    assert_eq!(kv(&agent, "lead")["Session"], a.as_str());
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?release={b}"), b""),
        (200, "false".into())
    );
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?release={a}"), b"free"),
        (200, "true".into())
    );
    let lead = kv(&agent, "lead");
    assert!(
        lead.get("Session").is_none(),
        "Session is omitted once released: {lead}"
    );
    assert_eq!(lead["LockIndex"], 1);
    // An explicit release arms no lock-delay: b takes it at once.
    assert_eq!(
        agent.put(&format!("/v1/kv/lead?acquire={b}"), b"b"),
        (200, "true".into())
    );
    assert_eq!(kv(&agent, "lead")["LockIndex"], 2);

    // Destroying a `delete` session deletes its keys; a `release` session's keys stay,
    // unlocked, under lock-delay.
    assert_eq!(
        agent.put(&format!("/v1/kv/other?acquire={a}"), b"x"),
        (200, "true".into())
    );
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{b}"), b""),
        (200, "true".into())
    );
    assert_eq!(
        agent.get("/v1/kv/lead").unwrap().0,
        404,
        "deleted with its session"
    );
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{a}"), b""),
        (200, "true".into())
    );
    assert!(kv(&agent, "other").get("Session").is_none());
    let c = create(&agent, "");
    let refused_at = Instant::now();
    assert_eq!(
        agent.put(&format!("/v1/kv/other?acquire={c}"), b"c"),
        (200, "false".into())
    );
    eventually(5, "the 1 s lock-delay to pass", || {
        agent.put(&format!("/v1/kv/other?acquire={c}"), b"c").1 == "true"
    });
    assert!(refused_at.elapsed() >= Duration::from_millis(500));

    // The txn verbs: lock, unlock, check-session, and lock-delay checked before proposing.
    let txn = |ops: serde_json::Value| {
        let (status, body) = agent.put("/v1/txn", ops.to_string().as_bytes());
        (status, json(&body))
    };
    let op = |verb: &str, key: &str, session: &str| serde_json::json!({"KV": {"Verb": verb, "Key": key, "Value": "dg==", "Session": session}});
    let d = create(&agent, r#"{"LockDelay":"1s"}"#);
    let (status, out) = txn(serde_json::json!([
        op("lock", "t1", &c),
        op("lock", "t2", &c)
    ]));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["Results"][0]["KV"]["Session"], c.as_str());
    let (status, out) = txn(serde_json::json!([op("lock", "t1", &d)]));
    assert_eq!(status, 409);
    assert_eq!(
        out["Errors"][0]["What"],
        "failed to lock key \"t1\", lock is already held"
    );
    let (status, out) = txn(serde_json::json!([op("unlock", "t2", &d)]));
    assert_eq!(status, 409);
    assert_eq!(
        out["Errors"][0]["What"],
        "failed to unlock key \"t2\", lock isn't held, or is held by another session"
    );
    let (status, _) = txn(serde_json::json!([op("check-session", "t1", &d)]));
    assert_eq!(status, 409);
    let (status, _) = txn(serde_json::json!([
        op("check-session", "t1", &c),
        op("unlock", "t1", &c)
    ]));
    assert_eq!(status, 200);
    let (status, out) = txn(serde_json::json!([op("lock", "t9", "nope")]));
    assert_eq!(
        (status, &out["Errors"][0]["What"]),
        (409, &"invalid session \"nope\"".into())
    );
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{c}"), b""),
        (200, "true".into())
    );
    let (status, out) = txn(serde_json::json!([op("lock", "t2", &d)]));
    assert_eq!(status, 409, "{out}");
    assert_eq!(
        out["Errors"][0]["What"],
        "failed to lock key \"t2\" due to lock delay"
    );

    // Consul's errors.
    let texts = [
        ("/v1/kv/x?acquire=bogus", 500, "invalid session \"bogus\""),
        ("/v1/kv/x?acquire=", 500, "missing session"),
        (
            "/v1/kv/x?acquire=a&cas=1",
            400,
            "Conflicting flags: acquire=a&cas=1\n",
        ),
        ("/v1/session/destroy/", 400, "Missing session"),
        ("/v1/session/renew/nope", 404, "Session id 'nope' not found"),
    ];
    for (path, status, text) in texts {
        assert_eq!(agent.put(path, b""), (status, text.to_string()), "{path}");
    }
    let bad_bodies = [
        (
            r#"{"TTL":"5s"}"#,
            500,
            "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]",
        ),
        (
            r#"{"Behavior":"keep"}"#,
            500,
            "Invalid Behavior setting 'keep'",
        ),
        (r#"{"Node":"ghost"}"#, 500, "Missing node registration"),
        (
            r#"{"NodeChecks":["nope"]}"#,
            500,
            "Missing check 'nope' registration",
        ),
        (
            r#"{"ServiceChecks":[{"ID":"nope"}]}"#,
            500,
            "Missing check 'nope' registration",
        ),
    ];
    for (body, status, text) in bad_bodies {
        let got = agent.put("/v1/session/create", body.as_bytes());
        assert_eq!(got, (status, text.to_string()), "{body}");
    }
    let (status, text) = agent.put("/v1/session/create", br#"{"Bogus":1}"#);
    assert_eq!(status, 400);
    assert!(text.starts_with("Request decode failed: "), "{text}");

    // Sessions and their locks survive snapshot save and restore.
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("s.snap").display().to_string();
    let kept = create(&agent, r#"{"Name":"kept"}"#);
    assert_eq!(
        agent.put(&format!("/v1/kv/kept?acquire={kept}"), b"k"),
        (200, "true".into())
    );
    let (code, out, err) = agent.cli(&["snapshot", "save"], &[&snap]);
    assert_eq!(code, 0, "{out}{err}");
    let inspect = std::process::Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(["snapshot", "inspect", &snap])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["Session", "2"])),
        "{table}"
    );
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{kept}"), b""),
        (200, "true".into())
    );
    let (code, out, err) = agent.cli(&["snapshot", "restore"], &[&snap]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        json(&agent.get(&format!("/v1/session/info/{kept}")).unwrap().1)[0]["Name"],
        "kept"
    );
    assert_eq!(kv(&agent, "kept")["Session"], kept.as_str());

    // A session bound to a service check dies when that check goes critical.
    let service = br#"{"Name":"web","Check":{"TTL":"30s"}}"#;
    assert_eq!(agent.put("/v1/agent/service/register", service).0, 200);
    assert_eq!(agent.put("/v1/agent/check/pass/service:web", b"").0, 200);
    let bound = r#"{"ServiceChecks":[{"ID":"service:web"}]}"#;
    let mut web = String::new();
    eventually(10, "the passing service check in the catalog", || {
        let (status, body) = agent.put("/v1/session/create", bound.as_bytes());
        if status == 200 {
            web = json(&body)["ID"].as_str().unwrap().to_string();
        }
        status == 200
    });
    assert_eq!(agent.put("/v1/agent/check/fail/service:web", b"").0, 200);
    eventually(10, "the session bound to the failed check to die", || {
        agent.get(&format!("/v1/session/info/{web}")).unwrap().1 == "[]"
    });

    // A TTL session lives while renewed and dies at twice its TTL after the last renew.
    let ttl = create(&agent, r#"{"TTL":"10s"}"#);
    assert_eq!(
        agent.put(&format!("/v1/kv/ttl?acquire={ttl}"), b"t"),
        (200, "true".into())
    );
    let started = Instant::now();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(8));
        let (status, body) = agent.put(&format!("/v1/session/renew/{ttl}"), b"");
        assert_eq!(status, 200, "renewed at {:?}: {body}", started.elapsed());
        assert_eq!(json(&body)[0]["ID"], ttl.as_str());
    }
    let renewed = Instant::now();
    eventually(30, "the TTL session to expire", || {
        agent.get(&format!("/v1/session/info/{ttl}")).unwrap().1 == "[]"
    });
    let lived = renewed.elapsed();
    assert!(
        lived >= Duration::from_secs(19) && lived <= Duration::from_secs(23),
        "expired {lived:?} after the last renew (TTL 10 s: 2 × TTL)"
    );
    assert!(
        kv(&agent, "ttl").get("Session").is_none(),
        "its lock was released"
    );
}

fn server(n: u8, dir: &std::path::Path) -> Agent {
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.131",
        "-retry-join=127.0.0.132",
        "-retry-interval=1s",
    ];
    Agent::on_loopback(n, &format!("agent{n}"), dir, &args)
}

fn client(n: u8, dir: &std::path::Path) -> Agent {
    let args = ["-retry-join=127.0.0.133", "-retry-interval=1s"];
    Agent::on_loopback(n, &format!("client{n}"), dir, &args)
}

#[test]
fn a_killed_holder_loses_its_lock_to_a_waiting_agent() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Agent> = (131..=133).map(|n| server(n, dir.path())).collect();
    let mut holder = client(134, dir.path());
    let waiter = client(135, dir.path());
    eventually(40, "a leader and 5 alive members", || {
        let leader = servers[0].leader();
        !leader.is_empty()
            && servers.iter().all(|s| s.leader() == leader)
            && matches!(waiter.get("/v1/agent/members"), Ok((200, b))
                if json(&b).as_array().unwrap().iter().filter(|m| m["Status"] == 1).count() == 5)
    });
    // Each client's session is on its own node (filled in by the client, not the server).
    eventually(
        20,
        "both clients registered with a passing serfHealth",
        || {
            let (s1, _) = holder.put("/v1/session/create", b"{}");
            let (s2, _) = waiter.put("/v1/session/create", b"{}");
            s1 == 200 && s2 == 200
        },
    );
    assert_eq!(
        waiter.put("/v1/session/create?dc=dc2", b"{}"),
        (
            500,
            "cross datacenter lock must be created at server agent".into()
        )
    );
    let mine = create(&holder, r#"{"Name":"primary","LockDelay":"3s"}"#);
    let theirs = create(&waiter, r#"{"Name":"standby","LockDelay":"3s"}"#);
    let info = json(&waiter.get(&format!("/v1/session/info/{mine}")).unwrap().1);
    assert_eq!(info[0]["Node"], "client134");
    let acquire = |agent: &Agent, id: &str| {
        agent.put(
            &format!("/v1/kv/service/db/leader?acquire={id}"),
            id.as_bytes(),
        )
    };
    assert_eq!(acquire(&holder, &mine), (200, "true".into()));
    assert_eq!(acquire(&waiter, &theirs), (200, "false".into()));

    // The holder's agent dies: gossip marks it failed, the leader sets its serfHealth
    // critical, and that invalidates its session in the same entry: the lock is released.
    holder.kill();
    let killed = Instant::now();
    eventually(60, "the dead holder's session to be invalidated", || {
        servers[1]
            .get(&format!("/v1/session/info/{mine}"))
            .unwrap()
            .1
            == "[]"
    });
    let invalidated = killed.elapsed();
    let key = kv(&waiter, "service/db/leader");
    assert!(key.get("Session").is_none(), "released, not held: {key}");
    assert_eq!(key["LockIndex"], 1);
    // The waiter polls; it wins only after the 3 s lock-delay.
    let released = Instant::now();
    eventually(20, "the standby to take the lock", || {
        acquire(&waiter, &theirs).1 == "true"
    });
    assert!(
        released.elapsed() >= Duration::from_millis(2_000),
        "acquired {:?} after the release: the lock-delay was not honoured",
        released.elapsed()
    );
    let key = kv(&servers[2], "service/db/leader");
    assert_eq!(key["Session"], theirs.as_str());
    assert_eq!(key["LockIndex"], 2);
    eprintln!("holder killed → session invalidated in {invalidated:?}");

    // A TTL session renewed through a client survives a leader SIGKILL (the new leader
    // re-arms it in full).
    let ttl = create(&waiter, r#"{"TTL":"10s","NodeChecks":[]}"#);
    let leader_addr = servers[0].leader();
    let leader = servers
        .iter()
        .position(|s| leader_addr.starts_with(&s.host))
        .expect("the leader is one of ours");
    servers[leader].kill();
    let survivor = (leader + 1) % 3;
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        let (status, body) = waiter.put(&format!("/v1/session/renew/{ttl}"), b"");
        assert!(status == 200 || status == 500, "{status} {body}");
        std::thread::sleep(Duration::from_secs(3));
    }
    let info = servers[survivor]
        .get(&format!("/v1/session/info/{ttl}"))
        .unwrap();
    assert_ne!(info.1, "[]", "renewed every 3 s, it outlived the failover");
}

/// `tribune lock` against `agent`, its child's output in `out`.
fn lock_cli(agent: &Agent, args: &[&str], out: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tribune"))
        .arg("lock")
        .arg(format!("-http-addr={}:{}", agent.host, agent.port))
        .args(args)
        .stdout(std::fs::File::create(out).unwrap())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn tribune_lock_runs_the_child_only_while_holding() {
    let agent = Agent::start(free_port(), None);
    eventually(10, "the agent's node in the catalog", || {
        agent.put("/v1/session/create", b"{}").0 == 200
    });
    let dir = tempfile::tempdir().unwrap();

    // A child whose lock is lost gets SIGTERM.
    let log = dir.path().join("held.log");
    // (The sleep lets go of stderr, so reading the lock's stderr does not wait for it.)
    let child =
        "trap 'echo terminated; exit 0' TERM; echo holding; sleep 60 >/dev/null 2>&1 & wait";
    let mut holder = lock_cli(&agent, &["service/db", child], &log);
    let mut session = String::new();
    eventually(10, "the lock to be held", || {
        match agent.get("/v1/kv/service/db/.lock") {
            Ok((200, body)) => {
                session = json(&body)[0]["Session"].as_str().unwrap_or("").to_string();
                !session.is_empty()
            }
            _ => false,
        }
    });
    let lock = kv(&agent, "service/db/.lock");
    assert_eq!(
        lock["Flags"], 0x2ddc_cbc0_58a5_0c18u64,
        "the Go API's lock flag value"
    );
    assert_eq!(
        agent.put(&format!("/v1/session/destroy/{session}"), b""),
        (200, "true".into())
    );
    let status = holder.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "holding\nterminated\n"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut holder.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("Lock lost, killing child"), "{stderr}");

    // SIGTERM to `tribune lock` itself stops the child and releases the lock (no orphan
    // keeps running while the next holder starts).
    let log = dir.path().join("stopped.log");
    let mut stopped = lock_cli(&agent, &["service/db", child], &log);
    eventually(
        30,
        "the lock to be held again (after the lock-delay)",
        || std::fs::read_to_string(&log).is_ok_and(|l| l.contains("holding")),
    );
    // SAFETY: a signal to the child process this test started.
    unsafe { libc::kill(stopped.id() as i32, libc::SIGTERM) };
    assert_eq!(stopped.wait().unwrap().code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "holding\nterminated\n"
    );
    assert_eq!(
        agent.get("/v1/kv/service/db/.lock").unwrap().0,
        404,
        "released and removed"
    );

    // Exit codes: a failed child is 2 only with -child-exit-code.
    let run = |args: &[&str]| {
        let out = dir.path().join("run.log");
        lock_cli(&agent, args, &out).wait().unwrap().code()
    };
    assert_eq!(run(&["-child-exit-code", "jobs/x", "exit 3"]), Some(2));
    assert_eq!(run(&["jobs/x", "exit 3"]), Some(0));
    assert_eq!(run(&["jobs/x"]), Some(1), "no child: usage error");

    // A semaphore of 2 admits exactly two children at a time.
    let marks = dir.path().join("marks");
    let script = format!(
        "echo start $(date +%s%N) >> {m}; sleep 2; echo end $(date +%s%N) >> {m}",
        m = marks.display()
    );
    let mut children: Vec<_> = (0..4)
        .map(|i| {
            let log = dir.path().join(format!("sem{i}.log"));
            lock_cli(&agent, &["-n=2", "batch", &script], &log)
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&marks)
        .unwrap()
        .lines()
        .map(|l| {
            let (what, at) = l.split_once(' ').unwrap();
            (at.parse().unwrap(), if what == "start" { 1 } else { -1 })
        })
        .collect();
    events.sort();
    let (mut running, mut most) = (0, 0);
    for (_, change) in &events {
        running += change;
        most = most.max(running);
    }
    assert_eq!(events.len(), 8, "every child ran once");
    assert_eq!(most, 2, "never more than two holders, and two at once");
    assert_eq!(
        agent.get("/v1/kv/batch/.lock").unwrap().0,
        404,
        "the last one out cleans up"
    );
}
