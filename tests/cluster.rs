//! The seed's cluster walkthrough with real processes: three servers (`-bootstrap-expect=3`,
//! `-retry-join`) and client agents on their own loopback addresses with Consul's default
//! ports, then SIGKILL of the leader, a restart on the same data dir, a killed client and a
//! graceful leave. Then log compaction, a lagging server caught up by a snapshot, and a
//! fourth server added as a voter. Addresses 127.0.0.11–.19 and .21–.24 are this file's own
//! (other tests use 127.0.0.1).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{dig, eventually, Agent};

fn server(n: u8, dir: &std::path::Path) -> Agent {
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.11",
        "-retry-join=127.0.0.12",
        "-retry-interval=1s",
        // A server that returns is a non-voter until autopilot finds it stable; shorter
        // than Consul's 10 s so the test does not wait on it.
        "-hcl=autopilot { server_stabilization_time = \"2s\" }",
    ];
    Agent::on_loopback(n, &format!("agent{n}"), dir, &args)
}

fn client(n: u8, dir: &std::path::Path) -> Agent {
    let args = ["-retry-join=127.0.0.13", "-retry-interval=1s"];
    Agent::on_loopback(n, &format!("client{n}"), dir, &args)
}

/// A server of the compaction test (127.0.0.16–.19): snapshots every 20 entries.
fn compacting_server(n: u8, dir: &std::path::Path) -> Agent {
    // One file per server: rewriting a shared one while an agent started just before reads it
    // could hand that agent an empty file (and the default threshold: it never compacted).
    let config = dir.join(format!("compact-{n}.json"));
    std::fs::write(
        &config,
        r#"{"raft_snapshot_threshold": 20, "raft_snapshot_interval": "100ms"}"#,
    )
    .unwrap();
    let config = format!("-config-file={}", config.display());
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.16",
        "-retry-join=127.0.0.17",
        "-retry-interval=1s",
        // Each step of a snapshot is a debug line: a failure shows where compaction stopped.
        "-log-level=debug",
        &config,
    ];
    Agent::on_loopback(n, &format!("agent{n}"), dir, &args)
}

fn stale_value(a: &Agent, key: &str) -> Option<String> {
    match a.get(&format!("/v1/kv/{key}?stale&raw")) {
        Ok((200, body)) => Some(body),
        _ => None,
    }
}

/// One of the Raft figures in `/v1/agent/self` (`Stats.raft`).
fn raft_stat(a: &Agent, name: &str) -> u64 {
    let (_, body) = a.get("/v1/agent/self").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["Stats"]["raft"][name].as_str().unwrap().parse().unwrap()
}

