//! The `tribune kv` CLI against a real agent: Consul's flags and output.

mod support;

use std::process::Command;

use support::{free_port, Agent};

fn tribune(port: u16, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(args)
        .env("CONSUL_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn kv_cli_round_trip() {
    let agent = Agent::start(free_port(), None);
    let p = agent.port;
    assert_eq!(
        tribune(p, &["kv", "put", "redis/config/minconns", "1"]).1,
        "Success! Data written to: redis/config/minconns\n"
    );
    assert_eq!(
        tribune(
            p,
            &[
                "kv",
                "put",
                "-flags=42",
                "redis/config/users/admin",
                "abcd1234"
            ]
        )
        .0,
        0
    );
    assert_eq!(tribune(p, &["kv", "get", "redis/config/minconns"]).1, "1\n");
    let (code, _, err) = tribune(p, &["kv", "get", "nope"]);
    assert_eq!((code, err.as_str()), (1, "Error! No key exists at: nope\n"));
    assert_eq!(
        tribune(p, &["kv", "get", "-recurse", "redis"]).1,
        "redis/config/minconns:1\nredis/config/users/admin:abcd1234\n"
    );
    assert_eq!(
        tribune(p, &["kv", "get", "-keys", "redis/config/"]).1,
        "redis/config/minconns\nredis/config/users/\n"
    );
    let detailed = tribune(p, &["kv", "get", "-detailed", "redis/config/users/admin"]).1;
    assert!(detailed.contains("Flags            42\n"), "{detailed}");
    assert!(detailed.contains("Session          -\n"), "{detailed}");
    assert!(
        detailed.ends_with("Value            abcd1234\n"),
        "{detailed}"
    );
    let (code, _, err) = tribune(
        p,
        &[
            "kv",
            "put",
            "-cas",
            "-modify-index=999",
            "redis/config/minconns",
            "2",
        ],
    );
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "Error! Did not write to redis/config/minconns: CAS failed\n"
        )
    );

    // export → delete → import restores the same data.
    let (_, exported, _) = tribune(p, &["kv", "export", "redis/"]);
    assert!(
        exported.contains("\t\t\"key\": \"redis/config/minconns\""),
        "{exported}"
    );
    assert_eq!(
        tribune(p, &["kv", "delete", "-recurse", "redis"]).1,
        "Success! Deleted keys with prefix: redis\n"
    );
    assert_eq!(tribune(p, &["kv", "get", "-recurse", "redis"]).1, "");
    let file = std::env::temp_dir().join(format!("tribune-export-{p}.json"));
    std::fs::write(&file, &exported).unwrap();
    let (code, out, _) = tribune(p, &["kv", "import", &format!("@{}", file.display())]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Imported: redis/config/minconns\nImported: redis/config/users/admin\n"
    );
    assert_eq!(
        tribune(p, &["kv", "get", "redis/config/users/admin"]).1,
        "abcd1234\n"
    );
    assert!(
        tribune(p, &["kv", "get", "-detailed", "redis/config/users/admin"])
            .1
            .contains("Flags            42\n")
    );
    assert_eq!(
        tribune(p, &["kv", "delete", "redis/config/minconns"]).1,
        "Success! Deleted key: redis/config/minconns\n"
    );
    std::fs::remove_file(file).ok();

    // -http-addr beats CONSUL_HTTP_ADDR.
    let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args([
            "kv",
            "get",
            &format!("-http-addr=127.0.0.1:{p}"),
            "redis/config/users/admin",
        ])
        .env("CONSUL_HTTP_ADDR", "127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "abcd1234\n");
    assert!(tribune(p, &["version"])
        .1
        .starts_with("Consul v1.21.0\nRevision tribune-"));
}

