//! Running the agent as an operator does (issue 16): the walkthrough's `consul.json` under a
//! systemd-style `NOTIFY_SOCKET`, its pid and log files, reloads by SIGHUP and by API,
//! `monitor` at its own level, metrics, autopilot, `debug` and `-h`. The walkthrough's server and
//! client on 127.0.0.161–162 (with certificates from `tribune tls`), others on free ports.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support::{eventually, free_port, tribune_in, Agent};

fn signal(agent: &Agent, sig: libc::c_int) {
    // SAFETY: kill(2) on the child we started (by its PID).
    assert_eq!(
        unsafe { libc::kill(agent.child.id() as libc::pid_t, sig) },
        0
    );
}

/// The walkthrough's `consul.json` for a server (`agent161`) or a client (`client162`), on
/// 127.0.0.`n` with its log and pid files under `dir` and the certificates `tribune tls` made
/// in `certs` (named as the walkthrough names them); one server instead of three.
fn walkthrough_config(n: u8, server: bool, dir: &Path, certs: &Path) -> serde_json::Value {
    let ip = format!("127.0.0.{n}");
    let role = if server { "server" } else { "client" };
    let cert = |suffix: &str| {
        certs
            .join(format!("homsom-{role}-consul-0{suffix}.pem"))
            .display()
            .to_string()
    };
    let mut config = json!({
        "node_name": if server { format!("agent{n}") } else { format!("client{n}") },
        "server": server,
        "datacenter": "homsom",
        "data_dir": dir.join("data").display().to_string(),
        "log_level": "INFO",
        "retry_join": ["127.0.0.161"],
        "bind_addr": ip,
        "client_addr": ip,
        "encrypt": "BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=",
        "log_file": format!("{}/log/consul.log", dir.display()),
        "log_json": true,
        "log_rotate_duration": "24h",
        "pid_file": format!("{}/log/consul.pid", dir.display()),
        "enable_syslog": false,
        "enable_debug": true,
        "ui": true,
        "leave_on_terminate": false,
        "skip_leave_on_interrupt": true,
        "rejoin_after_leave": true,
        "ca_file": certs.join("consul-agent-ca.pem").display().to_string(),
        "cert_file": cert(""),
        "key_file": cert("-key"),
        "verify_incoming": true,
        "verify_outgoing": true,
        "verify_server_hostname": true,
        "acl": {"enabled": true, "default_policy": "allow", "enable_token_persistence": true}
    });
    if server {
        config["performance"] = json!({"raft_multiplier": 1});
        config["bootstrap_expect"] = json!(1);
    } else {
        config["service"] = json!({
            "id": "dns",
            "name": format!("dns{n}"),
            "tags": ["primary"],
            "address": ip,
            "port": 8600,
            "check": {
                "id": "dns",
                "name": "Consul DNS TCP on port 8600",
                "tcp": format!("{ip}:8600"),
                "interval": "10s",
                "timeout": "1s"
            }
        });
    }
    config
}

