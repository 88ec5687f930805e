//! Config files: JSON and HCL services/checks registered at start, merge order, `validate`.

mod support;

use std::process::Command;

use support::{eventually, free_port, health_checks, Agent};

#[test]
fn services_from_config_dir_and_hcl_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-web.json"),
        r#"{"service": {"name": "nginx", "tags": ["web"], "port": 80}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-more.json"),
        r#"{"services": [{"name": "api", "port": 9000, "check": {"id": "api-ttl", "ttl": "30s"}}],
            "node_name": "from-file", "datacenter": "dc7"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "skipped: not .json or .hcl").unwrap();
    let hcl = dir.path().join("extra.hcl");
    std::fs::write(&hcl, "service {\n  name = \"cache\"\n  port = 6379\n}\ncheck {\n  id = \"node-ttl\"\n  name = \"node ttl\"\n  ttl = \"30s\"\n}\n").unwrap();
    let conf_dir = dir.path().to_str().unwrap().to_string();
    // -node on the command line beats node_name in a file; dc comes from the file.
    let agent = Agent::start_with(
        free_port(),
        None,
        &[
            "-config-dir",
            &conf_dir,
            "-config-file",
            hcl.to_str().unwrap(),
        ],
    );
    let self_: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/agent/self").unwrap().1).unwrap();
    assert_eq!(self_["Config"]["NodeName"], "test-node");
    assert_eq!(self_["Config"]["Datacenter"], "dc7");
    eventually(5, "config services in catalog", || {
        let (_, body) = agent.get("/v1/catalog/services").unwrap();
        ["nginx", "api", "cache"]
            .iter()
            .all(|s| body.contains(&format!("\"{s}\"")))
    });
    let checks: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/agent/checks").unwrap().1).unwrap();
    assert_eq!(checks["api-ttl"]["ServiceID"], "api");
    assert_eq!(checks["node-ttl"]["ServiceID"], "");
    assert_eq!(agent.put("/v1/agent/check/pass/api-ttl", b"").0, 200);
    eventually(5, "api passing", || {
        health_checks(&agent, "api")
            .iter()
            .any(|(id, s, _)| id == "api-ttl" && s == "passing")
    });
}

#[test]
fn validate_reports_like_consul() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"server": true, "data_dir": "/nonexistent/yet", "node_name": "n1",
            "encrypt": "BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=", "ca_path": "/x"}"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"server": true, "data_dir": "/d", "bogus": 1}"#).unwrap();
    let run = |path: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_tribune"))
            .arg("validate")
            .arg(path)
            .output()
            .unwrap()
    };
    let out = run(&good);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with("Configuration is valid!\n"), "{stdout}");
    assert!(
        stdout.contains("config keys accepted but not acted on yet: ca_path\n"),
        "{stdout}"
    );
    let out = run(&bad);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Config validation failed: invalid config key bogus\n"
    );
    assert!(
        !std::path::Path::new("/nonexistent/yet").exists(),
        "validate must not create the data dir"
    );
    // An unknown key inside a block is named with its full path.
    let nested = dir.path().join("nested.json");
    std::fs::write(
        &nested,
        r#"{"server": true, "data_dir": "/d", "acl": {"enabled": true, "bogus": 1}, "tls": {"https": {"verify_incomming": true}}}"#,
    )
    .unwrap();
    let out = run(&nested);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Config validation failed: invalid config key acl.bogus\ninvalid config key tls.https.verify_incomming\n"
    );
    let bad_key = dir.path().join("bad_key.json");
    std::fs::write(
        &bad_key,
        r#"{"server": true, "data_dir": "/d", "encrypt": "AAAA"}"#,
    )
    .unwrap();
    let out = run(&bad_key);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("key size must be"),
        "a gossip key of the wrong size is refused"
    );
}
