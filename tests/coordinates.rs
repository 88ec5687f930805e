//! Network coordinates with real processes: a server on 127.0.0.121 and two client agents on
//! .122 and .123, sending their coordinates every ~0.3 s (Consul's non-user
//! `sync_coordinate_interval_min`, shortened through a config file). Their Vivaldi coordinates
//! come from gossip probes and reach `/v1/coordinate/nodes`; `?near=` sorts the catalog and
//! health endpoints by them, `tribune rtt` estimates from them. Nodes registered through the
//! catalog get coordinates put by hand at known places, so that the orders are exact.

mod support;

use serde_json::Value;
use support::{eventually, Agent};

fn agent(n: u8, dir: &std::path::Path, extra: &[&str]) -> Agent {
    // One file per agent: a shared one rewritten while the previous agent reads it at start
    // could be read empty.
    let config = dir.join(format!("coordinates-{n}.json"));
    std::fs::write(&config, r#"{"sync_coordinate_interval_min": "300ms"}"#).unwrap();
    let mut args = vec![format!("-config-file={}", config.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let name = if n == 121 {
        "s121".into()
    } else {
        format!("c{n}")
    };
    Agent::on_loopback(n, &name, dir, &args)
}

fn json(a: &Agent, path: &str) -> Value {
    let (code, body) = a.get(path).unwrap();
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap().to_string())
        .collect()
}

/// A coordinate `x` seconds along the first axis, at the minimum height, no adjustment.
fn coord_at(x: f64) -> String {
    format!(r#"{{"Vec":[{x},0,0,0,0,0,0,0],"Error":0.2,"Adjustment":0,"Height":0.00001}}"#)
}

#[test]
fn coordinates_from_gossip_reach_the_catalog_and_sort_near_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = agent(121, dir.path(), &["-server", "-bootstrap-expect=1"]);
    let join = ["-retry-join=127.0.0.121", "-retry-interval=1s"];
    let c122 = agent(122, dir.path(), &join);
    let _c123 = agent(123, dir.path(), &join);

    // Every agent's own coordinate lands in the catalog once probes have moved it off the
    // starting error (1.5).
    eventually(
        60,
        "every agent's measured coordinate in the catalog",
        || {
            let Ok((200, body)) = server.get("/v1/coordinate/nodes") else {
                return false;
            };
            let v: Value = serde_json::from_str(&body).unwrap();
            let entries = v.as_array().unwrap();
            ["s121", "c122", "c123"].iter().all(|n| {
                entries.iter().any(|e| {
                    e["Node"] == *n
                        && e["Segment"] == ""
                        && e["Coord"]["Vec"].as_array().map(Vec::len) == Some(8)
                        && e["Coord"]["Error"].as_f64().is_some_and(|err| err < 1.5)
                        && e["Coord"]["Height"].as_f64().is_some_and(|h| h >= 1e-5)
                })
            })
        },
    );
    let (code, _, headers) = server.call("GET", "/v1/coordinate/nodes", b"").unwrap();
    assert_eq!(code, 200);
    assert!(support::header(&headers, "X-Consul-Index").is_some());
    let one = json(&c122, "/v1/coordinate/node/c123");
    assert_eq!(names(&one, "Node"), ["c123"]);
    let (code, body) = server.get("/v1/coordinate/node/nope").unwrap();
    assert_eq!((code, body.as_str()), (404, ""));
    // Our own coordinate in agent/self, as the Go client reads it.
    let me = json(&c122, "/v1/agent/self");
    assert_eq!(me["Coord"]["Vec"].as_array().map(Vec::len), Some(8));

    // Three catalog nodes, each with a coordinate put at a known place on one axis.
    for (node, x) in [("far", 0.010), ("near", 0.0), ("mid", 0.005)] {
        let register = format!(
            r#"{{"Node":"{node}","Address":"10.0.0.1","NodeMeta":{{"placed":"yes"}},
                "Service":{{"Service":"placed","Port":80}},
                "Check":{{"CheckID":"c-{node}","Name":"c","Status":"passing","ServiceID":"placed"}}}}"#
        );
        assert_eq!(
            server.put("/v1/catalog/register", register.as_bytes()).0,
            200
        );
        let update = format!(r#"{{"Node":"{node}","Coord":{}}}"#, coord_at(x));
        assert_eq!(c122.put("/v1/coordinate/update", update.as_bytes()).0, 200);
    }
    eventually(
        10,
        "the placed coordinates stored",
        || matches!(server.get("/v1/coordinate/node/mid"), Ok((200, b)) if b.contains("0.005")),
    );
    // A coordinate for a node the catalog does not hold is dropped, as Consul drops it.
    let ghost = format!(r#"{{"Node":"ghost","Coord":{}}}"#, coord_at(0.0));
    assert_eq!(server.put("/v1/coordinate/update", ghost.as_bytes()).0, 200);
    // Bad coordinates are refused with Consul's words, and change nothing.
    let (code, body) = server.put(
        "/v1/coordinate/update",
        br#"{"Node":"mid","Coord":{"Vec":[1,2,3],"Error":0.1,"Adjustment":0,"Height":0.1}}"#,
    );
    assert_eq!(code, 500);
    assert!(body.starts_with("rejected bad coordinate"), "{body}");
    let (code, body) = server.put("/v1/coordinate/update", br#"{"Node":"mid","Coord":"x"}"#);
    assert_eq!(code, 400, "{body}");
    assert!(body.starts_with("Request decode failed"), "{body}");
    assert!(matches!(
        server.get("/v1/coordinate/node/ghost"),
        Ok((404, _))
    ));
    assert!(matches!(server.get("/v1/coordinate/node/mid"), Ok((200, b)) if b.contains("0.005")));

    // ?near= orders by estimated round trip from the named node; by name without it.
    let by_name = ["far", "mid", "near"];
    let from_far = ["far", "mid", "near"];
    let from_near = ["near", "mid", "far"];
    let placed = "/v1/catalog/nodes?node-meta=placed:yes";
    assert_eq!(names(&json(&server, placed), "Node"), by_name);
    assert_eq!(
        names(&json(&server, &format!("{placed}&near=near")), "Node"),
        from_near
    );
    assert_eq!(
        names(&json(&c122, &format!("{placed}&near=far")), "Node"),
        from_far
    );
    // An unknown source leaves the order alone.
    assert_eq!(
        names(&json(&server, &format!("{placed}&near=nope")), "Node"),
        by_name
    );
    // From the agent itself (`_agent`, near the origin on loopback): the nearest first.
    assert_eq!(
        names(&json(&c122, &format!("{placed}&near=_agent")), "Node"),
        from_near
    );
    assert_eq!(
        names(
            &json(&server, "/v1/catalog/service/placed?near=near"),
            "Node"
        ),
        from_near
    );
    let entries = json(&c122, "/v1/health/service/placed?near=far");
    let entry_nodes: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Node"]["Node"].as_str().unwrap())
        .collect();
    assert_eq!(entry_nodes, from_far);
    assert_eq!(
        names(&json(&server, "/v1/health/checks/placed?near=near"), "Node"),
        from_near
    );

    // `tribune rtt`: the distance along the axis plus both heights.
    let (code, out, err) = server.cli(&["rtt"], &["near", "far"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        "Estimated near <-> far rtt: 10.020 ms (using LAN coordinates)"
    );
    // One node: from the agent's own node.
    let (code, out, err) = c122.cli(&["rtt"], &["c123"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Estimated c123 <-> c122 rtt: "), "{out}");
    assert!(
        out.trim_end().ends_with(" ms (using LAN coordinates)"),
        "{out}"
    );
    let (code, _, err) = server.cli(&["rtt"], &["ghost", "far"]);
    assert_eq!(
        (code, err.trim()),
        (1, "Could not find a coordinate for node \"ghost\"")
    );
    let (code, _, err) = server.cli(&["rtt"], &[]);
    assert_eq!(
        (code, err.trim()),
        (1, "One or two node names must be specified")
    );
    // `catalog nodes -near` prints the server's order.
    let (code, out, _) = server.cli(
        &["catalog", "nodes"],
        &["-near=far", "-node-meta=placed:yes"],
    );
    assert_eq!(code, 0);
    let rows: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(rows, from_far);

    // Snapshots carry coordinates: one `CoordinateBatchUpdate` record per node, as Consul's.
    let snap = dir.path().join("coords.snap");
    let snap_arg = snap.display().to_string();
    let (code, out, err) = c122.cli(&["snapshot", "save"], &[&snap_arg]);
    assert_eq!(code, 0, "{out}{err}");
    // `inspect` is offline (no -http-addr), as Consul's.
    let inspect = std::process::Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(["snapshot", "inspect", "-format=json", &snap_arg])
        .output()
        .unwrap();
    assert!(inspect.status.success());
    let out = String::from_utf8_lossy(&inspect.stdout).into_owned();
    let stats: Value = serde_json::from_str(&out).unwrap();
    let coords = stats["Stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "CoordinateBatchUpdate")
        .unwrap()["Count"]
        .as_u64()
        .unwrap();
    assert_eq!(coords, 6, "three agents and three placed nodes: {out}");

    // A node's coordinate goes with the node, and comes back with a restore.
    assert_eq!(
        server.put("/v1/catalog/deregister", br#"{"Node":"mid"}"#).0,
        200
    );
    eventually(10, "the deregistered node's coordinate gone", || {
        matches!(server.get("/v1/coordinate/node/mid"), Ok((404, _)))
    });
    let (code, out, err) = server.cli(&["snapshot", "restore"], &[&snap_arg]);
    assert_eq!(code, 0, "{out}{err}");
    eventually(
        10,
        "the restored coordinate",
        || matches!(server.get("/v1/coordinate/node/mid"), Ok((200, b)) if b.contains("0.005")),
    );
}

#[test]
fn disable_coordinates_answers_401_and_sends_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("off.json");
    std::fs::write(&config, r#"{"disable_coordinates": true}"#).unwrap();
    let off = Agent::on_loopback(
        124,
        "off124",
        dir.path(),
        &[
            "-server",
            "-bootstrap-expect=1",
            &format!("-config-file={}", config.display()),
        ],
    );
    eventually(20, "a leader", || !off.leader().is_empty());
    for path in [
        "/v1/coordinate/nodes",
        "/v1/coordinate/datacenters",
        "/v1/coordinate/node/x",
    ] {
        let (code, body) = off.get(path).unwrap();
        assert_eq!(
            (code, body.trim()),
            (401, "Coordinate support disabled"),
            "{path}"
        );
    }
    let (code, body) = off.put("/v1/coordinate/update", b"{}");
    assert_eq!((code, body.trim()), (401, "Coordinate support disabled"));
    assert!(json(&off, "/v1/agent/self")["Coord"].is_null());
}
