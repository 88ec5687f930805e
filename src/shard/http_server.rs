//! hyper glue: accept connections on this shard's SO_REUSEPORT listener and turn requests
//! into `http::ApiRequest`s with bounded bodies.

use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng;

use crate::config::{
    AgentConfig, HTTP_BODY_DRAIN_BYTES_MAX, HTTP_CONNECTIONS_PER_SHARD_MAX, HTTP_HEAD_BYTES_MAX,
    HTTP_HEAD_TIMEOUT_MS,
};
use crate::http::response::{BodyStream, JsonStyle, Reply};
use crate::http::{self, query::Query, route, route::Route};
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

async fn serve_connection<IO>(
    io: IO,
    peer: std::net::SocketAddr,
    ctx: ShardCtx,
    config: Rc<AgentConfig>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
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

async fn handle(
    req: Request<Incoming>,
    peer: std::net::SocketAddr,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> Response<ApiBody> {
    let started = std::time::Instant::now();
    // Consul's `agent.http` debug line, built only when someone logs at debug.
    let logged = tracing::enabled!(target: "agent.http", tracing::Level::DEBUG)
        .then(|| (req.method().clone(), req.uri().clone()));
    let method = static_method(req.method());
    let reply = answer(req, ctx, config).await;
    if !reply.2.is_empty() {
        // Consul's `consul.api.http`, by method and registered path (not for `/`).
        let key = crate::metrics::Key::with2("api.http", ("method", method), ("path", reply.2));
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
    let is_api = reply.1;
    to_hyper(
        reply.0,
        is_api.then_some(config.acl_default_policy.as_str()),
    )
}

/// A request method as a static label (metrics keep no per-request strings).
fn static_method(method: &hyper::Method) -> &'static str {
    match method.as_str() {
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

/// The reply, whether the route is the API's, and its `consul.api.http` path label.
async fn answer(
    req: Request<Incoming>,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> (Reply, bool, &'static str) {
    let req_path = req.uri().path().to_string();
    let path = match route::decode_path(&req_path) {
        Ok(p) => p,
        Err(why) => return (Reply::text(400, why), false, ""),
    };
    if let Some(reply) = http::ui::serve(config, &path, req.method().as_str()) {
        return (reply, false, "");
    }
    let route = Route::resolve(&path);
    let label = route.metric_path();
    let method = req.method().as_str().to_string();
    if let Some(reply) = http::preflight(&route, &method) {
        return (reply, route.is_api(), label);
    }
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let headers = http::carried_headers(
        req.headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let limit = http::body_limit(&route);
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
        return (http::too_large(&route, n), true, label);
    }
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return (http::too_large(&route, limit as u64 + 1), true, label)
        }
        Err(_) => return (Reply::text(400, "Failed to read request body"), true, label),
    };
    let pretty = query.has("pretty");
    let api = http::ApiRequest {
        method,
        path: req_path,
        query,
        body,
        style: JsonStyle {
            indent: pretty || config.dev,
            newline: pretty,
        },
        jitter: rand::thread_rng().gen::<f64>(),
        hops: 0,
        headers,
        identity: None,
    };
    (http::dispatch(ctx, config, &route, api).await, true, label)
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
