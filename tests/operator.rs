//! Operator endpoints on real servers: `/v1/operator/raft/transfer-leader` on three servers
//! on 127.0.0.151–.153 (this file's addresses), to the most caught-up voter and to one named
//! by its ID, and Consul's error with no other voter.

mod support;

use serde_json::Value;
use support::{eventually, free_port, Agent};

fn server(n: u8, dir: &std::path::Path) -> Agent {
    let args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.151",
        "-retry-interval=1s",
    ];
    Agent::on_loopback(n, &format!("op{n}"), dir, &args)
}

fn post(agent: &Agent, path: &str) -> (u16, String) {
    let (s, b, _) = agent.call("POST", path, b"").expect("POST");
    (s, b)
}

/// (leader's node ID, every server's node ID) from the Raft configuration.
fn configuration(agent: &Agent) -> Option<(String, Vec<String>)> {
    let (status, body) = agent.get("/v1/operator/raft/configuration").ok()?;
    let v: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
    let servers = v["Servers"].as_array()?;
    let id = |s: &Value| s["ID"].as_str().unwrap_or_default().to_string();
    let leader = servers.iter().find(|s| s["Leader"] == true).map(id)?;
    Some((leader, servers.iter().map(id).collect()))
}

#[test]
fn leadership_moves_where_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let servers: Vec<Agent> = (151..=153).map(|n| server(n, dir.path())).collect();
    let mut first = None;
    eventually(30, "three voters and a leader", || {
        first = configuration(&servers[0]).filter(|(_, all)| all.len() == 3);
        first.is_some()
    });
    let (leader, all) = first.unwrap();

    // No ID: to another voter.
    let (s, body) = post(&servers[0], "/v1/operator/raft/transfer-leader");
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        serde_json::json!({"Success": true})
    );
    let mut now = String::new();
    eventually(10, "a new leader", || {
        now = configuration(&servers[1])
            .map(|(l, _)| l)
            .unwrap_or_default();
        !now.is_empty() && now != leader
    });

    // To the one named: the first leader again.
    let (s, body) = post(
        &servers[2],
        &format!("/v1/operator/raft/transfer-leader?id={leader}"),
    );
    assert_eq!(s, 200, "{body}");
    eventually(10, "the named server leads", || {
        configuration(&servers[2]).is_some_and(|(l, _)| l == leader)
    });
    assert!(all.contains(&now));

    // An ID that is no server's.
    let (s, body) = post(
        &servers[0],
        "/v1/operator/raft/transfer-leader?id=00000000-0000-0000-0000-000000000099",
    );
    assert_eq!(s, 500);
    assert_eq!(
        body.trim(),
        "id \"00000000-0000-0000-0000-000000000099\" was not found in the Raft configuration"
    );
}

#[test]
fn a_single_server_has_no_one_to_hand_leadership_to() {
    let agent = Agent::start(free_port(), None);
    let (s, body) = post(&agent, "/v1/operator/raft/transfer-leader");
    assert_eq!(
        (s, body.trim()),
        (500, "failed to transfer leadership: cannot find peer")
    );
}

/// Autopilot's two stages: a server that joins a running cluster is a non-voter first, and is
/// promoted once it has been healthy for `server_stabilization_time` (3 s here); the autopilot
/// APIs show it. Three servers on 127.0.0.155–.157 and a fourth on .158.
#[test]
fn a_new_server_is_a_non_voter_until_autopilot_finds_it_stable() {
    let dir = tempfile::tempdir().unwrap();
    let start = |n: u8| {
        let conf = dir.path().join(format!("autopilot-{n}.json"));
        std::fs::write(
            &conf,
            r#"{"autopilot": {"server_stabilization_time": "3s"}}"#,
        )
        .unwrap();
        let args = [
            "-server",
            "-bootstrap-expect=3",
            "-retry-join=127.0.0.155",
            "-retry-interval=1s",
            &format!("-config-file={}", conf.display()),
        ];
        Agent::on_loopback(n, &format!("ap{n}"), dir.path(), &args)
    };
    let servers: Vec<Agent> = (155..=157).map(start).collect();
    eventually(30, "three voters and a leader", || {
        configuration(&servers[0]).is_some_and(|(_, all)| all.len() == 3)
    });
    let (_, body) = servers[0]
        .get("/v1/operator/autopilot/configuration")
        .unwrap();
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["ServerStabilizationTime"], "3s", "{body}");

    let _fourth = start(158);
    let voter_of_fourth = || -> Option<bool> {
        let (_, body) = servers[0].get("/v1/operator/raft/configuration").ok()?;
        let v: Value = serde_json::from_str(&body).ok()?;
        v["Servers"]
            .as_array()?
            .iter()
            .find(|s| s["Node"] == "ap158")
            .and_then(|s| s["Voter"].as_bool())
    };
    eventually(30, "the fourth server in the configuration", || {
        voter_of_fourth().is_some()
    });
    assert_eq!(voter_of_fourth(), Some(false), "a non-voter first");
    let (code, table, _) = servers[0].cli(&["operator", "raft", "list-peers"], &[]);
    assert_eq!(code, 0);
    let row = table.lines().find(|l| l.starts_with("ap158")).unwrap();
    assert!(row.contains(" false "), "{table}");
    eventually(30, "promoted once stable", || {
        voter_of_fourth() == Some(true)
    });
    let (_, body) = servers[0].get("/v1/operator/autopilot/health").unwrap();
    let health: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["Servers"].as_array().unwrap().len(), 4, "{body}");
    assert_eq!(health["FailureTolerance"], 1, "{body}");
}