fn write_config(dir: &Path, name: &str, value: &serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Starts `tribune agent -config-dir=<conf>` (as the walkthrough's unit file does) with
/// `NOTIFY_SOCKET` pointing at a socket of ours.
fn start_notified(ip: &str, conf: &Path, notify: &Path, out: &Path) -> Agent {
    let log = std::fs::File::create(out).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .arg("agent")
        .arg(format!("-config-dir={}", conf.display()))
        .env("NOTIFY_SOCKET", notify)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Agent {
        child,
        port: 8500,
        host: ip.into(),
    }
}

fn receive(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_walkthrough_unit_and_config_run_as_a_notify_service() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    tribune_in(&certs, &["tls", "ca", "create"]);
    tribune_in(
        &certs,
        &["tls", "cert", "create", "-server", "-dc", "homsom"],
    );
    tribune_in(
        &certs,
        &["tls", "cert", "create", "-client", "-dc", "homsom"],
    );
    let (server_dir, client_dir) = (dir.path().join("server"), dir.path().join("client"));
    let conf = server_dir.join("conf");
    write_config(
        &conf,
        "consul.json",
        &walkthrough_config(161, true, &server_dir, &certs),
    );
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let out = server_dir.join("stdout");
    let agent = start_notified("127.0.0.161", &conf, &notify_path, &out);

    // READY=1 only once the HTTP API answers.
    assert_eq!(receive(&notify), "READY=1");
    assert!(matches!(agent.get("/v1/status/leader"), Ok((200, _))));
    let pid = std::fs::read_to_string(server_dir.join("log/consul.pid")).unwrap();
    assert_eq!(pid, agent.child.id().to_string());

    // The log file holds JSON lines in Consul's shape; stdout carries no banner (log_json).
    eventually(10, "the agent's start in its log file", || {
        std::fs::read_to_string(server_dir.join("log/consul.log"))
            .is_ok_and(|log| log.contains("Consul agent running!"))
    });
    let log = std::fs::read_to_string(server_dir.join("log/consul.log")).unwrap();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect(line);
        for key in ["@level", "@message", "@timestamp"] {
            assert!(v[key].is_string(), "{key} in {line}");
        }
        assert_ne!(v["@level"], "debug", "the agent logs at INFO: {line}");
    }
    assert!(!std::fs::read_to_string(&out)
        .unwrap()
        .contains("==> Starting Consul agent"));

    // The walkthrough's client, with its own unit: ready once it has joined the server (over
    // mutual TLS, gossip encrypted), its file-defined service in the catalog.
    let client_conf = client_dir.join("conf");
    write_config(
        &client_conf,
        "consul.json",
        &walkthrough_config(162, false, &client_dir, &certs),
    );
    let client_notify_path = dir.path().join("client-notify.sock");
    let client_notify = UnixDatagram::bind(&client_notify_path).unwrap();
    client_notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut client = start_notified(
        "127.0.0.162",
        &client_conf,
        &client_notify_path,
        &client_dir.join("stdout"),
    );
    assert_eq!(receive(&client_notify), "READY=1");
    let (_, members) = client.get("/v1/agent/members").unwrap();
    assert!(
        members.contains("agent161"),
        "joined before READY: {members}"
    );
    eventually(
        20,
        "the client's service passing in the catalog",
        || matches!(agent.get("/v1/health/service/dns162?passing"), Ok((200, b)) if b.contains("\"dns162\"")),
    );
    let (_, metrics) = client.get("/v1/agent/metrics").unwrap();
    assert!(metrics.contains("\"Gauges\""), "{metrics}");

    // ExecReload=/bin/kill --signal HUP $MAINPID
    signal(&agent, libc::SIGHUP);
    assert_eq!(receive(&notify), "RELOADING=1");
    assert_eq!(receive(&notify), "READY=1");
    assert!(matches!(agent.get("/v1/status/leader"), Ok((200, _))));
    signal(&client, libc::SIGHUP);
    assert_eq!(receive(&client_notify), "RELOADING=1");
    assert_eq!(receive(&client_notify), "READY=1");

    // KillSignal=SIGTERM: neither leaves (leave_on_terminate false); the pid files go.
    signal(&client, libc::SIGTERM);
    assert_eq!(receive(&client_notify), "STOPPING=1");
    assert!(client.child.wait().unwrap().success());
    assert!(!client_dir.join("log/consul.pid").exists());
    signal(&agent, libc::SIGTERM);
    assert_eq!(receive(&notify), "STOPPING=1");
    let mut agent = agent;
    let status = agent.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!server_dir.join("log/consul.pid").exists());
}