/// The highest index an agent's log says it compacted up to ("snapshot at index N").
fn last_compacted_index(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("snapshot at index ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

fn serf_health(a: &Agent, node: &str) -> String {
    let (_, body) = a
        .get(&format!("/v1/health/node/{node}"))
        .unwrap_or_default();
    let checks: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
    checks
        .iter()
        .find(|c| c["CheckID"] == "serfHealth")
        .and_then(|c| c["Status"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn three_servers_and_clients_form_a_cluster_fail_over_and_recover() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Agent> = (11..=13).map(|n| server(n, dir.path())).collect();
    let mut c14 = client(14, dir.path());
    let c15 = client(15, dir.path());

    // Bootstrap: one leader that every server agrees on; every member alive everywhere.
    eventually(30, "a leader every server agrees on", || {
        let leaders: Vec<String> = servers.iter().map(Agent::leader).collect();
        !leaders[0].is_empty() && leaders.iter().all(|l| *l == leaders[0])
    });
    eventually(20, "5 members alive as the client sees them", || {
        let (code, out, _) = c14.cli(&["members"], &[]);
        code == 0
            && out
                .lines()
                .skip(1)
                .filter(|l| l.contains(" alive "))
                .count()
                == 5
    });
    let (_, table, _) = servers[1].cli(&["operator", "raft", "list-peers"], &[]);
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[0].starts_with("Node"), "{table}");
    assert_eq!(
        rows.iter().filter(|r| r.contains(" leader ")).count(),
        1,
        "{table}"
    );
    for n in 11..=13 {
        assert!(table.contains(&format!("127.0.0.{n}:8300")), "{table}");
    }

    // Writes through a client agent reach every server.
    let (code, out, err) = c14.cli(&["kv", "put"], &["name", "jack"]);
    assert_eq!(code, 0, "{out}{err}");
    for s in &servers {
        eventually(
            5,
            "the write replicated (stale read on each server)",
            || matches!(s.get("/v1/kv/name?stale&raw"), Ok((200, b)) if b == "jack"),
        );
    }
    // Snapshot save on a follower (forwarded to the leader), change, restore: every server is
    // back to the saved state; a truncated file is refused and changes nothing.
    let snap = dir.path().join("backup01.snap");
    let snap_arg = snap.display().to_string();
    let (code, out, err) = servers[2].cli(&["snapshot", "save"], &[&snap_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("Saved and verified snapshot to index "),
        "{out}"
    );
    let inspect = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(["snapshot", "inspect", &snap_arg])
        .output()
        .unwrap();
    let inspect = String::from_utf8_lossy(&inspect.stdout).into_owned();
    for field in ["ID", "Size", "Index", "Term", "Version"] {
        assert!(
            inspect.lines().any(|l| l.trim_start().starts_with(field)),
            "{inspect}"
        );
    }
    assert_eq!(c14.cli(&["kv", "delete"], &["name"]).0, 0);
    assert_eq!(c14.cli(&["kv", "put"], &["later", "x"]).0, 0);
    let truncated = dir.path().join("truncated.snap");
    let bytes = std::fs::read(&snap).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let (code, _, err) = servers[0].cli(
        &["snapshot", "restore"],
        &[&truncated.display().to_string()],
    );
    assert_eq!(code, 1, "a truncated snapshot is refused: {err}");
    let (status, _) = servers[0].put("/v1/snapshot", &bytes[..bytes.len() - 1]);
    assert_eq!(status, 500, "the API refuses it too");
    assert!(matches!(servers[0].get("/v1/kv/later?raw"), Ok((200, b)) if b == "x"));
    let (code, out, err) = servers[0].cli(&["snapshot", "restore"], &[&snap_arg]);
    assert_eq!((code, out.as_str()), (0, "Restored snapshot\n"), "{err}");
    for s in &servers {
        eventually(5, "every server back to the snapshot", || {
            matches!(s.get("/v1/kv/name?stale&raw"), Ok((200, b)) if b == "jack")
                && matches!(s.get("/v1/kv/later?stale"), Ok((404, _)))
        });
    }
    // The same file restores the same KV state into a fresh single-server agent.
    let fresh = Agent::start(support::free_port(), None);
    assert_eq!(fresh.put("/v1/snapshot", &bytes).0, 200);
    assert!(matches!(fresh.get("/v1/kv/name?raw"), Ok((200, b)) if b == "jack"));
    drop(fresh);

    // A service on a client is served by DNS on the client and on a server.
    let (code, _) = c14.put("/v1/agent/service/register", br#"{"Name":"web","Port":80}"#);
    assert_eq!(code, 200);
    eventually(10, "web in DNS through the client and a server", || {
        dig("127.0.0.14", "web.service.consul") == ["127.0.0.14"]
            && dig("127.0.0.12", "web.service.consul") == ["127.0.0.14"]
    });

    // SIGKILL the leader: another takes over and writes resume through the client.
    let leader_addr = servers[0].leader();
    let leader = servers
        .iter()
        .position(|s| leader_addr == format!("{}:8300", s.host))
        .expect("the leader is one of ours");
    servers[leader].kill();
    let killed_at = Instant::now();
    let survivor = (leader + 1) % 3;
    eventually(10, "a new leader", || {
        let l = servers[survivor].leader();
        !l.is_empty() && l != leader_addr
    });
    eprintln!("failover took {:?}", killed_at.elapsed());
    eventually(10, "a write after the failover", || {
        c14.cli(&["kv", "put"], &["after", "failover"]).0 == 0
    });
    let killed_node = format!("agent{}", 11 + leader);
    // Up to the longest suspicion timeout: 6 × 4 × max(1, log10 5) s = 24 s without
    // confirmations from other members (they usually cut it to ~4 s).
    eventually(40, "the killed server's serfHealth critical", || {
        serf_health(&servers[survivor], &killed_node) == "critical"
    });
    // Autopilot's dead-server cleanup: the failed server leaves the Raft configuration.
    let peers_table = |s: &Agent| s.cli(&["operator", "raft", "list-peers"], &[]).1;
    eventually(10, "the failed server removed from the Raft peers", || {
        let t = peers_table(&servers[survivor]);
        t.lines().count() == 3 && !t.contains(&format!("{leader_addr} "))
    });

    // Restart it on its data dir: it rejoins (no -join needed), is added back as a voter
    // and catches up.
    servers[leader] = server(11 + leader as u8, dir.path());
    eventually(
        20,
        "the restarted server has the write made while it was down",
        || matches!(servers[leader].get("/v1/kv/after?stale&raw"), Ok((200, b)) if b == "failover"),
    );
    eventually(
        20,
        "the restarted server's serfHealth passing again",
        || serf_health(&servers[survivor], &killed_node) == "passing",
    );
    // Back as a non-voter, then promoted once stable (autopilot): only then may another
    // server go, as the rest must stay a quorum.
    eventually(30, "the restarted server a voter again", || {
        let t = peers_table(&servers[survivor]);
        t.lines().count() == 4
            && t.lines()
                .any(|l| l.contains(&format!("{leader_addr} ")) && l.contains(" true "))
    });

    // force-leave of an alive member, as serf: accepted (a leave intent), and the member,
    // being alive, refutes it and stays alive.
    let (code, out, err) = servers[survivor].cli(&["force-leave"], &["client15"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    eventually(10, "client15 alive again after refuting", || {
        let (_, out, _) = servers[survivor].cli(&["members"], &[]);
        out.lines()
            .any(|l| l.starts_with("client15") && l.contains(" alive "))
    });

    // A killed client: serfHealth critical and its service leaves DNS.
    c14.kill();
    eventually(40, "the killed client's serfHealth critical", || {
        serf_health(&servers[survivor], "client14") == "critical"
    });
    eventually(5, "web gone from DNS", || {
        dig("127.0.0.12", "web.service.consul").is_empty()
    });
    // force-leave of the failed client: left everywhere, and out of the catalog.
    let (code, _, err) = servers[survivor].cli(&["force-leave"], &["client14"]);
    assert_eq!(code, 0, "{err}");
    eventually(10, "client14 shows as left", || {
        let (_, out, _) = c15.cli(&["members"], &[]);
        out.lines()
            .any(|l| l.starts_with("client14") && l.contains(" left "))
    });
    eventually(
        10,
        "client14 deregistered from the catalog",
        || matches!(servers[survivor].get("/v1/catalog/node/client14"), Ok((200, b)) if b == "null"),
    );

    // A graceful leave: `left` in members, and the node is deregistered.
    let (code, out, _) = c15.cli(&["leave"], &[]);
    assert_eq!((code, out.as_str()), (0, "Graceful leave complete\n"));
    eventually(10, "client15 shows as left", || {
        let (_, out, _) = servers[survivor].cli(&["members"], &[]);
        out.lines()
            .any(|l| l.starts_with("client15") && l.contains(" left "))
    });
    eventually(
        10,
        "client15 deregistered from the catalog",
        || matches!(servers[survivor].get("/v1/catalog/node/client15"), Ok((200, b)) if b == "null"),
    );

    // A server that leaves gracefully also leaves the Raft configuration, so the two that
    // remain are a full quorum of their own and keep accepting writes.
    let leaving = (0..3).find(|&i| i != survivor).unwrap();
    let (code, out, _) = servers[leaving].cli(&["leave"], &[]);
    assert_eq!((code, out.as_str()), (0, "Graceful leave complete\n"));
    eventually(20, "the leaving server removed from the Raft peers", || {
        let (_, table, _) = servers[survivor].cli(&["operator", "raft", "list-peers"], &[]);
        table.lines().count() == 3 && !table.contains(&format!("{}:8300", servers[leaving].host))
    });
    eventually(10, "a write with two voters left", || {
        servers[survivor].put("/v1/kv/after-leave", b"ok").0 == 200
    });
}

fn gossip_agent(n: u8, dir: &std::path::Path, extra: &[&str]) -> Agent {
    Agent::on_loopback(n, &format!("g{n}"), dir, extra)
}

fn alive_members(a: &Agent) -> usize {
    let (_, out, _) = a.cli(&["members"], &[]);
    out.lines()
        .skip(1)
        .filter(|l| l.contains(" alive "))
        .count()
}

#[test]
fn gossip_with_a_wrong_key_or_no_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let key = "BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=";
    let (_, other_key, _) = {
        let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
            .arg("keygen")
            .output()
            .unwrap();
        (
            0,
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            (),
        )
    };
    assert_eq!(other_key.len(), 44, "keygen prints 32 bytes of base64");
    let server = gossip_agent(
        21,
        dir.path(),
        &["-server", "-bootstrap-expect=1", &format!("-encrypt={key}")],
    );
    let member = gossip_agent(
        22,
        dir.path(),
        // retry-join: the server may not listen yet when the member starts.
        &[
            &format!("-encrypt={key}"),
            "-retry-join=127.0.0.21",
            "-retry-interval=1s",
        ],
    );
    let stranger = gossip_agent(23, dir.path(), &[&format!("-encrypt={other_key}")]);
    let plain = gossip_agent(24, dir.path(), &[]);
    eventually(20, "the member with the key joined", || {
        alive_members(&server) == 2
    });
    eventually(10, "the other agents answer", || {
        alive_members(&stranger) == 1 && alive_members(&plain) == 1
    });
    for outsider in [&stranger, &plain] {
        let (code, _, err) = outsider.cli(&["join"], &["127.0.0.21"]);
        assert_eq!(code, 1, "joining with the wrong key must fail: {err}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alive_members(&server), 2, "no outsider got in");
    assert_eq!(alive_members(&member), 2);
    // A user event fired on the member reaches the server (and not the outsiders).
    let (code, out, err) = member.cli(&["event"], &["-name=deploy", "v2"]);
    assert_eq!(code, 0, "{err}");
    let id = out
        .trim()
        .strip_prefix("Event ID: ")
        .expect("Event ID line")
        .to_string();
    eventually(
        10,
        "the event listed on the server",
        || matches!(server.get("/v1/event/list?name=deploy"), Ok((200, b)) if b.contains(&id) && b.contains("\"Payload\":\"djI=\"")),
    );
    assert!(matches!(stranger.get("/v1/event/list"), Ok((200, b)) if b == "[]"));
    let (_, info, _) = server.cli(&["info"], &[]);
    assert!(info.contains("\tencrypted = true"), "{info}");
    let failures: u64 = info
        .lines()
        .find_map(|l| l.trim().strip_prefix("decrypt_failures = "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(failures > 0, "the outsiders' attempts are counted: {info}");
}

fn keygen() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .arg("keygen")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Key rotation as Consul's guide does it: install a new key everywhere, make it primary,
/// remove the old one. Afterwards an agent holding only the new key joins, one holding only
/// the old key is refused, and a restarted member keeps the rotated keyring (the keyring file
/// wins over its `-encrypt`).
#[test]
fn a_gossip_key_rotates_across_the_cluster_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (keygen(), keygen());
    let encrypt_old = format!("-encrypt={old}");
    let server = gossip_agent(
        25,
        dir.path(),
        &["-server", "-bootstrap-expect=1", &encrypt_old],
    );
    let member_args = [
        encrypt_old.as_str(),
        "-retry-join=127.0.0.25",
        "-retry-interval=1s",
    ];
    let client = gossip_agent(26, dir.path(), &member_args);
    let mut other = gossip_agent(27, dir.path(), &member_args);
    eventually(30, "three members", || alive_members(&server) == 3);
    eventually(20, "a leader", || !server.leader().is_empty());

    let (code, out, err) = client.cli(&["keyring"], &["-list"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("==> Gathering installed encryption keys...\n"),
        "{out}"
    );
    assert!(out.contains(&format!("\nWAN:\n  {old} [1/1]\n")), "{out}");
    assert!(
        out.contains(&format!("\ndc1 (LAN):\n  {old} [3/3]\n")),
        "{out}"
    );

    let (code, out, err) = client.cli(&["keyring"], &[&format!("-install={new}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "==> Installing new gossip encryption key...\n");
    let (_, out, _) = server.cli(&["keyring"], &["-list"]);
    assert!(out.contains(&format!("  {new} [3/3]")), "{out}");
    assert!(out.contains(&format!("  {old} [3/3]")), "{out}");

    let (code, out, err) = server.cli(&["keyring"], &[&format!("-use={new}")]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, out, _) = server.cli(&["keyring"], &["-list-primary"]);
    assert!(
        out.contains(&format!("\ndc1 (LAN):\n  {new} [3/3]\n")),
        "{out}"
    );

    // The primary cannot be removed; every member says so.
    let (code, _, err) = server.cli(&["keyring"], &[&format!("-remove={new}")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("dc1 (LAN) error: 3/3 nodes reported failure"),
        "{err}"
    );
    assert!(
        err.contains("g26: Removing the primary key is not allowed"),
        "{err}"
    );
    let (code, out, err) = server.cli(&["keyring"], &[&format!("-remove={old}")]);
    assert_eq!(code, 0, "{out}{err}");

    let (status, body) = client.get("/v1/operator/keyring").unwrap();
    assert_eq!(status, 200, "{body}");
    let pools: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pools[0]["WAN"], true, "{body}");
    assert_eq!(pools[1]["Datacenter"], "dc1");
    assert_eq!(pools[1]["Keys"], serde_json::json!({ new.clone(): 3 }));
    assert_eq!(
        pools[1]["PrimaryKeys"],
        serde_json::json!({ new.clone(): 3 })
    );
    assert_eq!(pools[1]["NumNodes"], 3);
    // Bad input: Consul's status codes and messages.
    let (status, body, _) = client
        .call("POST", "/v1/operator/keyring", b"{\"Key\": 7")
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.starts_with("Request decode failed"), "{body}");
    let (status, body, _) = client
        .call("PUT", "/v1/operator/keyring?local-only=true", b"{}")
        .unwrap();
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "Invalid use of local-only: local-only can only be set for list requests"
    );

    // Only the new key gets in now.
    let newcomer = gossip_agent(28, dir.path(), &[&format!("-encrypt={new}")]);
    let outsider = gossip_agent(29, dir.path(), &[&encrypt_old]);
    eventually(10, "the newcomers answer", || {
        alive_members(&newcomer) == 1 && alive_members(&outsider) == 1
    });
    let (code, _, err) = newcomer.cli(&["join"], &["127.0.0.25"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = outsider.cli(&["join"], &["127.0.0.25"]);
    assert_eq!(code, 1, "the retired key must be refused");
    eventually(10, "four members", || alive_members(&server) == 4);

    // A restart with the old -encrypt keeps the rotated keyring from serf/local.keyring.
    other.kill();
    let other = gossip_agent(27, dir.path(), &member_args);
    eventually(30, "the restarted member is back", || {
        alive_members(&other) == 4
    });
    let (status, body) = other.get("/v1/operator/keyring?local-only=1").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()[0]["Keys"],
        serde_json::json!({ new: 1 })
    );
    assert_eq!(alive_members(&server), 4, "no outsider got in");
}

/// Log compaction with real processes: a follower killed while the leader compacts past its
/// log catches up from a snapshot when it restarts, and a fourth server joining the running
/// cluster becomes a voter and receives the state as a snapshot.
#[test]
fn a_lagging_server_and_a_new_server_catch_up_from_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut servers: Vec<Agent> = (16..=18)
        .map(|n| compacting_server(n, dir.path()))
        .collect();
    eventually(30, "a leader every server agrees on", || {
        let leaders: Vec<String> = servers.iter().map(Agent::leader).collect();
        !leaders[0].is_empty() && leaders.iter().all(|l| *l == leaders[0])
    });
    let put = |a: &Agent, i: usize| {
        eventually(10, "a write accepted", || {
            a.put(&format!("/v1/kv/k{i}"), format!("v{i}").as_bytes()).0 == 200
        })
    };
    for i in 0..30 {
        put(&servers[0], i);
    }
    // Stop a follower, then write enough for the others to compact past its log.
    let leader = servers[0].leader();
    let lagging = (0..3)
        .find(|&i| !leader.starts_with(&format!("{}:", servers[i].host)))
        .unwrap();
    let writer = (lagging + 1) % 3;
    let lagging_n = 16 + lagging as u8;
    servers[lagging].kill();
    // A follower holds no entry its leader lacks: the leader's last index after the kill
    // bounds the stopped one's log.
    let leader_i = (0..3)
        .find(|&i| leader.starts_with(&format!("{}:", servers[i].host)))
        .unwrap();
    let lagging_last = raft_stat(&servers[leader_i], "last_log_index");
    let log_of = |n: u8| std::fs::read_to_string(dir.path().join(format!("agent{n}.log"))).unwrap();
    // Write until both others have snapshotted past everything the stopped one holds. The
    // number of writes that takes is not fixed: a snapshot is taken off the Raft core, and
    // entries applied meanwhile fold into the next one, so on a slow machine compactions
    // are fewer and further apart.
    let compacted_past_lagging = || {
        (0..3u8)
            .filter(|&i| i as usize != lagging)
            .all(|i| last_compacted_index(&log_of(16 + i)) > lagging_last)
    };
    let mut written = 30;
    while written < 90 || !compacted_past_lagging() {
        if written >= 600 {
            // Keep what the agents said: the temp dir goes with the test.
            let tails: Vec<String> = (0..3u8)
                .filter(|&i| i as usize != lagging)
                .map(|i| {
                    let log = log_of(16 + i);
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                    format!("--- agent{}:\n{tail}", 16 + i)
                })
                .collect();
            let stats: Vec<String> = (0..3)
                .filter(|&i| i != lagging)
                .map(|i| {
                    let stat = |name| raft_stat(&servers[i], name);
                    format!(
                        "agent{}: applied {} commit {} last {} snapshot {}",
                        16 + i,
                        stat("applied_index"),
                        stat("commit_index"),
                        stat("last_log_index"),
                        stat("last_snapshot_index")
                    )
                })
                .collect();
            panic!(
                "no compaction past index {lagging_last} after {written} writes\n{}\n{}",
                stats.join("\n"),
                tails.join("\n")
            );
        }
        put(&servers[writer], written);
        written += 1;
    }
    let last_key = written - 1;

    servers[lagging] = compacting_server(lagging_n, dir.path());
    eventually(30, "the restarted server caught up", || {
        stale_value(&servers[lagging], &format!("k{last_key}")) == Some(format!("v{last_key}"))
    });
    assert!(
        log_of(lagging_n).contains("installed a snapshot"),
        "caught up by a snapshot: {}",
        log_of(lagging_n)
    );
    assert_eq!(stale_value(&servers[lagging], "k3").as_deref(), Some("v3"));

    // A fourth server joins the running cluster: the leader adds it as a voter, and it gets
    // the state as a snapshot.
    let fourth = compacting_server(19, dir.path());
    eventually(30, "four voters", || {
        let (_, table, _) = servers[writer].cli(&["operator", "raft", "list-peers"], &[]);
        table.lines().count() == 5 && table.contains("127.0.0.19:8300")
    });
    eventually(20, "the new server has the state", || {
        stale_value(&fourth, "k42").as_deref() == Some("v42")
    });
    put(&servers[writer], written);
    eventually(10, "and follows new writes", || {
        stale_value(&fourth, &format!("k{written}")) == Some(format!("v{written}"))
    });
}
