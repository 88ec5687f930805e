//! Server RPC over mutual TLS with real processes: certificates made by `tribune tls`, three
//! servers with `verify_incoming`, `verify_outgoing` and `verify_server_hostname` forming a
//! cluster (Raft and forwarding over TLS), a client agent with a certificate from the same CA
//! served, and refused: one presenting a certificate from another CA, and one speaking
//! plaintext. Addresses 127.0.0.81–.86.

mod support;

use std::path::Path;
use std::process::Command;

use support::{eventually, tribune_in, Agent};

/// An agent on 127.0.0.`n` presenting `<certs>/<cert>.pem`, trusting the CA in `ca`.
fn tls_agent(n: u8, dir: &Path, ca: &Path, certs: &Path, cert: &str, extra: &[&str]) -> Agent {
    let config = dir.join(format!("tls{n}.json"));
    let body = serde_json::json!({
        "ca_file": ca.join("consul-agent-ca.pem"),
        "cert_file": certs.join(format!("{cert}.pem")),
        "key_file": certs.join(format!("{cert}-key.pem")),
        "verify_incoming": true,
        "verify_outgoing": true,
        "verify_server_hostname": true,
    });
    std::fs::write(&config, body.to_string()).unwrap();
    let mut args = vec![format!("-config-file={}", config.display())];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Agent::on_loopback(n, &format!("agent{n}"), dir, &args)
}

#[test]
fn servers_talk_mutual_tls_and_refuse_a_certificate_from_another_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, other) = (dir.path().join("certs"), dir.path().join("other"));
    for d in [&certs, &other] {
        std::fs::create_dir_all(d).unwrap();
        tribune_in(d, &["tls", "ca", "create"]);
    }
    for _ in 0..3 {
        tribune_in(&certs, &["tls", "cert", "create", "-server", "-dc", "dc1"]);
    }
    tribune_in(&certs, &["tls", "cert", "create", "-client", "-dc", "dc1"]);
    tribune_in(&other, &["tls", "cert", "create", "-client", "-dc", "dc1"]);

    let server_args = [
        "-server",
        "-bootstrap-expect=3",
        "-retry-join=127.0.0.81",
        "-retry-interval=1s",
    ];
    let servers: Vec<Agent> = (0..3u8)
        .map(|i| {
            let cert = format!("dc1-server-consul-{i}");
            tls_agent(81 + i, dir.path(), &certs, &certs, &cert, &server_args)
        })
        .collect();
    eventually(
        30,
        "a leader every server agrees on (Raft over TLS)",
        || {
            let leaders: Vec<String> = servers.iter().map(Agent::leader).collect();
            !leaders[0].is_empty() && leaders.iter().all(|l| *l == leaders[0])
        },
    );
    // A write on any server is forwarded to the leader and replicated, all over TLS.
    eventually(10, "a write through a server", || {
        matches!(
            servers[2].call("PUT", "/v1/kv/secure", b"yes"),
            Ok((200, _, _))
        )
    });
    for s in &servers {
        eventually(
            10,
            "replicated to every server",
            || matches!(s.get("/v1/kv/secure?stale&raw"), Ok((200, b)) if b == "yes"),
        );
    }

    let client_args = ["-retry-join=127.0.0.81", "-retry-interval=1s"];
    let good = tls_agent(
        84,
        dir.path(),
        &certs,
        &certs,
        "dc1-client-consul-0",
        &client_args,
    );
    eventually(
        20,
        "a client with a certificate of our CA is served",
        || {
            matches!(
                good.call("PUT", "/v1/kv/from-client", b"ok"),
                Ok((200, _, _))
            )
        },
    );
    // Trusts our CA (so it accepts our servers) but presents a certificate of another CA.
    let rogue = tls_agent(
        85,
        dir.path(),
        &certs,
        &other,
        "dc1-client-consul-0",
        &client_args,
    );
    let plain = Agent::on_loopback(86, "agent86", dir.path(), &client_args);
    for (intruder, name) in [(&rogue, "agent85"), (&plain, "agent86")] {
        // It joins gossip (gossip is not TLS) and so finds the servers, but RPC is refused.
        eventually(
            20,
            "the intruder sees the servers",
            || matches!(intruder.get("/v1/agent/members"), Ok((200, b)) if b.contains("agent81")),
        );
        for _ in 0..3 {
            let (code, body) = intruder.put("/v1/kv/intruder", b"x");
            assert_ne!(code, 200, "{name} was served: {body}");
            assert!(body.contains("rpc error"), "{body}");
        }
    }
    assert!(
        matches!(servers[0].get("/v1/kv/intruder?stale"), Ok((404, _))),
        "nothing written by the intruders"
    );
    let logs: String = (81..=83)
        .map(|n| std::fs::read_to_string(dir.path().join(format!("agent{n}.log"))).unwrap())
        .collect();
    assert!(logs.contains("plaintext RPC refused"), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.contains("connection refused") && l.contains("certificate")),
        "{logs}"
    );
}

