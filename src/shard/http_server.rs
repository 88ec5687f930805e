//! The HTTP shell: accept connections on this shard's SO_REUSEPORT listener and turn requests
//! into `http::ApiRequest`s with bounded bodies, through the fast path (`io::http1`) for plain
//! bodiless requests and hyper for everything else.

use std::convert::Infallible;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;
use smallvec::SmallVec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{
    AgentConfig, HTTP_BODY_DRAIN_BYTES_MAX, HTTP_CONNECTIONS_PER_SHARD_MAX,
    HTTP_COPIED_BODY_BYTES_MAX, HTTP_HEAD_BYTES_MAX, HTTP_HEAD_TIMEOUT_MS, HTTP_READ_CHUNK_BYTES,
};
use crate::http::response::{BodyStream, JsonStyle, Reply};
use crate::http::{self, query::Query, route, route::Route};
use crate::io::http1::{self, Parse};
use crate::node::ctx::ShardCtx;

/// Accepts connections forever, one local task per connection, at most
/// `HTTP_CONNECTIONS_PER_SHARD_MAX` at once: at the limit it stops accepting until one
/// closes, so further clients wait in the kernel's backlog instead of growing our memory.
/// With `https`, each connection is a TLS session first (`io::https`'s acceptor in force).
pub async fn serve(
    listener: std::net::TcpListener,
    ctx: ShardCtx,
    config: Rc<AgentConfig>,
    https: bool,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener on this runtime");
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(HTTP_CONNECTIONS_PER_SHARD_MAX));
    loop {
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (ctx, config) = (ctx.clone(), config.clone());
        tokio::task::spawn_local(async move {
            if !https {
                serve_connection(stream, peer, ctx, config).await;
            } else if let Some(acceptor) = crate::io::https::current() {
                let handshake = Duration::from_millis(HTTP_HEAD_TIMEOUT_MS);
                // A client without an acceptable certificate (`verify_incoming`) ends here.
                if let Ok(Ok(tls)) = tokio::time::timeout(handshake, acceptor.accept(stream)).await
                {
                    serve_connection(tls, peer, ctx, config).await;
                }
            }
            drop(slot);
        });
    }
}

