//! The KV HTTP API of a real agent: status codes, texts, headers, blocking, txn.

mod support;

use std::time::{Duration, Instant};

use support::{free_port, header, Agent};

#[test]
fn kv_http_surface() {
    let agent = Agent::start(free_port(), None);

    // Plain PUT answers `true`; GET gives the one-element array with Consul's headers.
    assert_eq!(agent.put("/v1/kv/foo", b"bar"), (200, "true".into()));
    let (status, body, headers) = agent.call("GET", "/v1/kv/foo", b"").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["Key"], "foo");
    assert_eq!(v[0]["Value"], "YmFy");
    let index: u64 = header(&headers, "X-Consul-Index").unwrap().parse().unwrap();
    assert_eq!(v[0]["ModifyIndex"], index);
    assert_eq!(header(&headers, "X-Consul-KnownLeader"), Some("true"));
    assert_eq!(header(&headers, "X-Consul-LastContact"), Some("0"));
    assert_eq!(
        header(&headers, "X-Consul-Default-ACL-Policy"),
        Some("allow")
    );
    assert_eq!(header(&headers, "Content-Type"), Some("application/json"));

    // ?raw
    let (_, body, headers) = agent.call("GET", "/v1/kv/foo?raw", b"").unwrap();
    assert_eq!(body, "bar");
    assert_eq!(header(&headers, "Content-Type"), Some("text/plain"));
    assert_eq!(header(&headers, "Content-Security-Policy"), Some("sandbox"));

    // Missing key: 404, empty body, still indexed.
    let (status, body, headers) = agent.call("GET", "/v1/kv/missing", b"").unwrap();
    assert_eq!((status, body.as_str()), (404, ""));
    assert!(header(&headers, "X-Consul-Index").is_some());

    // Flags, CAS, recurse, keys with separator.
    assert_eq!(agent.put("/v1/kv/app/a?flags=42", b"1").1, "true");
    assert_eq!(agent.put("/v1/kv/app/b/c", b"2").1, "true");
    assert_eq!(agent.put("/v1/kv/app/a?cas=1", b"x").1, "false");
    assert_eq!(agent.put("/v1/kv/app/new?cas=0", b"x").1, "true");
    assert_eq!(agent.put("/v1/kv/app/new?cas=0", b"y").1, "false");
    let (_, body) = agent.get("/v1/kv/app?recurse").unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = list.iter().map(|e| e["Key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["app/a", "app/b/c", "app/new"]);
    assert_eq!(list[0]["Flags"], 42);
    let (_, body) = agent.get("/v1/kv/app/?keys&separator=/").unwrap();
    assert_eq!(body, r#"["app/a","app/b/","app/new"]"#.replace(',', ",\n    ").replace('[', "[\n    ").replace(']', "\n]"));
    assert_eq!(agent.get("/v1/kv/zzz/?keys").unwrap().0, 404);
    assert_eq!(agent.get("/v1/kv/?keys").unwrap().0, 200);

    // Bad input: Consul's codes and texts; nothing stored changes.
    let before = agent.get("/v1/kv/foo").unwrap();
    assert_eq!(
        agent.put("/v1/kv/foo?flags=abc", b"zzz"),
        (
            500,
            r#"strconv.ParseUint: parsing "abc": invalid syntax"#.into()
        )
    );
    assert_eq!(
        agent.put("/v1/kv/foo?cas=1&release=x", b"zzz"),
        (400, "Conflicting flags: cas=1&release=x\n".into())
    );
    assert_eq!(
        agent.get("/v1/kv/foo?index=abc").unwrap(),
        (400, "Invalid index".into())
    );
    assert_eq!(
        agent.get("/v1/kv/foo?index=1&wait=5").unwrap(),
        (400, "Invalid wait time".into())
    );
    assert_eq!(agent.put("/v1/kv/", b"x"), (400, "Missing key name".into()));
    let big = vec![b'x'; 512 * 1024 + 1];
    let (status, text) = agent.put("/v1/kv/foo", &big);
    assert_eq!(status, 413);
    assert!(
        text.starts_with("Request body(524289 bytes) too large, max size: 524288 bytes."),
        "{text}"
    );
    assert_eq!(agent.get("/v1/kv/foo").unwrap(), before);
    let (status, _, headers) = agent.call("POST", "/v1/kv/foo", b"").unwrap();
    assert_eq!(status, 405);
    assert_eq!(header(&headers, "Allow"), Some("OPTIONS,GET,PUT,DELETE"));
    assert_eq!(
        agent.get("/v1/whatever").unwrap(),
        (
            404,
            "Invalid URL path: not a recognized HTTP API endpoint\n".into()
        )
    );

    // Txn: unknown fields are 400, failed checks are 409 with Errors and change nothing.
    let (status, text) = agent.put("/v1/txn", br#"[{"KV":{"Verb":"set","Key":"t","Bogus":1}}]"#);
    assert_eq!(
        (status, text.as_str()),
        (400, r#"Failed to parse body: json: unknown field "Bogus""#)
    );
    let (status, text) = agent.put("/v1/txn", br#"[{"KV":{"Verb":"set","Key":"t","Value":"eA=="}},{"KV":{"Verb":"check-not-exists","Key":"foo"}}]"#);
    assert_eq!(status, 409);
    assert!(text.contains(r#""What": "key \"foo\" exists""#), "{text}");
    assert_eq!(agent.get("/v1/kv/t").unwrap().0, 404);
    let (status, text) = agent.put(
        "/v1/txn",
        br#"[{"kv":{"verb":"set","key":"t","value":"eA=="}},{"KV":{"Verb":"get","Key":"foo"}}]"#,
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(agent.get("/v1/kv/t?raw").unwrap().1, "x");

    // Delete: cas mismatch false, recurse wipes the prefix.
    assert_eq!(
        agent.call("DELETE", "/v1/kv/foo?cas=1", b"").unwrap().1,
        "false"
    );
    assert_eq!(
        agent.call("DELETE", "/v1/kv/app?recurse", b"").unwrap().1,
        "true"
    );
    assert_eq!(agent.get("/v1/kv/app?recurse").unwrap().0, 404);
    assert_eq!(
        agent
            .call("DELETE", "/v1/kv/foo?recurse&cas=3", b"")
            .unwrap()
            .0,
        400
    );
}

#[test]
fn blocking_get_wakes_on_write() {
    let agent = Agent::start(free_port(), None);
    agent.put("/v1/kv/watch", b"1");
    let (_, _, headers) = agent.call("GET", "/v1/kv/watch", b"").unwrap();
    let index: u64 = header(&headers, "X-Consul-Index").unwrap().parse().unwrap();

    // A blocking GET with no change returns after `wait` with the same index.
    let start = Instant::now();
    let (_, _, h) = agent
        .call(
            "GET",
            &format!("/v1/kv/watch?index={index}&wait=300ms"),
            b"",
        )
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(header(&h, "X-Consul-Index").unwrap(), index.to_string());

    // A write wakes the waiter; it sees the new value and a higher index.
    let port = agent.port;
    let waiter = std::thread::spawn(move || {
        let url = format!("http://127.0.0.1:{port}/v1/kv/watch?index={index}&wait=30s");
        let resp = ureq::get(&url).call().unwrap();
        let idx: u64 = resp.header("X-Consul-Index").unwrap().parse().unwrap();
        (idx, resp.into_string().unwrap(), Instant::now())
    });
    std::thread::sleep(Duration::from_millis(200));
    agent.put("/v1/kv/watch", b"2");
    let written = Instant::now();
    let (idx, body, woke) = waiter.join().unwrap();
    assert!(idx > index);
    assert!(body.contains("\"Mg==\""), "{body}");
    // Generous bound: the point is "woken by the write", not a latency figure.
    assert!(woke.duration_since(written) < Duration::from_secs(5));
}

#[test]
fn huge_headers_and_garbage_are_refused_and_agent_stays_up() {
    use std::io::{Read, Write};
    let agent = Agent::start(free_port(), None);
    agent.put("/v1/kv/keep", b"safe");
    // A 200 KiB header: hyper refuses it (431) instead of buffering without bound.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let big = format!(
        "GET /v1/kv/keep HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );
    let _ = s.write_all(big.as_bytes());
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    // Garbage instead of HTTP: a 400 or a closed connection, never a crash.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"\x00\xff\x13garbage\r\n\r\n");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 400"),
        "{text}"
    );
    assert_eq!(agent.get("/v1/kv/keep?raw").unwrap(), (200, "safe".into()));
}

/// A client that dribbles its request head is cut off after the head timeout (10 s), while
/// other clients are served meanwhile.
#[test]
fn slowloris_connection_is_closed() {
    use std::io::{Read, Write};
    let agent = Agent::start(free_port(), None);
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", agent.port)).unwrap();
    slow.write_all(b"GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < Duration::from_secs(20) {
        // One more header byte per second: never completing the head.
        if slow.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        assert_eq!(
            agent.get("/v1/status/leader").unwrap().0,
            200,
            "others must still be served"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    if !closed {
        slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut buf = [0u8; 256];
        closed = match slow.read(&mut buf) {
            Ok(0) => true,                                  // EOF: the server hung up
            Ok(n) => buf[..n].starts_with(b"HTTP/1.1 408"), // or told us it timed out
            Err(_) => false,                                // still open and silent
        };
    }
    assert!(closed, "slow client still connected after 20 s");
    assert!(
        start.elapsed() >= Duration::from_secs(8),
        "cut off too early: {:?}",
        start.elapsed()
    );
}