/// HTTPS beside HTTP (`ports.https`), with `tls.https.verify_incoming`: the CLI with a client
/// certificate from `tls cert create -client` is served, one without a certificate is
/// refused, plain HTTP keeps working. On 127.0.0.1 (the certificates name it).
#[test]
fn https_with_verify_incoming_serves_a_client_certificate_and_refuses_none() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    tribune_in(&certs, &["tls", "ca", "create"]);
    tribune_in(&certs, &["tls", "cert", "create", "-server", "-dc", "dc1"]);
    tribune_in(&certs, &["tls", "cert", "create", "-client", "-dc", "dc1"]);
    let https_port = support::free_port();
    let p = |name: &str| certs.join(name).display().to_string();
    let config = serde_json::json!({
        "ports": {"https": https_port},
        "tls": {
            "defaults": {
                "ca_file": p("consul-agent-ca.pem"),
                "cert_file": p("dc1-server-consul-0.pem"),
                "key_file": p("dc1-server-consul-0-key.pem"),
            },
            "https": {"verify_incoming": true},
        },
    });
    let file = dir.path().join("https.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let agent = Agent::start_with(
        support::free_port(),
        None,
        &[&format!("-config-file={}", file.display())],
    );
    let https = format!("-http-addr=https://127.0.0.1:{https_port}");
    let cli = |args: &[&str], env: &[(&str, String)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tribune"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ca = format!("-ca-file={}", p("consul-agent-ca.pem"));
    let (code, out, err) = cli(
        &[
            "kv",
            "put",
            &https,
            &ca,
            &format!("-client-cert={}", p("dc1-client-consul-0.pem")),
            &format!("-client-key={}", p("dc1-client-consul-0-key.pem")),
            "over-tls",
            "yes",
        ],
        &[],
    );
    assert_eq!(
        (code, out.trim()),
        (0, "Success! Data written to: over-tls"),
        "{err}"
    );
    // The same through the environment Consul's CLI reads.
    let env = [
        (
            "CONSUL_HTTP_ADDR",
            format!("https://127.0.0.1:{https_port}"),
        ),
        ("CONSUL_CACERT", p("consul-agent-ca.pem")),
        ("CONSUL_CLIENT_CERT", p("dc1-client-consul-0.pem")),
        ("CONSUL_CLIENT_KEY", p("dc1-client-consul-0-key.pem")),
    ];
    let (code, out, err) = cli(&["kv", "get", "over-tls"], &env);
    assert_eq!((code, out.trim()), (0, "yes"), "{err}");
    // No client certificate: the handshake is refused.
    let (code, _, err) = cli(&["kv", "get", &https, &ca, "over-tls"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("Error"), "{err}");
    // Plain HTTP on its own port, as Consul serves both.
    assert_eq!(
        agent.get("/v1/kv/over-tls?raw").unwrap(),
        (200, "yes".into())
    );

    // A reload re-reads the certificates (HTTPS and RPC): a key file that went missing is
    // refused with its path, and the running TLS stays.
    let mut broken = config.clone();
    broken["tls"]["defaults"]["key_file"] = serde_json::json!(p("gone-key.pem"));
    std::fs::write(&file, broken.to_string()).unwrap();
    let (code, _, err) = agent.cli(&["reload"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("gone-key.pem"), "{err}");
    let (code, out, err) = cli(&["kv", "get", "over-tls"], &env);
    assert_eq!((code, out.trim()), (0, "yes"), "{err}");
    std::fs::write(&file, config.to_string()).unwrap();
    assert_eq!(agent.cli(&["reload"], &[]).0, 0);
}