#[test]
fn catalog_services_members_maint_cli() {
    let agent = Agent::start(free_port(), None);
    let p = agent.port;
    let (code, out, _) = tribune(p, &["members"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "Node",
            "Address",
            "Status",
            "Type",
            "Build",
            "Protocol",
            "DC",
            "Partition",
            "Segment"
        ]
    );
    let mut row = lines[1].split_whitespace().collect::<Vec<_>>();
    // The test agent gossips on a port of its own (not 8301).
    assert!(row[1].starts_with("127.0.0.1:"), "{row:?}");
    row[1] = "127.0.0.1:<serf_lan>";
    assert_eq!(
        row,
        [
            "test-node",
            "127.0.0.1:<serf_lan>",
            "alive",
            "server",
            "1.21.0",
            "2",
            "dc1",
            "default",
            "<all>"
        ]
    );
    assert_eq!(
        tribune(p, &["members", "-status=failed"]).0,
        2,
        "no match exits 2"
    );
    assert_eq!(tribune(p, &["catalog", "datacenters"]).1, "dc1\n");
    assert_eq!(
        tribune(
            p,
            &[
                "services",
                "register",
                "-name=web",
                "-port=80",
                "-tag=a",
                "-tag=b"
            ]
        )
        .1,
        "Registered service: web\n"
    );
    support::eventually(5, "web in catalog", || {
        tribune(p, &["catalog", "services"]).1 == "consul\nweb\n"
    });
    assert_eq!(
        tribune(p, &["catalog", "services", "-tags"]).1,
        "consul\nweb     a,b\n"
    );
    let nodes = tribune(p, &["catalog", "nodes"]).1;
    assert!(
        nodes.starts_with("Node       ID        Address    DC\ntest-node  "),
        "{nodes}"
    );
    assert_eq!(
        tribune(p, &["maint", "-enable", "-reason=upgrade"]).1,
        "Node maintenance is now enabled\n"
    );
    assert_eq!(
        tribune(p, &["maint"]).1,
        "Node:\n  Name:   test-node\n  Reason: upgrade\n\n"
    );
    assert_eq!(
        tribune(p, &["maint", "-disable"]).1,
        "Node maintenance is now disabled\n"
    );
    assert_eq!(tribune(p, &["maint"]).1, "");
    assert_eq!(
        tribune(p, &["services", "deregister", "-id=web"]).1,
        "Deregistered service: web\n"
    );
    let (code, _, err) = tribune(p, &["services", "deregister", "-id=web"]);
    assert_eq!(code, 1);
    assert!(err.contains("Unexpected response code: 404"), "{err}");
}

/// `watch`: without a child it prints the current data (Consul's 4-space JSON) and exits; with
/// one it runs the child with the data on stdin and `CONSUL_INDEX` at the start and on each
/// change, until stopped.
#[test]
fn watch_prints_once_or_runs_a_handler_on_each_change() {
    let port = free_port();
    let agent = Agent::start(port, None);
    assert_eq!(agent.put("/v1/kv/w", b"one").0, 200);
    let (code, out, err) = tribune(port, &["watch", "-type=key", "-key=w"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("{\n    \"LockIndex\": 0,\n    \"Key\": \"w\","),
        "{out}"
    );
    assert!(out.contains("\"Value\": \"b25l\""), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("handler.log");
    let handler = format!(
        "cat >> {0}; echo \"index=$CONSUL_INDEX\" >> {0}",
        log.display()
    );
    /// Stops the watch even when an assertion fails (it would hold the test's stdout open).
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _watch = Stop(
        Command::new(env!("CARGO_BIN_EXE_tribune"))
            .args(["watch", &format!("-http-addr=127.0.0.1:{port}")])
            .args(["-type=keyprefix", "-prefix=w", &handler])
            .spawn()
            .unwrap(),
    );
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    support::eventually(10, "the handler ran for the current data", || {
        read().contains("b25l")
    });
    assert_eq!(agent.put("/v1/kv/w2", b"two").0, 200);
    support::eventually(10, "the handler ran again on the change", || {
        read().matches("index=").count() == 2 && read().contains("dHdv")
    });
    // Each run: the data as compact JSON on one line, then the index it was read at.
    let lines: Vec<String> = read().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[2].starts_with("[{\"LockIndex\":0,\"Key\":\"w\""),
        "{lines:?}"
    );
    let (_, _, h) = agent.call("GET", "/v1/kv/w?recurse", b"").unwrap();
    let index = support::header(&h, "X-Consul-Index").unwrap().to_string();
    assert_eq!(lines[3], format!("index={index}"), "{lines:?}");
    let (code, _, err) = tribune(port, &["watch", "-type=nonsense"]);
    assert_eq!((code, err.trim()), (1, "Unsupported watch type: nonsense"));
}