fn service_ids(agent: &Agent) -> Vec<String> {
    let (_, body) = agent.get("/v1/agent/services").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn sighup_and_reload_replace_file_services_and_keep_api_ones() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    write_config(
        &conf,
        "web.json",
        &json!({"service": {"name": "web", "port": 80}}),
    );
    let conf_flag = format!("-config-dir={}", conf.display());
    let agent = Agent::start_with(free_port(), None, &[&conf_flag]);
    assert_eq!(service_ids(&agent), vec!["web"]);
    let (status, _) = agent.put("/v1/agent/service/register", br#"{"Name":"api"}"#);
    assert_eq!(status, 200);

    // SIGHUP: web's file is gone, db's is new; api (registered over HTTP) stays.
    std::fs::remove_file(conf.join("web.json")).unwrap();
    write_config(
        &conf,
        "db.json",
        &json!({"service": {"name": "db", "port": 5432, "check": {"ttl": "30s"}}}),
    );
    signal(&agent, libc::SIGHUP);
    eventually(10, "the reload by SIGHUP", || {
        service_ids(&agent) == vec!["api", "db"]
    });
    eventually(10, "the catalog follows", || {
        let (_, body) = agent.get("/v1/catalog/services").unwrap();
        body.contains("\"db\"") && !body.contains("\"web\"")
    });

    // A file that no longer parses: the reload is refused with the reason, nothing changes.
    std::fs::write(conf.join("broken.json"), "{ nope").unwrap();
    let (code, _, stderr) = agent.cli(&["reload"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("Error reloading: Unexpected response code: 500 (Error parsing"),
        "{stderr}"
    );
    assert_eq!(service_ids(&agent), vec!["api", "db"]);

    // Fixed, through the CLI (PUT /v1/agent/reload), with a new log level.
    std::fs::remove_file(conf.join("broken.json")).unwrap();
    write_config(&conf, "level.json", &json!({"log_level": "debug"}));
    let (code, stdout, stderr) = agent.cli(&["reload"], &[]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "Configuration reload triggered\n"),
        "{stderr}"
    );
}

#[test]
fn monitor_streams_debug_lines_while_the_agent_logs_at_info() {
    let agent = Agent::start_with(free_port(), None, &["-log-level=info"]);
    let url = agent.url("/v1/agent/monitor?loglevel=debug");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let response = ureq::get(&url).call().unwrap();
        for line in std::io::BufReader::new(response.into_reader()).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    // Each HTTP request is a debug line ("Request finished"), which only the monitor sees.
    let seen = (0..100).find_map(|_| {
        let _ = agent.get("/v1/kv/monitored?recurse");
        lines_rx
            .recv_timeout(Duration::from_millis(100))
            .ok()
            .filter(|l| l.contains("[DEBUG] agent.http: Request finished:"))
    });
    let line = seen.expect("a debug line on the monitor");
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains("url=/v1/kv/monitored?recurse"), "{line}");

    let (status, body, _) = agent
        .call("GET", "/v1/agent/monitor?loglevel=loud", b"")
        .unwrap();
    assert_eq!((status, body.as_str()), (400, "Unknown log level: loud"));
}

#[test]
fn log_files_rotate_by_size_and_keep_max_files() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs/");
    let agent = Agent::start_with(
        free_port(),
        None,
        &[
            &format!("-log-file={}/", logs.display()),
            "-log-level=debug",
            "-log-rotate-bytes=2000",
            "-log-rotate-max-files=2",
        ],
    );
    for i in 0..40 {
        let _ = agent.get(&format!("/v1/kv/rotate-{i}"));
    }
    eventually(10, "rotated files", || {
        let names: Vec<String> = std::fs::read_dir(&logs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.contains(&"consul.log".to_string())
            && names.len() == 3
            && names
                .iter()
                .filter(|n| *n != "consul.log")
                .all(|n| n.starts_with("consul-") && n.ends_with(".log"))
    });
    let active = std::fs::read_to_string(logs.join("consul.log")).unwrap();
    assert!(
        active.lines().all(|l| l.contains(" [")),
        "text lines: {active}"
    );
}

