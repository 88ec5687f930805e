//! The agent's local services and checks on a real agent: registration, anti-entropy into
//! the catalog, TTL, HTTP/TCP/UDP/script probes against servers this test runs.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

use support::{eventually, free_port, health_checks, Agent};

fn status_of(agent: &Agent, service: &str, check: &str) -> Option<(String, String)> {
    health_checks(agent, service)
        .into_iter()
        .find(|(id, ..)| id == check)
        .map(|(_, s, o)| (s, o))
}

/// A tiny HTTP server answering every request with the status currently in `code`.
fn http_server(code: Arc<AtomicU16>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let c = code.load(Ordering::Relaxed);
            let body = format!("status {c}");
            let _ = write!(
                stream,
                "HTTP/1.1 {c} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn ttl_service_syncs_and_expires() {
    let agent = Agent::start(free_port(), None);
    let body =
        br#"{"name":"web","port":8080,"address":"127.0.0.1","tags":["a"],"check":{"ttl":"2s"}}"#;
    assert_eq!(
        agent.put("/v1/agent/service/register", body),
        (200, String::new())
    );
    // New checks start critical and reach the catalog without waiting for a full sync.
    eventually(5, "service in catalog", || {
        status_of(&agent, "web", "service:web").is_some()
    });
    assert_eq!(
        status_of(&agent, "web", "service:web").unwrap().0,
        "critical"
    );
    let services: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/agent/services").unwrap().1).unwrap();
    assert_eq!(services["web"]["TaggedAddresses"]["lan_ipv4"]["Port"], 8080);
    assert_eq!(services["web"]["Datacenter"], "dc1");

    assert_eq!(
        agent.put("/v1/agent/check/pass/service:web?note=ok", b"").0,
        200
    );
    eventually(5, "passing in catalog", || {
        status_of(&agent, "web", "service:web") == Some(("passing".into(), "ok".into()))
    });
    assert_eq!(
        agent
            .get("/v1/agent/health/service/id/web?format=text")
            .unwrap(),
        (200, "passing".into())
    );
    // Not refreshed within the TTL: critical, with Consul's output.
    eventually(6, "TTL expiry", || {
        status_of(&agent, "web", "service:web")
            == Some((
                "critical".into(),
                "TTL expired (last output before timeout follows): ok".into(),
            ))
    });
    assert_eq!(
        agent
            .get("/v1/agent/health/service/id/web?format=text")
            .unwrap(),
        (503, "critical".into())
    );

    // update with a body; bad status; TTL ops on unknown checks.
    assert_eq!(
        agent
            .put(
                "/v1/agent/check/update/service:web",
                br#"{"Status":"warning","Output":"slow"}"#
            )
            .0,
        200
    );
    eventually(5, "warning in catalog", || {
        status_of(&agent, "web", "service:web") == Some(("warning".into(), "slow".into()))
    });
    assert_eq!(
        agent.put("/v1/agent/check/update/service:web", br#"{"Status":"meh"}"#),
        (400, "Invalid check status: 'meh'".into())
    );
    assert_eq!(agent.put("/v1/agent/check/pass/nope", b"").0, 404);

    // Deregister: gone locally and, via anti-entropy, from the catalog.
    assert_eq!(agent.put("/v1/agent/service/deregister/web", b"").0, 200);
    eventually(5, "service gone from catalog", || {
        health_checks(&agent, "web").is_empty()
    });
    assert_eq!(agent.put("/v1/agent/service/deregister/web", b"").0, 404);
}

#[test]
fn probes_follow_real_servers() {
    let agent = Agent::start_with(free_port(), None, &["-enable-script-checks"]);
    let code = Arc::new(AtomicU16::new(200));
    let http_port = http_server(code.clone());
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap(); // silent: a read timeout counts as passing
    let udp_port = udp.local_addr().unwrap().port();
    let closed_port = free_port();
    let body = serde_json::json!({
        "Name": "api", "Port": http_port,
        "Checks": [
            {"CheckID": "http", "HTTP": format!("http://127.0.0.1:{http_port}/health"), "Interval": "1s", "Timeout": "1s"},
            // The agent's own `/` redirects to its UI (dev mode): followed, as Go's client does.
            {"CheckID": "http-redirect", "HTTP": format!("http://127.0.0.1:{}/", agent.port), "Interval": "1s"},
            {"CheckID": "tcp", "TCP": format!("127.0.0.1:{tcp_port}"), "Interval": "1s"},
            {"CheckID": "tcp-closed", "TCP": format!("127.0.0.1:{closed_port}"), "Interval": "1s", "Status": "passing"},
            {"CheckID": "udp", "UDP": format!("127.0.0.1:{udp_port}"), "Interval": "1s", "Timeout": "500ms"},
            {"CheckID": "script-ok", "Args": ["true"], "Interval": "1s"},
            {"CheckID": "script-warn", "Args": ["sh", "-c", "echo hmm; exit 1"], "Interval": "1s"},
        ],
    });
    assert_eq!(
        agent
            .put("/v1/agent/service/register", body.to_string().as_bytes())
            .0,
        200
    );
    let expect = |id: &str, status: &str| {
        eventually(8, &format!("{id} {status}"), || {
            status_of(&agent, "api", id).is_some_and(|(s, _)| s == status)
        });
    };
    expect("http", "passing");
    expect("http-redirect", "passing");
    let redirected = status_of(&agent, "api", "http-redirect").unwrap().1;
    assert!(
        redirected.starts_with(&format!(
            "HTTP GET http://127.0.0.1:{}/: 200 OK",
            agent.port
        )),
        "{redirected}"
    );
    assert!(status_of(&agent, "api", "http")
        .unwrap()
        .1
        .starts_with(&format!(
            "HTTP GET http://127.0.0.1:{http_port}/health: 200"
        )));
    expect("tcp", "passing");
    assert_eq!(
        status_of(&agent, "api", "tcp").unwrap().1,
        format!("TCP connect 127.0.0.1:{tcp_port}: Success")
    );
    expect("tcp-closed", "critical");
    expect("udp", "passing");
    expect("script-ok", "passing");
    expect("script-warn", "warning");
    assert_eq!(status_of(&agent, "api", "script-warn").unwrap().1, "hmm\n");
    code.store(429, Ordering::Relaxed);
    expect("http", "warning");
    code.store(500, Ordering::Relaxed);
    expect("http", "critical");
    // ?passing drops the instance while any check is not passing.
    assert_eq!(
        agent
            .get("/v1/health/service/api?passing")
            .unwrap()
            .1
            .trim(),
        "[]"
    );
    drop(tcp);
}

#[test]
fn registration_errors_and_rules() {
    let agent = Agent::start(free_port(), None);
    let put = |path: &str, body: &str| agent.put(path, body.as_bytes());
    assert_eq!(
        put("/v1/agent/service/register", r#"{"Service":"x"}"#),
        (
            400,
            "Request decode failed: json: unknown field \"Service\"".into()
        )
    );
    assert_eq!(
        put("/v1/agent/service/register", r#"{"Port":1}"#),
        (400, "Missing service name".into())
    );
    assert_eq!(
        put(
            "/v1/agent/service/register",
            r#"{"Name":"x","Address":"0.0.0.0"}"#
        ),
        (400, "Invalid service address".into())
    );
    assert_eq!(
        put("/v1/agent/service/register", r#"{"Name":"x","Check":{"HTTP":"http://x"}}"#),
        (400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks".into())
    );
    // A bare number is nanoseconds, as Go reads a `time.Duration` (py-consul's `Check.script(args,
    // 10)` sends one): positive, so accepted, and raised to the minimum interval.
    assert_eq!(
        put(
            "/v1/agent/service/register",
            r#"{"Name":"y","Check":{"HTTP":"http://127.0.0.1:1/","Interval":10}}"#
        ),
        (200, String::new())
    );
    assert_eq!(
        put(
            "/v1/agent/service/register",
            r#"{"Name":"x","Check":{"TTL":"1s","Interval":"1s"}}"#
        ),
        (
            400,
            "Invalid check: Interval and TTL cannot both be specified".into()
        )
    );
    assert_eq!(
        put("/v1/agent/service/register", r#"{"Name":"x","Check":{"Args":["true"],"Interval":"1s"}}"#),
        (500, "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true".into())
    );
    assert_eq!(
        put("/v1/agent/check/register", r#"{"TTL":"1s"}"#),
        (400, "Missing check name".into())
    );
    assert_eq!(
        put(
            "/v1/agent/check/register",
            r#"{"Name":"c","TTL":"1s","ServiceID":"ghost"}"#
        ),
        (404, "ServiceID \"ghost\" does not exist".into())
    );

    // Several checks get service:<id>:<n>; the Go client's nulls are accepted.
    let body = r#"{"Name":"db","Check":null,"Checks":[{"TTL":"10s"},{"TTL":"10s","Name":"second"}],"Meta":{"v":"1"}}"#;
    assert_eq!(put("/v1/agent/service/register", body).0, 200);
    let checks: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/agent/checks").unwrap().1).unwrap();
    assert_eq!(checks["service:db:1"]["Name"], "Service 'db' check");
    assert_eq!(checks["service:db:2"]["Name"], "second");
    assert_eq!(checks["service:db:1"]["Status"], "critical");
    assert_eq!(checks["service:db:1"]["Type"], "ttl");
    // replace-existing-checks drops the unlisted one.
    let body = r#"{"Name":"db","Checks":[{"CheckID":"service:db:1","TTL":"10s"}]}"#;
    assert_eq!(
        put("/v1/agent/service/register?replace-existing-checks", body).0,
        200
    );
    let checks: serde_json::Value =
        serde_json::from_str(&agent.get("/v1/agent/checks").unwrap().1).unwrap();
    assert!(checks.get("service:db:2").is_none());

    // Anti-entropy removes services registered in the catalog on the agent's own node: in a
    // full round (periodic, or a reload's), as Consul's; a local change syncs only itself.
    let rogue = r#"{"Node":"test-node","Address":"127.0.0.1","Service":{"Service":"rogue"}}"#;
    assert_eq!(put("/v1/catalog/register", rogue).1, "true");
    assert_eq!(
        put("/v1/agent/service/register", r#"{"Name":"trigger"}"#).0,
        200
    );
    eventually(5, "the local change synced", || {
        agent
            .get("/v1/catalog/service/trigger")
            .unwrap()
            .1
            .contains("trigger")
    });
    assert!(
        agent
            .get("/v1/catalog/service/rogue")
            .unwrap()
            .1
            .contains("rogue"),
        "an incremental round leaves what it did not change"
    );
    assert_eq!(put("/v1/agent/reload", "").0, 200);
    eventually(5, "rogue service removed by anti-entropy", || {
        agent.get("/v1/catalog/service/rogue").unwrap().1.trim() == "[]"
    });

    // Node maintenance: a critical _node_maintenance check on every instance.
    assert_eq!(
        put("/v1/agent/maintenance", ""),
        (400, "Missing value for enable".into())
    );
    assert_eq!(
        put("/v1/agent/maintenance?enable=maybe", ""),
        (400, "Invalid value for enable: \"maybe\"".into())
    );
    assert_eq!(
        put("/v1/agent/maintenance?enable=true&reason=upgrade", "").0,
        200
    );
    eventually(5, "maintenance visible", || {
        status_of(&agent, "db", "_node_maintenance").is_some_and(|(s, _)| s == "critical")
    });
    assert_eq!(
        agent
            .get("/v1/agent/health/service/name/db?format=text")
            .unwrap(),
        (503, "maintenance".into())
    );
    assert_eq!(put("/v1/agent/maintenance?enable=false", "").0, 200);
    eventually(5, "maintenance gone", || {
        status_of(&agent, "db", "_node_maintenance").is_none()
    });
    let members: Vec<serde_json::Value> =
        serde_json::from_str(&agent.get("/v1/agent/members").unwrap().1).unwrap();
    assert_eq!(
        (members[0]["Name"].as_str(), members[0]["Status"].as_u64()),
        (Some("test-node"), Some(1))
    );
}

/// A grpc.health.v1 server answering `Check` with the status in `status` (1 = SERVING).
fn grpc_health_server(status: Arc<std::sync::atomic::AtomicU8>) -> u16 {
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use hyper::body::Frame;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let status = status.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let status = status.clone();
                            async move {
                                assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                                let _ = req.into_body().collect().await;
                                let s = status.load(Ordering::Relaxed);
                                let message = [0u8, 0, 0, 0, 2, 0x08, s];
                                let mut trailers = hyper::HeaderMap::new();
                                trailers.insert("grpc-status", "0".parse().unwrap());
                                let body = Frames(
                                    [
                                        Frame::data(Bytes::copy_from_slice(&message)),
                                        Frame::trailers(trailers),
                                    ]
                                    .into(),
                                );
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .header("content-type", "application/grpc")
                                        .body(body)
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                });
            }
        });
    });
    port
}

/// A response body of ready-made frames (data, then trailers).
struct Frames(std::collections::VecDeque<hyper::body::Frame<bytes::Bytes>>);

impl hyper::body::Body for Frames {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }
}

#[test]
fn grpc_health_check_follows_serving_status() {
    let agent = Agent::start(free_port(), None);
    let status = Arc::new(std::sync::atomic::AtomicU8::new(1));
    let port = grpc_health_server(status.clone());
    let body = serde_json::json!({"Name": "rpc", "Check": {"GRPC": format!("127.0.0.1:{port}/my.Service"), "Interval": "1s"}});
    assert_eq!(
        agent
            .put("/v1/agent/service/register", body.to_string().as_bytes())
            .0,
        200
    );
    eventually(8, "grpc passing", || {
        status_of(&agent, "rpc", "service:rpc").is_some_and(|(s, _)| s == "passing")
    });
    assert_eq!(
        status_of(&agent, "rpc", "service:rpc").unwrap().1,
        format!("gRPC check 127.0.0.1:{port}/my.Service: success")
    );
    status.store(2, Ordering::Relaxed);
    eventually(8, "grpc critical", || {
        status_of(&agent, "rpc", "service:rpc").is_some_and(|(s, _)| s == "critical")
    });
    assert_eq!(
        status_of(&agent, "rpc", "service:rpc").unwrap().1,
        format!("gRPC 127.0.0.1:{port}/my.Service serving status: NOT_SERVING")
    );
}

#[test]
fn alias_check_mirrors_the_aliased_service() {
    let agent = Agent::start(free_port(), None);
    assert_eq!(
        agent
            .put(
                "/v1/agent/service/register",
                br#"{"Name":"web","Check":{"TTL":"30s"}}"#
            )
            .0,
        200
    );
    let proxy = br#"{"Name":"web-proxy","Check":{"AliasService":"web"}}"#;
    assert_eq!(agent.put("/v1/agent/service/register", proxy).0, 200);
    eventually(5, "alias critical", || {
        status_of(&agent, "web-proxy", "service:web-proxy").is_some_and(|(s, _)| s == "critical")
    });
    assert_eq!(agent.put("/v1/agent/check/pass/service:web", b"").0, 200);
    eventually(5, "alias passing", || {
        status_of(&agent, "web-proxy", "service:web-proxy")
            == Some(("passing".into(), "All checks passing.".into()))
    });
    assert_eq!(
        agent.put(
            "/v1/agent/check/register",
            br#"{"Name":"a","AliasService":"web","Interval":"1s"}"#
        ),
        (
            400,
            "Invalid check: Interval cannot be set for Alias checks".into()
        )
    );
}
