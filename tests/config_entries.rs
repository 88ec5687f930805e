//! Config entries (issue 17) with a real agent: `tribune config write|read|list|delete` (HCL
//! and JSON files, `-cas`), Consul's refusals, and entries surviving a snapshot and restore.

mod support;

use support::{free_port, Agent};

#[test]
fn config_entries_through_the_cli_and_a_snapshot() {
    let agent = Agent::start_with(free_port(), None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let hcl = dir.path().join("web.hcl");
    std::fs::write(
        &hcl,
        "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"http\"\n",
    )
    .unwrap();
    let file = hcl.display().to_string();
    let (code, out, err) = agent.cli(&["config", "write"], &[&file]);
    assert_eq!(
        (code, out.as_str()),
        (0, "Config entry written: service-defaults/web\n"),
        "{err}"
    );

    let (code, out, _) = agent.cli(
        &["config", "read"],
        &["-kind=service-defaults", "-name=web"],
    );
    assert_eq!(code, 0);
    let entry: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(entry["Protocol"], "http");
    let index = entry["ModifyIndex"].as_u64().unwrap();

    // A stale -modify-index changes nothing; the right one writes.
    let json = dir.path().join("web.json");
    std::fs::write(
        &json,
        r#"{"Kind":"service-defaults","Name":"web","Protocol":"grpc"}"#,
    )
    .unwrap();
    let json = json.display().to_string();
    let stale = format!("-modify-index={}", index + 100);
    let (code, _, err) = agent.cli(&["config", "write"], &["-cas", &stale, &json]);
    assert_eq!(
        (code, err.as_str()),
        (1, "Config entry not updated: service-defaults/web\n")
    );
    let current = format!("-modify-index={index}");
    assert_eq!(
        agent
            .cli(&["config", "write"], &["-cas", &current, &json])
            .0,
        0
    );
    let (_, out, _) = agent.cli(&["config", "list"], &["-kind=service-defaults"]);
    assert_eq!(out, "web\n");

    // Saved in a snapshot: deleted, then restored.
    let snap = dir.path().join("backup.snap").display().to_string();
    assert_eq!(agent.cli(&["snapshot", "save"], &[&snap]).0, 0);
    let (code, out, _) = agent.cli(
        &["config", "delete"],
        &["-kind=service-defaults", "-name=web"],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Config entry deleted: service-defaults/web\n")
    );
    let (status, body, _) = agent
        .call("GET", "/v1/config/service-defaults/web", b"")
        .unwrap();
    assert_eq!(
        (status, body.as_str()),
        (
            404,
            "Config entry not found for \"service-defaults\" / \"web\""
        )
    );
    assert_eq!(agent.cli(&["snapshot", "restore"], &[&snap]).0, 0);
    let (status, body) = agent.get("/v1/config/service-defaults/web").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"grpc\""), "{body}");

    // Consul's refusals: nothing stored.
    let bad = |body: &str| agent.put("/v1/config", body.as_bytes());
    let (s, text) = bad(r#"{"Kind":"nope","Name":"x"}"#);
    assert_eq!(s, 400);
    assert!(text.contains("invalid config entry kind: nope"), "{text}");
    let (s, text) = bad(r#"{"Kind":"service-defaults","Name":"web","Bogus":1}"#);
    assert_eq!(
        (s, text.as_str()),
        (
            400,
            "Request decoding failed: 1 error occurred:\n\t* invalid config key \"Bogus\"\n\n"
        )
    );
    let (s, text) = bad(r#"{"Kind":"proxy-defaults","Name":"web"}"#);
    assert_eq!(
        (s, text.as_str()),
        (500, "invalid name (\"web\"), only \"global\" is supported")
    );
    let (s, text) = bad(r#"{"Kind":"service-splitter","Name":"web","Splits":[{"Weight":50}]}"#);
    assert_eq!(
        (s, text.as_str()),
        (
            500,
            "the sum of all split weights must be 100, not 50.000000"
        )
    );
    assert_eq!(
        agent.get("/v1/config/service-splitter").unwrap(),
        (200, "[]".into())
    );
}
