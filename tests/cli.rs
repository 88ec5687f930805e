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
