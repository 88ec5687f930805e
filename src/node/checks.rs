//! Health-check probes: the IO side of the agent's checks. Each returns (status, output);
//! the pure `LocalState::record_result` decides what becomes visible.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::agent::CheckKind;
use crate::catalog::{CRITICAL, PASSING, WARNING};
use crate::config::CHECK_OUTPUT_BYTES_MAX;

/// Cuts output as Consul does: ` ... (captured N of M bytes)` past the cap.
pub fn cap_output(text: &str) -> String {
    if text.len() <= CHECK_OUTPUT_BYTES_MAX {
        return text.to_string();
    }
    let mut cut = CHECK_OUTPUT_BYTES_MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{} ... (captured {cut} of {} bytes)",
        &text[..cut],
        text.len()
    )
}

/// Runs one probe of `kind`, bounded by `timeout`.
pub async fn probe(kind: &CheckKind, timeout: Duration) -> (&'static str, String) {
    match tokio::time::timeout(timeout, probe_inner(kind, timeout)).await {
        Ok(result) => result,
        Err(_) => (
            CRITICAL,
            format!(
                "Timed out ({}) running check",
                crate::http::decode::format_go_duration(timeout.as_nanos() as u64)
            ),
        ),
    }
}

async fn probe_inner(kind: &CheckKind, timeout: Duration) -> (&'static str, String) {
    match kind {
        CheckKind::Http {
            url,
            method,
            headers,
            body,
            ..
        } => http(url, method, headers, body).await,
        CheckKind::Tcp { address } => {
            match tokio::net::TcpStream::connect(address.as_str()).await {
                Ok(_) => (PASSING, format!("TCP connect {address}: Success")),
                Err(e) => (CRITICAL, format!("dial tcp {address}: {e}")),
            }
        }
        CheckKind::Udp { address } => udp(address, timeout).await,
        CheckKind::Script { args } => script(args).await,
        CheckKind::Grpc { address, service } => grpc(address, service).await,
        CheckKind::Ttl { .. } | CheckKind::Maintenance | CheckKind::Alias { .. } => {
            unreachable!("not probed")
        }
    }
}

/// UDP: send an empty datagram; a reply or silence until the read timeout passes (Consul's
/// rule), an error such as ICMP port unreachable fails.
async fn udp(address: &str, timeout: Duration) -> (&'static str, String) {
    let socket = match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
        Ok(s) => s,
        Err(e) => return (CRITICAL, e.to_string()),
    };
    if let Err(e) = socket.connect(address).await {
        return (CRITICAL, format!("dial udp {address}: {e}"));
    }
    if let Err(e) = socket.send(&[]).await {
        return (CRITICAL, format!("write udp {address}: {e}"));
    }
    let mut buf = [0u8; 1];
    match tokio::time::timeout(timeout.mul_f32(0.9), socket.recv(&mut buf)).await {
        Ok(Err(e)) => (CRITICAL, format!("read udp {address}: {e}")),
        _ => (PASSING, format!("UDP connect {address}: Success")),
    }
}

/// Script: argv without a shell; exit 0 passing, 1 warning, anything else critical.
async fn script(args: &[String]) -> (&'static str, String) {
    let Some((program, rest)) = args.split_first() else {
        return (CRITICAL, "empty args".into());
    };
    let output = tokio::process::Command::new(program)
        .args(rest)
        .kill_on_drop(true)
        .output()
        .await;
    match output {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let status = match out.status.code() {
                Some(0) => PASSING,
                Some(1) => WARNING,
                _ => CRITICAL,
            };
            (status, cap_output(&text))
        }
        Err(e) => (CRITICAL, format!("Failed to exec check: {e}")),
    }
}

