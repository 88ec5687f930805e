//! Two datacenters joined over the WAN pool, with real processes: dc1 (a server on
//! 127.0.0.101 and a client agent on .103) and dc2 (a server on .102, which retry-joins dc1's
//! server over WAN). Each answers the other's `?dc=` requests and DNS names, and lists both in
//! `catalog datacenters` and `members -wan`. Gossip is encrypted, and `keyring -list` through
//! the client agent gathers every pool: the WAN pool and both datacenters' LAN pools.

mod support;

use support::{dig, eventually, Agent};

const KEY: &str = "BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=";

fn server(n: u8, dc: &str, dir: &std::path::Path, extra: &[&str]) -> Agent {
    let mut args = vec![
        "-server".to_string(),
        "-bootstrap-expect=1".to_string(),
        format!("-datacenter={dc}"),
        format!("-encrypt={KEY}"),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Agent::on_loopback(n, &format!("s{n}"), dir, &args)
}

#[test]
fn two_datacenters_answer_each_others_requests() {
    let dir = tempfile::tempdir().unwrap();
    let s1 = server(101, "dc1", dir.path(), &[]);
    let s2 = server(
        102,
        "dc2",
        dir.path(),
        &["-retry-join-wan=127.0.0.101", "-retry-interval=1s"],
    );
    let client = Agent::on_loopback(
        103,
        "c103",
        dir.path(),
        &[
            "-datacenter=dc1",
            &format!("-encrypt={KEY}"),
            "-retry-join=127.0.0.101",
            "-retry-interval=1s",
        ],
    );
    eventually(30, "both servers in the WAN pool, alive", || {
        let (code, out, _) = s1.cli(&["members"], &["-wan"]);
        code == 0
            && out
                .lines()
                .any(|l| l.starts_with("s101.dc1 ") && l.contains(" alive "))
            && out
                .lines()
                .any(|l| l.starts_with("s102.dc2 ") && l.contains(" alive "))
    });
    for (agent, want) in [
        (&s1, r#"["dc1","dc2"]"#),
        (&s2, r#"["dc2","dc1"]"#),
        (&client, r#"["dc1","dc2"]"#),
    ] {
        eventually(
            20,
            "both datacenters listed, ours first",
            || matches!(agent.get("/v1/catalog/datacenters"), Ok((200, b)) if b.replace(char::is_whitespace, "") == want),
        );
    }

    // WAN coordinates: each datacenter's servers as the WAN pool measured them, and `rtt -wan`
    // between the two servers (through dc1's client, which forwards to its server).
    eventually(30, "both servers' WAN coordinates", || {
        let Ok((200, body)) = client.get("/v1/coordinate/datacenters") else {
            return false;
        };
        let maps: serde_json::Value = serde_json::from_str(&body).unwrap();
        ["dc1", "dc2"].iter().all(|dc| {
            maps.as_array().unwrap().iter().any(|m| {
                m["Datacenter"] == *dc
                    && m["AreaID"] == "wan"
                    && m["Coordinates"].as_array().is_some_and(|c| {
                        // Node names without the WAN pool's `.<dc>`, as Consul lists them.
                        let node = if *dc == "dc1" { "s101" } else { "s102" };
                        c.len() == 1
                            && c[0]["Node"] == node
                            && c[0]["Coord"]["Vec"].as_array().map(Vec::len) == Some(8)
                    })
            })
        })
    });
    let (code, out, err) = s1.cli(&["rtt"], &["-wan", "s102.dc2"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Estimated s102.dc2 <-> s101.dc1 rtt: ")
            && out.trim_end().ends_with(" ms (using WAN coordinates)"),
        "{out}"
    );
    let (code, _, err) = s1.cli(&["rtt"], &["-wan", "s102"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "Node names must be specified as <node name>.<datacenter> with -wan"
        )
    );

    // The keyring of every pool, counted per pool (dc2's LAN pool through dc2's server).
    eventually(20, "every pool's keyring", || {
        let (code, out, _) = client.cli(&["keyring"], &["-list"]);
        code == 0
            && out.contains(&format!("\nWAN:\n  {KEY} [2/2]\n"))
            && out.contains(&format!("\ndc1 (LAN):\n  {KEY} [2/2]\n"))
            && out.contains(&format!("\ndc2 (LAN):\n  {KEY} [1/1]\n"))
    });

    // A write with ?dc=dc2 through dc1's client agent lands in dc2 only.
    eventually(20, "a write into dc2 through dc1", || {
        matches!(
            client.call("PUT", "/v1/kv/where?dc=dc2", b"dc2"),
            Ok((200, _, _))
        )
    });
    assert!(matches!(s2.get("/v1/kv/where?raw"), Ok((200, b)) if b == "dc2"));
    assert!(matches!(s1.get("/v1/kv/where"), Ok((404, _))));
    assert!(matches!(client.get("/v1/kv/where?dc=dc2&raw"), Ok((200, b)) if b == "dc2"));
    // And the other way: dc2 reads dc1's catalog.
    eventually(
        20,
        "dc1's nodes through dc2",
        || matches!(s2.get("/v1/catalog/nodes?dc=dc1"), Ok((200, b)) if b.contains("\"c103\"") && b.contains("\"s101\"")),
    );
    let (code, body, _) = s1.call("GET", "/v1/kv/where?dc=nowhere", b"").unwrap();
    assert_eq!((code, body.trim()), (500, "No path to datacenter"));

    // DNS: dc2's names answered through dc1's server and client.
    for ip in ["127.0.0.101", "127.0.0.103"] {
        eventually(10, "consul.service.dc2.consul from dc1", || {
            dig(ip, "consul.service.dc2.consul") == ["127.0.0.102"]
        });
    }
    assert_eq!(dig("127.0.0.102", "s101.node.dc1.consul"), ["127.0.0.101"]);
    assert!(dig("127.0.0.101", "consul.service.dc9.consul").is_empty());
}

/// Consul's WAN flooding: three dc1 servers (127.0.0.104–.106) and a dc2 server (.107) that
/// WAN-joins the first dc1 server only; the other two dc1 servers still learn of dc2 (every
/// server of a datacenter joins the WAN pool once one of them has) and answer `?dc=dc2`.
#[test]
fn every_server_of_a_datacenter_joins_the_wan_pool() {
    let dir = tempfile::tempdir().unwrap();
    let dc1: Vec<Agent> = (104..=106)
        .map(|n| {
            Agent::on_loopback(
                n,
                &format!("s{n}"),
                dir.path(),
                &[
                    "-server",
                    "-bootstrap-expect=3",
                    "-datacenter=dc1",
                    "-retry-join=127.0.0.104",
                    "-retry-interval=1s",
                ],
            )
        })
        .collect();
    let dc2 = Agent::on_loopback(
        107,
        "s107",
        dir.path(),
        &[
            "-server",
            "-bootstrap-expect=1",
            "-datacenter=dc2",
            "-retry-join-wan=127.0.0.104",
            "-retry-interval=1s",
        ],
    );
    for s in &dc1[1..] {
        eventually(30, "dc2 in this dc1 server's WAN pool", || {
            let (code, out, _) = s.cli(&["members"], &["-wan"]);
            code == 0
                && out
                    .lines()
                    .any(|l| l.starts_with("s107.dc2 ") && l.contains(" alive "))
        });
    }
    assert_eq!(dc2.put("/v1/kv/from-dc2", b"yes").0, 200);
    eventually(
        15,
        "a dc1 server that never joined dc2 answers ?dc=dc2",
        || matches!(dc1[2].get("/v1/kv/from-dc2?dc=dc2&raw"), Ok((200, b)) if b == "yes"),
    );
}
