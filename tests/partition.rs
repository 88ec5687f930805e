//! A real partition of a 3-server cluster with iptables on loopback (servers on
//! 127.0.0.61–63; agents send from their bind address, so rules can pick pairs): the isolated
//! leader's minority accepts no write and answers no `?consistent` read, the majority elects a
//! new leader and goes on, and after healing the old leader catches up and the write it was
//! given never appears.
//!
//! Needs root and iptables. Without them the test says so and passes only when
//! `TRIBUNE_REQUIRE_IPTABLES` is unset (`.ci/run` sets it, so CI always runs it).

mod support;

use std::process::Command;

use support::{eventually, Agent};

const COMMENT: &str = "tribune-partition-test";

/// Drops every packet between `a` and each of `others` while alive.
struct Partition {
    rules: Vec<(String, String)>,
}

fn iptables(op: &str, src: &str, dst: &str) -> bool {
    Command::new("iptables")
        .args([
            op,
            "INPUT",
            "-s",
            src,
            "-d",
            dst,
            "-j",
            "DROP",
            "-m",
            "comment",
            "--comment",
            COMMENT,
        ])
        .status()
        .is_ok_and(|s| s.success())
}

impl Partition {
    fn isolate(a: &str, others: &[&str]) -> Partition {
        let mut rules = Vec::new();
        for o in others {
            for (s, d) in [(a, *o), (*o, a)] {
                assert!(iptables("-I", s, d), "iptables -I failed");
                rules.push((s.to_string(), d.to_string()));
            }
        }
        Partition { rules }
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        for (s, d) in &self.rules {
            iptables("-D", s, d);
        }
    }
}

fn iptables_usable() -> bool {
    iptables("-I", "127.0.0.254", "127.0.0.253") && iptables("-D", "127.0.0.254", "127.0.0.253")
}

fn server(n: u8, dir: &std::path::Path) -> Agent {
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.61",
        "-retry-interval=1s",
    ];
    Agent::on_loopback(n, &format!("p{n}"), dir, &args)
}

#[test]
fn an_isolated_leader_commits_nothing_and_the_majority_goes_on() {
    if !iptables_usable() {
        assert!(
            std::env::var_os("TRIBUNE_REQUIRE_IPTABLES").is_none(),
            "iptables is required here (root + iptables; see .ci/run)"
        );
        eprintln!("SKIPPED: iptables not usable (needs root); CI runs this test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let servers: Vec<Agent> = (61..=63).map(|n| server(n, dir.path())).collect();
    eventually(30, "a leader every server agrees on", || {
        let l: Vec<String> = servers.iter().map(Agent::leader).collect();
        !l[0].is_empty() && l.iter().all(|x| *x == l[0])
    });
    assert_eq!(servers[0].put("/v1/kv/before", b"1").0, 200);
    let old = servers[0].leader();
    let li = servers
        .iter()
        .position(|s| old == format!("{}:8300", s.host))
        .unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != li).collect();
    let hosts: Vec<&str> = others.iter().map(|&i| servers[i].host.as_str()).collect();
    let partition = Partition::isolate(&servers[li].host, &hosts);

    // The majority elects a new leader and accepts writes.
    eventually(15, "a new leader in the majority", || {
        let l = servers[others[0]].leader();
        !l.is_empty() && l != old
    });
    eventually(10, "a write in the majority", || {
        servers[others[0]].put("/v1/kv/majority", b"yes").0 == 200
    });
    // The isolated old leader: no write commits, no consistent read is answered.
    let (status, _) = servers[li].put("/v1/kv/minority", b"lost");
    assert_ne!(
        status, 200,
        "a write on the isolated minority must not succeed"
    );
    let (status, _) = servers[li].get("/v1/kv/before?consistent").unwrap();
    assert_ne!(
        status, 200,
        "a consistent read on the minority must not be answered"
    );

    drop(partition);
    eventually(
        20,
        "the old leader catches up after healing",
        || matches!(servers[li].get("/v1/kv/majority?stale&raw"), Ok((200, b)) if b == "yes"),
    );
    for s in &servers {
        eventually(10, "one leader again", || {
            s.leader() == servers[others[0]].leader()
        });
        assert!(
            matches!(s.get("/v1/kv/minority?stale"), Ok((404, _))),
            "the write given to the isolated leader must never appear"
        );
    }
    // Healed, the old leader answers consistent reads again (through the current leader).
    eventually(
        10,
        "a consistent read through the healed server",
        || matches!(servers[li].get("/v1/kv/before?consistent&raw"), Ok((200, b)) if b == "1"),
    );
}