/// The grpc.health.v1 `Check` call over HTTP/2 (plaintext). The messages are one field each,
/// so they are encoded here rather than through a protobuf/gRPC stack.
async fn grpc(address: &str, service: &str) -> (&'static str, String) {
    let target = if service.is_empty() {
        address.to_string()
    } else {
        format!("{address}/{service}")
    };
    let stream = match tokio::net::TcpStream::connect(address).await {
        Ok(s) => s,
        Err(e) => return (CRITICAL, format!("gRPC {target}: dial tcp {address}: {e}")),
    };
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = match hyper::client::conn::http2::handshake(LocalExecutor, io).await {
        Ok(pair) => pair,
        Err(e) => return (CRITICAL, format!("gRPC {target}: {e}")),
    };
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    if service.len() > 127 {
        // One-byte varint length below; real service names are far shorter.
        return (CRITICAL, format!("gRPC {target}: service name too long"));
    }
    // HealthCheckRequest { string service = 1; } in a gRPC frame (no compression).
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        message.push(service.len() as u8);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    let request = hyper::Request::builder()
        .method("POST")
        .uri(format!("http://{address}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame)))
        .expect("a valid request");
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => return (CRITICAL, format!("gRPC {target}: {e}")),
    };
    let collected = match response.into_body().collect().await {
        Ok(c) => c,
        Err(e) => return (CRITICAL, format!("gRPC {target}: {e}")),
    };
    let grpc_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    if grpc_status != "0" {
        return (
            CRITICAL,
            format!("gRPC {target}: rpc error: code = {grpc_status}"),
        );
    }
    let body = collected.to_bytes();
    // HealthCheckResponse { ServingStatus status = 1; }: 0x08 then a one-byte varint.
    let status = match body.get(5..) {
        Some([0x08, s, ..]) => *s,
        Some(_) | None => 0,
    };
    let name = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"]
        .get(status as usize)
        .copied()
        .unwrap_or("UNKNOWN");
    if status == 1 {
        (PASSING, format!("gRPC check {target}: success"))
    } else {
        (CRITICAL, format!("gRPC {target} serving status: {name}"))
    }
}

/// Runs hyper's HTTP/2 connection tasks on the shard's own LocalSet.
#[derive(Clone, Copy)]
struct LocalExecutor;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExecutor {
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}

/// Redirects an HTTP check follows, as Go's client does by default (Consul's check client).
const HTTP_CHECK_REDIRECTS_MAX: usize = 10;

/// HTTP: 2xx passing, 429 warning, anything else (or a transport error) critical. Redirects
/// are followed as Go's client follows them (Consul's checks use it): up to 10; a 301, 302
/// or 303 turns the request into a GET without a body, a 307 or 308 repeats it.
async fn http(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: &str,
) -> (&'static str, String) {
    let (mut target, mut verb, mut payload) = (url.to_string(), method.to_string(), body);
    let mut hops = 0;
    // Go's client keeps credentials and a set Host only while the host stays the same.
    let origin = authority_of(url).to_string();
    let elsewhere: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            ![
                "authorization",
                "www-authenticate",
                "cookie",
                "cookie2",
                "host",
            ]
            .contains(&k.to_ascii_lowercase().as_str())
        })
        .cloned()
        .collect();
    let (code, collected) = loop {
        let sent = match authority_of(&target) == origin {
            true => headers,
            false => &elsewhere[..],
        };
        let (code, location, collected) = match http_once(&target, &verb, sent, payload).await {
            Ok(answer) => answer,
            Err(e) => return (CRITICAL, format!("{method} {url}: {e}")),
        };
        let redirect = matches!(code.as_u16(), 301 | 302 | 303 | 307 | 308);
        let Some(location) = location.filter(|_| redirect) else {
            break (code, collected);
        };
        hops += 1;
        if hops > HTTP_CHECK_REDIRECTS_MAX {
            return (
                CRITICAL,
                format!("{method} {url}: stopped after {HTTP_CHECK_REDIRECTS_MAX} redirects"),
            );
        }
        target = resolve_location(&target, &location);
        if matches!(code.as_u16(), 301..=303) && verb != "HEAD" {
            verb = "GET".into();
            payload = "";
        }
    };
    let reason = code.canonical_reason().unwrap_or("");
    let output = format!(
        "HTTP {method} {url}: {} {reason} Output: {}",
        code.as_u16(),
        String::from_utf8_lossy(&collected)
    );
    let status = if code.is_success() {
        PASSING
    } else if code.as_u16() == 429 {
        WARNING
    } else {
        CRITICAL
    };
    (status, output)
}