#[test]
fn agent_help_and_bad_flags_answer_as_consul() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["agent", "-dev", "-h"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Usage: tribune agent [options]\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  -pid-file=<value>\n     Path to file to store agent PID.\n"));
    assert!(stdout.contains("\n  -node-meta=<key:value>\n"));
    assert!(stdout.contains("\n  -server\n     Switches agent to server mode.\n"));

    let (code, _, stderr) = run(&["agent", "-dev", "-bogus"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("flag provided but not defined: -bogus\nUsage: tribune agent"));
    assert!(stderr.ends_with("==> error parsing flags: flag provided but not defined: -bogus\n"));

    // Every other command: its usage from the flags it declares, exit 0; an unknown flag
    // prints the error and the usage, exit 1.
    let (code, stdout, _) = run(&["kv", "put", "-h"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with("Usage: tribune kv put [options] KEY [DATA]\n"),
        "{stdout}"
    );
    assert!(stdout.contains("\n  -cas\n") && stdout.contains("\n  -http-addr=<address>\n"));
    let (code, stdout, _) = run(&["acl", "token", "--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("\n    create "), "{stdout}");
    let (code, _, stderr) = run(&["members", "-bogus"]);
    assert_eq!(code, 1);
    assert!(stderr.starts_with("flag provided but not defined: -bogus\nUsage: tribune members"));

    let (code, _, stderr) = run(&["agent", "-dev", "-log-level=loud"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr,
        "==> Invalid log level: loud. Valid log levels are: [TRACE DEBUG INFO WARN ERR ERROR]\n"
    );

    let (code, _, stderr) = run(&["agent", "-dev", "-pid-file=/proc/nope/consul.pid"]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("==> Could not write pid file /proc/nope/consul.pid"),
        "{stderr}"
    );
}

#[test]
fn metrics_in_consuls_json_and_in_prometheus_text_a_real_parser_reads() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("telemetry.json");
    let telemetry =
        json!({"telemetry": {"prometheus_retention_time": "60s", "disable_hostname": true}});
    std::fs::write(&conf, telemetry.to_string()).unwrap();
    let agent = Agent::start_with(
        free_port(),
        None,
        &[&format!("-config-file={}", conf.display())],
    );
    for i in 0..20 {
        assert_eq!(agent.put(&format!("/v1/kv/m{i}"), b"v").0, 200);
        let _ = agent.get(&format!("/v1/kv/m{i}"));
    }
    // The JSON shows the last finished 10-second interval: wait for one holding our writes.
    let mut summary = serde_json::Value::Null;
    eventually(30, "an interval with the KV writes", || {
        let (_, body) = agent.get("/v1/agent/metrics").unwrap();
        summary = serde_json::from_str(&body).unwrap();
        summary["Samples"].as_array().is_some_and(|samples| {
            samples.iter().any(|s| {
                s["Name"] == "consul.api.http"
                    && s["Labels"] == json!({"method": "PUT", "path": "v1_kv_"})
            })
        })
    });
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["Timestamp", "Gauges", "Points", "Counters", "Samples"]
    );
    let named = |list: &str, name: &str| {
        summary[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Name"] == name)
            .cloned()
    };
    assert!(named("Samples", "consul.kvs.apply").is_some(), "{summary}");
    let gauge = named("Gauges", "consul.runtime.alloc_bytes").expect("runtime gauges");
    assert!(gauge["Value"].as_f64().unwrap() > 0.0);
    let http = summary["Samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Labels"]["path"] == "v1_kv_" && s["Labels"]["method"] == "PUT")
        .unwrap();
    assert!(http["Count"].as_u64().unwrap() >= 1);
    assert!(http["P99"].as_f64().unwrap() >= http["P50"].as_f64().unwrap());

    // Prometheus text, checked by prometheus_client's parser. Each thread publishes what it
    // recorded about once a second: wait for the Raft core's.
    let mut answer = None;
    eventually(10, "the Raft core's counters", || {
        let a = agent
            .call("GET", "/v1/agent/metrics?format=prometheus", b"")
            .unwrap();
        let done = a.1.contains("\nconsul_raft_apply ");
        answer = Some(a);
        done
    });
    let (status, text, headers) = answer.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        support::header(&headers, "Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let parse = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = {f.name: f.type for f in text_string_to_metric_families(sys.stdin.read())}
print(families.get("consul_api_http"), families.get("consul_raft_apply"), families.get("consul_runtime_alloc_bytes"))
"#;
    let mut child = Command::new("python3")
        .args(["-c", parse])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (see .ci/run)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused:\n{text}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "summary counter gauge"
    );
}

/// Consul 1.21 means a 415 here, but its wrapper returns before writing it: the wire has a
/// 200, an empty body and the reason in `X-Consul-Reason`.
#[test]
fn prometheus_without_a_retention_time_answers_as_consul_does() {
    let agent = Agent::start_with(free_port(), None, &[]);
    let (status, body, headers) = agent
        .call("GET", "/v1/agent/metrics?format=prometheus", b"")
        .unwrap();
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        support::header(&headers, "X-Consul-Reason"),
        Some("Prometheus is not enabled since its retention time is not positive")
    );
}

#[test]
fn autopilot_configuration_health_usage_and_host() {
    let agent = Agent::start_with(free_port(), None, &[]);
    // The leader wrote the initial configuration; the CLI reads it as Consul prints it.
    eventually(10, "the leader's autopilot configuration", || {
        let (_, body) = agent.get("/v1/operator/autopilot/configuration").unwrap();
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["ModifyIndex"] != 0
    });
    let (code, out, err) = agent.cli(&["operator", "autopilot", "get-config"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "CleanupDeadServers = true\nLastContactThreshold = 200ms\nMaxTrailingLogs = 250\n"
        ),
        "{out}"
    );
    let (code, out, _) = agent.cli(
        &["operator", "autopilot", "set-config"],
        &["-cleanup-dead-servers=false", "-max-trailing-logs=10"],
    );
    assert_eq!((code, out.as_str()), (0, "Configuration updated!\n"));
    let (_, body) = agent.get("/v1/operator/autopilot/configuration").unwrap();
    let config: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(config["CleanupDeadServers"], false);
    assert_eq!(config["MaxTrailingLogs"], 10);
    assert_eq!(config["ServerStabilizationTime"], "10s", "the rest kept");
    // A stale cas changes nothing.
    let stale = format!(
        "/v1/operator/autopilot/configuration?cas={}",
        config["ModifyIndex"].as_u64().unwrap() - 1
    );
    assert_eq!(
        agent.put(&stale, b"{\"CleanupDeadServers\": true}"),
        (200, "false".into())
    );

    let (status, body, _) = agent
        .call("GET", "/v1/operator/autopilot/health", b"")
        .unwrap();
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, &health["Healthy"]), (200, &json!(true)), "{body}");
    assert_eq!(health["Servers"][0]["Leader"], true);

    let (_, body) = agent.get("/v1/operator/usage").unwrap();
    let usage: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(usage["Usage"]["dc1"]["Nodes"], 1);
    assert_eq!(usage["Usage"]["dc1"]["Services"], 1, "the consul service");

    let (_, body) = agent.get("/v1/agent/host").unwrap();
    let host: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(host["Memory"]["total"].as_u64().unwrap() > 0);
    assert!(!host["CPU"].as_array().unwrap().is_empty());
}