/// One connection: plain bodiless HTTP/1.1 requests (nearly every read) are parsed and
/// answered here by `io::http1`; the first request that is anything else hands the
/// connection, with the bytes already read, to hyper for the rest of its life.
async fn serve_connection<IO>(
    mut io: IO,
    peer: std::net::SocketAddr,
    ctx: ShardCtx,
    config: Rc<AgentConfig>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let mut read = BytesMut::with_capacity(HTTP_READ_CHUNK_BYTES);
    let mut out = Vec::with_capacity(HTTP_READ_CHUNK_BYTES);
    // hyper's header read timeout: the whole wait for one head, idle time included, from the
    // first read that finds it incomplete (a client trickling bytes does not extend it).
    let mut head_deadline = None;
    // How much of `read` is known to hold no end of head: a head trickled in is parsed once,
    // when its blank line arrives, not again at every byte (as hyper does).
    let mut scanned = 0;
    loop {
        let started = Instant::now();
        let mut slots = http1::header_slots();
        let parsed = if http1::head_may_be_complete(&read, scanned) {
            http1::parse(&read, &mut slots)
        } else {
            Parse::Partial
        };
        let plain = match parsed {
            Parse::Hyper => break,
            Parse::Partial => {
                scanned = read.len();
                if read.capacity() - read.len() < HTTP_READ_CHUNK_BYTES / 2 {
                    read.reserve(HTTP_READ_CHUNK_BYTES);
                }
                // From `started`, read at the top of this pass (a clock read saved per request).
                let deadline = *head_deadline.get_or_insert_with(|| {
                    tokio::time::Instant::from_std(started)
                        + Duration::from_millis(HTTP_HEAD_TIMEOUT_MS)
                });
                match tokio::time::timeout_at(deadline, io.read_buf(&mut read)).await {
                    Ok(Ok(n)) if n > 0 => continue,
                    _ => return,
                }
            }
            Parse::Plain(plain) => plain,
        };
        head_deadline = None;
        scanned = 0;
        let method = static_method(plain.method);
        let head_request = plain.method == "HEAD";
        let keep_alive = plain.keep_alive;
        let logged = debug_logged().then(|| (plain.method.to_string(), plain.target.to_string()));
        let admitted = admit(
            plain.method,
            plain.path,
            plain.query,
            plain.text_headers(),
            &config,
        );
        read.advance(plain.head_len);
        let answered = match admitted {
            Ok(admitted) => {
                // Raced against the socket, as hyper does: a client that goes while its
                // request runs (a blocking read, say) takes the handler with it. Bytes it
                // sends meanwhile wait in `read` for the next request.
                let running = run(admitted, Bytes::new(), &ctx, &config);
                tokio::pin!(running);
                loop {
                    tokio::select! {
                        biased;
                        answered = &mut running => break answered,
                        got = io.read_buf(&mut read), if read.len() < HTTP_HEAD_BYTES_MAX => {
                            match got {
                                Ok(n) if n > 0 => continue,
                                _ => return,
                            }
                        }
                    }
                }
            }
            Err(answered) => answered,
        };
        record(method, &answered, started, logged, peer);
        let (reply, is_api, _) = answered;
        let acl_policy = is_api.then_some(config.acl_default_policy.as_str());
        if write_reply(
            &mut io,
            &mut out,
            &mut read,
            reply,
            acl_policy,
            head_request,
            !keep_alive,
        )
        .await
        .is_err()
        {
            return;
        }
        if !keep_alive {
            // A TLS client gets its close_notify, a plain one its FIN, as from hyper.
            let _ = io.shutdown().await;
            return;
        }
    }
    let io = http1::Rewind::new(read.freeze(), io);
    let service = hyper::service::service_fn(move |req| {
        let (ctx, config) = (ctx.clone(), config.clone());
        async move { Ok::<_, Infallible>(handle(req, peer, &ctx, &config).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(HTTP_HEAD_TIMEOUT_MS))
        .max_buf_size(HTTP_HEAD_BYTES_MAX)
        .title_case_headers(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Writes a reply as hyper would: head and whole body in one write, or a streamed body in
/// chunks until it ends or the client goes (a read while waiting sees it go, and that is an
/// error: the connection ends; bytes it sends meanwhile, up to a head's worth, are kept in
/// `read` for the next request).
async fn write_reply<IO>(
    io: &mut IO,
    out: &mut Vec<u8>,
    read: &mut BytesMut,
    reply: Reply,
    acl_policy: Option<&str>,
    head_request: bool,
    close: bool,
) -> std::io::Result<()>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut headers: SmallVec<[(&str, &str); 16]> = SmallVec::new();
    headers.extend(reply.content_type.map(|ct| ("Content-Type", ct)));
    headers.extend(acl_policy.map(|p| ("X-Consul-Default-Acl-Policy", p)));
    headers.extend(reply.headers.iter().map(|(n, v)| (*n, v.as_str())));
    let with_body = http1::has_body(head_request, reply.status);
    out.clear();
    let Some(mut stream) = reply.stream else {
        let framing = http1::Framing::Length(reply.body.len());
        http1::write_head(out, reply.status, &headers, framing, head_request, close);
        if !with_body {
            return write_flushed(io, out).await;
        }
        if reply.body.len() <= HTTP_COPIED_BODY_BYTES_MAX {
            out.extend_from_slice(&reply.body);
            return write_flushed(io, out).await;
        }
        io.write_all(out).await?;
        io.write_all(&reply.body).await?;
        return io.flush().await;
    };
    http1::write_head(
        out,
        reply.status,
        &headers,
        http1::Framing::Chunked,
        head_request,
        close,
    );
    if with_body && !reply.body.is_empty() {
        http1::write_chunk(out, &reply.body);
    }
    write_flushed(io, out).await?;
    if !with_body {
        return Ok(());
    }
    loop {
        let next = std::future::poll_fn(|cx| (stream.0)(cx));
        let chunk = tokio::select! {
            chunk = next => chunk,
            got = io.read_buf(read), if read.len() < HTTP_HEAD_BYTES_MAX => match got {
                Ok(n) if n > 0 => continue,
                Ok(_) => return Err(std::io::ErrorKind::ConnectionAborted.into()),
                Err(e) => return Err(e),
            },
        };
        let Some(bytes) = chunk else {
            return write_flushed(io, http1::LAST_CHUNK).await;
        };
        if !bytes.is_empty() {
            out.clear();
            http1::write_chunk(out, &bytes);
            write_flushed(io, out).await?;
        }
    }
}

async fn write_flushed<IO: tokio::io::AsyncWrite + Unpin>(
    io: &mut IO,
    bytes: &[u8],
) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// Whether `agent.http`'s per-request debug line is wanted (built only then).
fn debug_logged() -> bool {
    tracing::enabled!(target: "agent.http", tracing::Level::DEBUG)
}

/// Consul's `consul.api.http` timing and `agent.http` debug line for one request.
fn record(
    method: &'static str,
    answered: &(Reply, bool, &'static str),
    started: Instant,
    logged: Option<(String, String)>,
    peer: std::net::SocketAddr,
) {
    if !answered.2.is_empty() {
        // By method and registered path (not for `/`).
        let key = crate::metrics::Key::with2("api.http", ("method", method), ("path", answered.2));
        crate::node::telemetry::measure_since(key, started);
    }
    if let Some((method, url)) = logged {
        tracing::debug!(
            target: "agent.http",
            method = method.as_str(),
            url = %url,
            from = %peer,
            latency = ?started.elapsed(),
            "Request finished"
        );
    }
}

async fn handle(
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> Response<ApiBody> {
    let started = Instant::now();
    let logged = debug_logged().then(|| (req.method().to_string(), req.uri().to_string()));
    let method = static_method(req.method().as_str());
    let answered = answer(req, ctx, config).await;
    record(method, &answered, started, logged, peer);
    let (reply, is_api, _) = answered;
    to_hyper(reply, is_api.then_some(config.acl_default_policy.as_str()))
}

/// A request method as a static label (metrics keep no per-request strings).
fn static_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "OTHER",
    }
}

/// A reply, whether its route is the API's, and its `consul.api.http` path label.
type Answered = (Reply, bool, &'static str);

/// What a request's head decides before its body is read.
struct Admitted {
    route: Route,
    label: &'static str,
    method: String,
    path: String,
    query: Query,
    headers: Vec<(String, String)>,
}

/// Routes a request by its head: the UI, unknown paths, OPTIONS and 405 are answered here
/// (`Err`); an API request goes on to read its body and `run`.
fn admit<'h>(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: impl Iterator<Item = (&'h str, &'h str)>,
    config: &AgentConfig,
) -> Result<Admitted, Answered> {
    let path = match route::decode_path(raw_path) {
        Ok(p) => p,
        Err(why) => return Err((Reply::text(400, why), false, "")),
    };
    if let Some(reply) = http::ui::serve(config, &path, method) {
        return Err((reply, false, ""));
    }
    let route = Route::resolve(&path);
    let label = route.metric_path();
    if let Some(reply) = http::preflight(&route, method) {
        return Err((reply, route.is_api(), label));
    }
    Ok(Admitted {
        route,
        label,
        method: method.to_string(),
        path: raw_path.to_string(),
        query: Query::parse(raw_query),
        headers: http::carried_headers(headers),
    })
}

/// Runs an admitted API request with its body.
async fn run(admitted: Admitted, body: Bytes, ctx: &ShardCtx, config: &AgentConfig) -> Answered {
    let pretty = admitted.query.has("pretty");
    let api = http::ApiRequest {
        method: admitted.method,
        path: admitted.path,
        query: admitted.query,
        body,
        style: JsonStyle {
            indent: pretty || config.dev,
            newline: pretty,
        },
        jitter: rand::thread_rng().gen::<f64>(),
        hops: 0,
        headers: admitted.headers,
        identity: None,
    };
    let reply = http::dispatch(ctx, config, &admitted.route, api).await;
    (reply, true, admitted.label)
}

/// hyper's path: a request with a body, or anything else the fast path leaves to hyper.
async fn answer(req: Request<Incoming>, ctx: &ShardCtx, config: &AgentConfig) -> Answered {
    let admitted = match admit(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query().unwrap_or(""),
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
        config,
    ) {
        Ok(admitted) => admitted,
        Err(answered) => return answered,
    };
    let (route, label) = (&admitted.route, admitted.label);
    let limit = http::body_limit(route);
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut body = req.into_body();
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        // Read and discard (up to a cap) so that a client still sending sees the 413 rather
        // than a reset, as Go's server does for unread bodies.
        let mut drained = 0usize;
        while drained < HTTP_BODY_DRAIN_BYTES_MAX {
            match body.frame().await {
                Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
        return (http::too_large(route, n), true, label);
    }
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return (http::too_large(route, limit as u64 + 1), true, label)
        }
        Err(_) => return (Reply::text(400, "Failed to read request body"), true, label),
    };
    run(admitted, body, ctx, config).await
}

/// A whole body (with its length), or a whole first part followed by a stream, sent chunked.
pub enum ApiBody {
    Whole(Full<Bytes>),
    Streamed(Option<Bytes>, BodyStream),
}

impl hyper::body::Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        match self.get_mut() {
            ApiBody::Whole(full) => std::pin::Pin::new(full).poll_frame(cx),
            ApiBody::Streamed(first, stream) => {
                if let Some(bytes) = first.take().filter(|b| !b.is_empty()) {
                    return Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes))));
                }
                (stream.0)(cx).map(|chunk| chunk.map(|b| Ok(hyper::body::Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ApiBody::Whole(full) => full.is_end_stream(),
            ApiBody::Streamed(..) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ApiBody::Whole(full) => full.size_hint(),
            ApiBody::Streamed(..) => hyper::body::SizeHint::default(),
        }
    }
}

fn to_hyper(reply: Reply, acl_policy: Option<&str>) -> Response<ApiBody> {
    let mut builder = Response::builder().status(reply.status);
    if let Some(ct) = reply.content_type {
        builder = builder.header("Content-Type", ct);
    }
    if let Some(policy) = acl_policy {
        builder = builder.header("X-Consul-Default-Acl-Policy", policy);
    }
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    let body = match reply.stream {
        None => ApiBody::Whole(Full::new(reply.body)),
        Some(stream) => ApiBody::Streamed(Some(reply.body), stream),
    };
    builder.body(body).expect("headers we build are valid")
}

#[cfg(test)]
mod tests {
    //! The fast path's bytes against hyper's: the same replies written both ways must match
    //! byte for byte (the `Date` value aside), so clients cannot tell which path answered.

    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use tokio::io::{duplex, DuplexStream};

    #[derive(Clone, Debug)]
    struct Spec {
        status: u16,
        content_type: Option<&'static str>,
        acl: Option<&'static str>,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        chunks: Option<Vec<Vec<u8>>>,
        head_request: bool,
        close: bool,
    }

    impl Spec {
        fn reply(&self) -> Reply {
            let mut chunks: VecDeque<Bytes> = self
                .chunks
                .iter()
                .flatten()
                .map(|c| Bytes::from(c.clone()))
                .collect();
            Reply {
                status: self.status,
                content_type: self.content_type,
                headers: self.headers.clone(),
                body: Bytes::from(self.body.clone()),
                stream: self.chunks.as_ref().map(|_| {
                    BodyStream(Box::new(move |_cx: &mut std::task::Context<'_>| {
                        std::task::Poll::Ready(chunks.pop_front())
                    }))
                }),
            }
        }

        fn request(&self) -> Vec<u8> {
            let method = if self.head_request { "HEAD" } else { "GET" };
            let close = if self.close {
                "Connection: close\r\n"
            } else {
                ""
            };
            format!("{method} /v1/x HTTP/1.1\r\nHost: a\r\n{close}\r\n").into_bytes()
        }
    }

    fn spec() -> impl Strategy<Value = Spec> {
        let status = prop::sample::select(vec![
            200u16, 201, 204, 304, 400, 403, 404, 405, 413, 429, 500, 599,
        ]);
        let header = (
            prop::sample::select(vec![
                "X-Consul-Index",
                "X-Consul-KnownLeader",
                "Vary",
                "Allow",
                "content-type",
                "X-Consul-Effective-Consistency",
            ]),
            "[a-zA-Z0-9 ,;=-]{0,12}",
        );
        let body = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            prop::collection::vec(any::<u8>(), 20_000..20_010),
        ];
        let chunks = prop::option::of(prop::collection::vec(
            prop::collection::vec(any::<u8>(), 0..40),
            0..4,
        ));
        (
            status,
            prop::option::of(prop::sample::select(vec![
                "application/json",
                "text/plain; charset=utf-8",
            ])),
            prop::option::of(prop::sample::select(vec!["allow", "deny"])),
            prop::collection::vec(header, 0..5),
            body,
            chunks,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(status, content_type, acl, headers, body, chunks, head_request, close)| Spec {
                    status,
                    content_type,
                    acl,
                    headers,
                    body,
                    chunks,
                    head_request,
                    close,
                },
            )
    }

    /// Reads one whole response (by its framing) and blanks the `Date` value.
    async fn read_response(client: &mut DuplexStream, head_request: bool) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            if let Ok(httparse::Status::Complete(head_len)) = response.parse(&got) {
                let status = response.code.unwrap_or(0);
                let find = |name: &str| {
                    response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .map(|h| String::from_utf8_lossy(h.value).to_string())
                };
                let length = find("content-length").and_then(|v| v.parse::<usize>().ok());
                let chunked = find("transfer-encoding").is_some();
                let body = &got[head_len..];
                let done = if !http1::has_body(head_request, status) {
                    true
                } else if chunked {
                    body.ends_with(http1::LAST_CHUNK) && chunked_complete(body)
                } else {
                    body.len() >= length.unwrap_or(0)
                };
                if done {
                    let text = String::from_utf8_lossy(&got[..head_len]).to_string();
                    let date_at = text.find("Date: ").expect("a Date header") + 6;
                    got[date_at..date_at + 29].fill(b'D');
                    return got;
                }
            }
            let n = client.read_buf(&mut got).await.expect("read");
            assert!(
                n > 0,
                "connection closed early: {:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }

    fn chunked_complete(mut body: &[u8]) -> bool {
        loop {
            let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
                return false;
            };
            let size = std::str::from_utf8(&body[..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s, 16).ok());
            let Some(size) = size else { return false };
            if size == 0 {
                return body.len() == line_end + 4;
            }
            let next = line_end + 2 + size + 2;
            if body.len() < next {
                return false;
            }
            body = &body[next..];
        }
    }

    async fn through_hyper(spec: &Spec) -> Vec<u8> {
        let (mut client, server) = duplex(1 << 20);
        let served = spec.clone();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |_req| {
                let spec = served.clone();
                async move { Ok::<_, Infallible>(to_hyper(spec.reply(), spec.acl)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .title_case_headers(true)
                .serve_connection(TokioIo::new(server), service)
                .await;
        });
        client.write_all(&spec.request()).await.unwrap();
        read_response(&mut client, spec.head_request).await
    }

    async fn through_fast_path(spec: &Spec) -> Vec<u8> {
        let (mut client, mut server) = duplex(1 << 20);
        let served = spec.clone();
        tokio::task::spawn_local(async move {
            let (mut out, mut read) = (Vec::new(), BytesMut::new());
            let (reply, acl) = (served.reply(), served.acl);
            let _ = write_reply(
                &mut server,
                &mut out,
                &mut read,
                reply,
                acl,
                served.head_request,
                served.close,
            )
            .await;
            // Keep the connection open until the client has read the reply.
            let _ = server.read_buf(&mut read).await;
        });
        read_response(&mut client, spec.head_request).await
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn fast_path_writes_what_hyper_writes(spec in spec()) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let local = tokio::task::LocalSet::new();
            let (hyper_bytes, fast_bytes) = local.block_on(&runtime, async {
                (through_hyper(&spec).await, through_fast_path(&spec).await)
            });
            prop_assert_eq!(
                String::from_utf8_lossy(&fast_bytes),
                String::from_utf8_lossy(&hyper_bytes)
            );
        }
    }

    #[test]
    fn plain_requests_are_taken_and_others_left_to_hyper() {
        let taken = |bytes: &[u8]| {
            let mut slots = http1::header_slots();
            match http1::parse(bytes, &mut slots) {
                Parse::Plain(p) => Some((p.path.to_string(), p.query.to_string(), p.keep_alive)),
                Parse::Partial => Some(("partial".into(), String::new(), false)),
                Parse::Hyper => None,
            }
        };
        assert_eq!(
            taken(b"GET /v1/kv/a?recurse=&index=7 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("/v1/kv/a".into(), "recurse=&index=7".into(), true))
        );
        assert_eq!(
            taken(b"DELETE /v1/kv/a HTTP/1.1\r\nContent-Length: 0\r\nConnection: Close\r\n\r\n"),
            Some(("/v1/kv/a".into(), String::new(), false))
        );
        assert_eq!(
            taken(b"GET /v1/kv/a HTTP/1.1\r\nHo"),
            Some(("partial".into(), String::new(), false))
        );
        for other in [
            &b"PUT /v1/kv/a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"[..],
            b"PUT /v1/kv/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /v1/kv/a HTTP/1.0\r\n\r\n",
            b"GET /v1/kv/a HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
            b"GET /v1/kv/a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET /v1/kv/{a} HTTP/1.1\r\n\r\n",
            b"GET /v1/kv/a#frag HTTP/1.1\r\n\r\n",
            b"GET http://h/v1/kv/a HTTP/1.1\r\n\r\n",
            b"GET /v1/kv/a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
            b"GE\x01T / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(taken(other), None, "{}", String::from_utf8_lossy(other));
        }
        let too_long = [b"GET /".as_slice(), &vec![b'a'; HTTP_HEAD_BYTES_MAX]].concat();
        assert_eq!(taken(&too_long), None);
    }

    #[test]
    fn a_head_is_parsed_only_once_its_blank_line_arrived() {
        let head = b"GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\n";
        // Byte by byte, as a trickling client sends it: complete only at the last byte.
        for end in 1..head.len() {
            assert!(!http1::head_may_be_complete(&head[..end], end - 1), "{end}");
        }
        assert!(http1::head_may_be_complete(head, head.len() - 1));
        assert!(http1::head_may_be_complete(b"GET / HTTP/1.1\n\n", 14));
        // Already searched past the blank line: not found again (the request was taken).
        assert!(!http1::head_may_be_complete(b"xx\r\n\r\nabc", 10));
        assert!(http1::head_may_be_complete(
            &vec![b'a'; HTTP_HEAD_BYTES_MAX],
            0
        ));
    }
}