/// The `host[:port]` of an `http://` URL.
fn authority_of(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
}

/// A `Location` against the URL it answered (RFC 3986 reference resolution, the cases a
/// server sends): absolute (`http://`, `https://`), scheme-relative (`//host/p`), from the
/// root (`/path`), a query (`?q`), or relative to the current path's directory.
fn resolve_location(current: &str, location: &str) -> String {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return location.to_string();
    }
    if let Some(rest) = location.strip_prefix("//") {
        return format!("http://{rest}");
    }
    let authority = authority_of(current);
    let rest = current.strip_prefix("http://").unwrap_or(current);
    let after = &rest[authority.len()..];
    let path = &after[..after.find('?').unwrap_or(after.len())];
    let path = if path.is_empty() { "/" } else { path };
    if location.starts_with('/') {
        return format!("http://{authority}{location}");
    }
    if location.starts_with('?') {
        return format!("http://{authority}{path}{location}");
    }
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    format!("http://{authority}{dir}{location}")
}

/// One HTTP request of a check: its status, its `Location`, and the body up to the output cap.
async fn http_once(
    url: &str,
    method: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<(hyper::StatusCode, Option<String>, Vec<u8>), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "{url}: only http:// check URLs are supported by this agent yet"
        ));
    };
    let authority = authority_of(url);
    let path = match &rest[authority.len()..] {
        "" => "/".to_string(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_string(),
    };
    let address = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .map_err(|e| format!("dial tcp {address}: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path.as_str())
        .header("Host", authority)
        .header("User-Agent", "Consul Health Check")
        .header("Accept", "text/plain, text/*, */*");
    for (k, v) in headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let code = response.status();
    let location = response
        .headers()
        .get(hyper::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Read at most the output cap (plus one byte to know it was cut).
    let mut collected = Vec::new();
    let mut body = response.into_body();
    while collected.len() <= CHECK_OUTPUT_BYTES_MAX {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    collected.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    collected.truncate(CHECK_OUTPUT_BYTES_MAX);
    Ok((code, location, collected))
}

#[cfg(test)]
mod redirect_tests {
    #[test]
    fn locations_resolve_as_browsers_and_go_resolve_them() {
        let at = "http://127.0.0.1:8500/a/b";
        assert_eq!(
            super::resolve_location(at, "/ui/"),
            "http://127.0.0.1:8500/ui/"
        );
        assert_eq!(
            super::resolve_location(at, "c"),
            "http://127.0.0.1:8500/a/c"
        );
        assert_eq!(super::resolve_location(at, "http://x:1/y"), "http://x:1/y");
        assert_eq!(super::resolve_location("http://h:1", "z"), "http://h:1/z");
        assert_eq!(
            super::resolve_location(at, "/login?next=http://x"),
            "http://127.0.0.1:8500/login?next=http://x"
        );
        assert_eq!(
            super::resolve_location(at, "//other:9/p"),
            "http://other:9/p"
        );
        assert_eq!(
            super::resolve_location("http://h/a/b?x=1", "?y=2"),
            "http://h/a/b?y=2"
        );
        assert_eq!(super::resolve_location(at, "HTTPS://s/"), "HTTPS://s/");
        assert_eq!(super::authority_of("http://h:1?q"), "h:1");
        assert_eq!(super::authority_of("http://h:1/p"), "h:1");
    }
}