#[test]
fn debug_captures_state_metrics_and_logs_into_an_archive() {
    let agent = Agent::start_with(free_port(), None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("capture");
    let (code, stdout, stderr) = agent.cli(
        &["debug"],
        &[
            "-duration=6s",
            "-interval=5s",
            &format!("-output={}", output.display()),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let archive = dir.path().join("capture.tar.gz");
    assert!(stdout.ends_with(&format!("Saved debug archive: {}\n", archive.display())));
    let listed = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&listed.stdout);
    for file in [
        "agent.json",
        "host.json",
        "members.json",
        "index.json",
        "consul.log",
    ] {
        assert!(
            names.contains(&format!("capture/{file}")),
            "{file} in {names}"
        );
    }
    assert!(
        names.lines().any(|n| n.ends_with("/metrics.json")),
        "{names}"
    );
    let extracted = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(extracted.success());
    let log = std::fs::read_to_string(output.join("consul.log")).unwrap();
    assert!(
        log.contains("[DEBUG] agent.http: Request finished"),
        "{log}"
    );

    let (code, _, stderr) = agent.cli(&["debug"], &["-interval=1s"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "interval must be longer than 5s\n")
    );
}

#[test]
fn autocomplete_installs_into_the_shell_rc_and_answers_the_shell() {
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_tribune"))
            .args(args)
            .env("HOME", home.path())
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    assert!(run(&["-autocomplete-install"], &[]).status.success());
    let rc = std::fs::read_to_string(home.path().join(".bashrc")).unwrap();
    assert!(
        rc.contains("complete -C ") && rc.trim_end().ends_with(" tribune"),
        "{rc}"
    );
    assert_eq!(run(&["-autocomplete-install"], &[]).status.code(), Some(1));
    // The shell runs the binary with COMP_LINE to ask for the next word.
    let out = run(&[], &[("COMP_LINE", "tribune kv p")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "put\n");
    assert!(run(&["-autocomplete-uninstall"], &[]).status.success());
    let rc = std::fs::read_to_string(home.path().join(".bashrc")).unwrap();
    assert!(!rc.contains("complete -C"), "{rc}");
}

#[test]
fn config_file_watches_run_their_handlers_and_follow_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    let first = dir.path().join("first.json");
    let second = dir.path().join("second.json");
    let watch = |key: &str, out: &Path| {
        json!({"watches": [{
            "type": "key",
            "key": key,
            "handler_type": "script",
            "args": ["sh", "-c", format!("cat > {}", out.display())]
        }]})
    };
    write_config(&conf, "watch.json", &watch("watched", &first));
    let conf_flag = format!("-config-dir={}", conf.display());
    let log = dir.path().join("agent.log");
    let log_flag = format!("-log-file={}", log.display());
    let agent = Agent::start_with(
        free_port(),
        None,
        &[&conf_flag, &log_flag, "-log-level=debug"],
    );
    assert_eq!(agent.put("/v1/kv/watched", b"v1").0, 200);
    eventually(10, "the handler ran with the key's entry", || {
        std::fs::read_to_string(&first).is_ok_and(|t| {
            serde_json::from_str::<serde_json::Value>(&t)
                .is_ok_and(|v| v["Key"] == "watched" && v["Value"] == "djE=")
        })
    });
    // Reloaded with a watch on another key (which exists): the new one runs at once, the
    // old one stops.
    assert_eq!(agent.put("/v1/kv/other", b"v2").0, 200);
    write_config(&conf, "watch.json", &watch("other", &second));
    let (code, _, err) = agent.cli(&["reload"], &[]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(&first).unwrap();
    let waited = std::time::Instant::now();
    while !second.exists() && waited.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        second.exists(),
        "the new watch's handler ran:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(agent.put("/v1/kv/watched", b"v3").0, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert!(!first.exists(), "the old watch stopped");

    // A watch without a handler is refused with Consul's text.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"watches": [{"type": "key", "key": "k"}]}"#).unwrap();
    let (code, _, stderr) = agent.cli(&["validate", &bad.display().to_string()], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Failed to parse watch (0): Handler type 'script' requires 'args' or 'handler' to be set"),
        "{stderr}"
    );
}
