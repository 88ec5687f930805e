//! Server RPC on every shard (SO_REUSEPORT on `ports.server`), and the pooled client shards use
//! to forward requests to a server or the leader. Frames are `crate::rpc::Frame`.
//!
//! Served: Raft messages (to the Raft core), forwarded HTTP requests (dispatched here as if they
//! had arrived on our HTTP port), catalog proposals and node views (a client agent's
//! anti-entropy) and DNS queries (a client agent's DNS). A request that was already forwarded
//! twice is answered where it lands, so a stale leader view can never loop a request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::io::rpc_tls::RpcStream;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codec::WireError;
use crate::config::{AgentConfig, RPC_CONNECT_TIMEOUT_MS, RPC_IDLE_CONNS_MAX};
use crate::error::ApiError;
use crate::http::response::{JsonStyle, Reply};
use crate::http::route::{Route, Serve};
use crate::http::{self, query::Query, ApiRequest};
use crate::mesh::RaftInput;
use crate::rpc::{split_frame, Frame, HttpRequest, HttpResponse, ProposeOutcome, RPC_VERSION};
use crate::shard::core::ShardCtx;
use crate::state::WriteOutcome;

/// Forwarding hops a request may take (client → server → a server of another datacenter
/// (`?dc=`) → its leader).
pub const FORWARD_HOPS_MAX: u8 = 3;
pub const HOPS_HEADER: &str = "x-tribune-hops";
const STYLE_HEADER: &str = "x-tribune-style";

/// Response headers a forwarded answer may carry back (the glue needs `'static` names).
const PASSED_HEADERS: &[&str] = &[
    "X-Consul-Index",
    "X-Consul-KnownLeader",
    "X-Consul-LastContact",
    "X-Consul-Effective-Consistency",
    "X-Consul-Query-Backend",
    "X-Consul-Results-Filtered-By-ACLs",
    "X-Consul-Translate-Addresses",
    "Allow",
];

pub fn hello(config: &AgentConfig) -> Frame {
    Frame::Hello {
        version: RPC_VERSION,
        datacenter: config.datacenter.clone(),
        node: config.node_name.clone(),
    }
}

/// Reads one frame, buffering in `buf`. `Ok(None)` at a clean end of stream.
async fn read_frame(s: &mut RpcStream, buf: &mut Vec<u8>) -> Result<Option<Frame>, WireError> {
    loop {
        if let Some((frame, used)) = split_frame(buf)? {
            buf.drain(..used);
            return Ok(Some(frame));
        }
        let mut chunk = [0u8; 16 * 1024];
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(WireError("connection closed mid-frame")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn write_frame(s: &mut RpcStream, frame: &Frame) -> std::io::Result<()> {
    s.write_all(&frame.encode()).await
}

/// Accepts RPC connections forever.
pub async fn serve(listener: std::net::TcpListener, ctx: ShardCtx, config: Rc<AgentConfig>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener on this runtime");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (ctx, config) = (ctx.clone(), config.clone());
        tokio::task::spawn_local(async move {
            // TLS (or the refusal of plaintext) per `verify_incoming`: see `io::rpc_tls`.
            match crate::io::rpc_tls::rpc().accept(stream).await {
                Ok(stream) => serve_conn(stream, ctx, config).await,
                Err(e) => eprintln!("    [WARN]  agent.rpc: connection refused: {e}"),
            }
        });
    }
}

async fn serve_conn(mut s: RpcStream, ctx: ShardCtx, config: Rc<AgentConfig>) {
    let mut buf = Vec::new();
    let Ok(Some(Frame::Hello { version, .. })) = read_frame(&mut s, &mut buf).await else {
        return; // garbage or silence before a hello: close
    };
    if version != RPC_VERSION {
        let text = format!("unsupported RPC version {version}; this agent speaks {RPC_VERSION}");
        let _ = write_frame(&mut s, &Frame::Error(text)).await;
        return;
    }
    if write_frame(&mut s, &hello(&config)).await.is_err() {
        return;
    }
    loop {
        let frame = match read_frame(&mut s, &mut buf).await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                let _ = write_frame(&mut s, &Frame::Error(format!("bad frame: {e}"))).await;
                return;
            }
        };
        let answer = match frame {
            Frame::Raft(bytes) => {
                if config.server {
                    if let Ok(m) = protobuf::Message::parse_from_bytes(&bytes) {
                        // Full queue: dropped, Raft resends.
                        let _ = ctx.mesh.raft.try_send(RaftInput::Message(Box::new(m)));
                    }
                }
                continue; // one way
            }
            Frame::Http(req) => Frame::HttpAnswer(serve_http(&ctx, &config, req).await),
            Frame::Propose(bytes) => {
                Frame::ProposeAnswer(serve_propose(&ctx, &config, &bytes).await)
            }
            Frame::NodeView(name) => match ctx.node_view(&name).await {
                Some(view) => Frame::NodeViewAnswer(view.encode()),
                None => Frame::Error("catalog busy".into()),
            },
            Frame::Dns(bytes) if !bytes.is_empty() && config.server => {
                let tcp = bytes[0] == 1;
                let reply =
                    crate::shard::dns_server::respond(&bytes[1..], tcp, &ctx, &config).await;
                Frame::DnsAnswer(reply.unwrap_or_default())
            }
            _ => Frame::Error("unexpected frame".into()),
        };
        if write_frame(&mut s, &answer).await.is_err() {
            return;
        }
    }
}

async fn serve_propose(ctx: &ShardCtx, config: &AgentConfig, bytes: &[u8]) -> ProposeOutcome {
    if !config.server {
        return ProposeOutcome::failed(&ApiError::Internal("not a server".into()));
    }
    let cmd = match crate::state::Command::decode(bytes) {
        Ok(cmd @ crate::state::Command::Catalog(_)) => cmd,
        Ok(_) => {
            let e = ApiError::BadRequest("only catalog writes are proposed over RPC".into());
            return ProposeOutcome::failed(&e);
        }
        Err(e) => {
            return ProposeOutcome::failed(&ApiError::BadRequest(format!("bad command: {e}")))
        }
    };
    match ctx.write(cmd).await {
        WriteOutcome::Bool(b) => ProposeOutcome::Done(b),
        WriteOutcome::Txn { .. } => ProposeOutcome::Done(true),
        WriteOutcome::Failed(e) => ProposeOutcome::failed(&e),
    }
}

async fn serve_http(ctx: &ShardCtx, config: &AgentConfig, req: HttpRequest) -> HttpResponse {
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let hops = header(HOPS_HEADER)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let style = header(STYLE_HEADER).unwrap_or("");
    let reply = match route_request(&req.path) {
        Err(reply) => reply,
        Ok(route) => match http::preflight(&route, &req.method) {
            Some(reply) => reply,
            None if req.body.len() > http::body_limit(&route) => {
                http::too_large(&route, req.body.len() as u64)
            }
            None => {
                let api = ApiRequest {
                    method: req.method.clone(),
                    path: req.path.clone(),
                    query: Query::parse(&req.query),
                    body: Bytes::from(req.body),
                    style: JsonStyle {
                        indent: style.contains("indent"),
                        newline: style.contains("newline"),
                    },
                    jitter: rand::random::<f64>(),
                    hops,
                    headers: http::carried_headers(
                        req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    ),
                };
                http::dispatch(ctx, config, &route, api).await
            }
        },
    };
    HttpResponse {
        status: reply.status,
        content_type: reply.content_type.unwrap_or("").to_string(),
        headers: reply
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body: reply.body.to_vec(),
    }
}

fn route_request(path: &str) -> Result<Route, Reply> {
    let path = crate::http::route::decode_path(path).map_err(|why| Reply::text(400, why))?;
    Ok(Route::resolve(&path))
}

thread_local! {
    /// Idle forwarding connections of this shard, by server address.
    static POOL: RefCell<HashMap<SocketAddr, Vec<RpcStream>>> = RefCell::new(HashMap::new());
}

/// One request/answer exchange with the agent at `addr` over a pooled connection. A pooled
/// connection may have died with its server (a restart): then the call is retried once on a
/// fresh connection. Requests are idempotent or fail cleanly when the server never read them.
pub async fn call(config: &AgentConfig, addr: SocketAddr, frame: &Frame) -> Result<Frame, String> {
    if let Some(conn) = POOL.with(|p| p.borrow_mut().get_mut(&addr).and_then(Vec::pop)) {
        if let Ok(answer) = exchange(addr, conn, frame).await {
            return Ok(answer);
        }
    }
    let conn = connect(config, addr).await?;
    exchange(addr, conn, frame).await
}

async fn connect(config: &AgentConfig, addr: SocketAddr) -> Result<RpcStream, String> {
    let connect = crate::io::listen::connect_from(config.bind_addr, addr);
    let s = match tokio::time::timeout(Duration::from_millis(RPC_CONNECT_TIMEOUT_MS), connect).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("rpc error making call: dial tcp {addr}: {e}")),
        Err(_) => {
            return Err(format!(
                "rpc error making call: dial tcp {addr}: i/o timeout"
            ))
        }
    };
    let mut s = crate::io::rpc_tls::rpc()
        .connect(s)
        .await
        .map_err(|e| format!("rpc error making call: {e}"))?;
    write_frame(&mut s, &hello(config))
        .await
        .map_err(|e| format!("rpc error making call: {e}"))?;
    let mut buf = Vec::new();
    match read_frame(&mut s, &mut buf).await {
        Ok(Some(Frame::Hello { .. })) if buf.is_empty() => Ok(s),
        Ok(Some(Frame::Error(e))) => Err(format!("rpc error making call: {e}")),
        _ => Err("rpc error making call: bad handshake".into()),
    }
}

async fn exchange(addr: SocketAddr, mut conn: RpcStream, frame: &Frame) -> Result<Frame, String> {
    let mut buf = Vec::new();
    if let Err(e) = write_frame(&mut conn, frame).await {
        return Err(format!("rpc error making call: {e}"));
    }
    match read_frame(&mut conn, &mut buf).await {
        Ok(Some(Frame::Error(e))) => Err(format!("rpc error making call: {e}")),
        Ok(Some(answer)) => {
            if buf.is_empty() {
                POOL.with(|p| {
                    let mut p = p.borrow_mut();
                    let idle = p.entry(addr).or_default();
                    if idle.len() < RPC_IDLE_CONNS_MAX {
                        idle.push(conn);
                    }
                });
            }
            Ok(answer)
        }
        Ok(None) => Err("rpc error making call: EOF".into()),
        Err(e) => Err(format!("rpc error making call: {e}")),
    }
}

/// Forwards an HTTP request to `addr` and turns the answer back into a `Reply`.
pub async fn forward_http(config: &AgentConfig, addr: SocketAddr, req: &ApiRequest) -> Reply {
    let mut style = String::new();
    if req.style.indent {
        style.push_str("indent ");
    }
    if req.style.newline {
        style.push_str("newline");
    }
    let frame = Frame::Http(HttpRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.raw().to_string(),
        headers: [
            (HOPS_HEADER.into(), (req.hops + 1).to_string()),
            (STYLE_HEADER.into(), style),
        ]
        .into_iter()
        .chain(req.headers.iter().cloned())
        .collect(),
        body: req.body.to_vec(),
    });
    match call(config, addr, &frame).await {
        Ok(Frame::HttpAnswer(a)) => {
            let mut reply = Reply {
                status: a.status,
                content_type: match a.content_type.as_str() {
                    "application/json" => Some("application/json"),
                    "application/octet-stream" => Some("application/octet-stream"),
                    "" => None,
                    _ => Some("text/plain; charset=utf-8"),
                },
                headers: Vec::new(),
                body: Bytes::from(a.body),
            };
            for (k, v) in a.headers {
                if let Some(name) = PASSED_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(&k)) {
                    reply.headers.push((name, v));
                }
            }
            reply
        }
        Ok(_) => Reply::text(500, "rpc error making call: unexpected answer"),
        Err(e) => Reply::text(500, e),
    }
}

/// A server to send a client agent's requests to: a live one from gossip, at random.
pub fn pick_server(ctx: &ShardCtx) -> Option<SocketAddr> {
    let servers = ctx.mesh.cluster.servers.load();
    let alive: Vec<SocketAddr> = servers
        .iter()
        .filter(|s| s.alive)
        .map(|s| s.rpc_addr)
        .collect();
    if alive.is_empty() {
        return None;
    }
    Some(alive[rand::random::<usize>() % alive.len()])
}

/// Where a request must be answered, when not here: `None` = answer locally.
pub fn forward_target(
    ctx: &ShardCtx,
    config: &AgentConfig,
    route: &Route,
    req: &ApiRequest,
) -> Option<Result<SocketAddr, Reply>> {
    let serve = route.spec().serve;
    if matches!(serve, Serve::AgentLocal | Serve::ThisAgent) || req.hops >= FORWARD_HOPS_MAX {
        return None;
    }
    if !config.server {
        return Some(pick_server(ctx).ok_or_else(|| Reply::error(&ApiError::NoKnownServers)));
    }
    // `?dc=` another datacenter: to one of its servers, found in the WAN pool.
    if let Some(dc) = req.query.get("dc").filter(|dc| !dc.is_empty()) {
        if dc != config.datacenter && serve != Serve::AnyServerWanWide {
            let no_path = || Reply::text(500, "No path to datacenter");
            return Some(ctx.mesh.cluster.server_in(dc).ok_or_else(no_path));
        }
    }
    let status = &ctx.mesh.status;
    if matches!(serve, Serve::AnyServerWanWide | Serve::AnyServer)
        || status.is_leader.load(std::sync::atomic::Ordering::Relaxed)
    {
        return None; // every server knows the WAN pool; status is any server's own
    }
    let reading = matches!(req.method.as_str(), "GET" | "HEAD");
    if reading && req.query.has("stale") {
        return None; // any server answers stale reads from its own state
    }
    let leader = status.leader_id.load(std::sync::atomic::Ordering::Relaxed);
    let no_leader = || Reply::error(&ApiError::NoLeader);
    if leader == 0 {
        return Some(Err(no_leader()));
    }
    Some(ctx.mesh.cluster.rpc_addr_of(leader).ok_or_else(no_leader))
}

/// A client agent's catalog write, proposed through a server.
pub async fn propose_remote(
    ctx: &ShardCtx,
    config: &AgentConfig,
    cmd: &crate::state::Command,
) -> WriteOutcome {
    let Some(addr) = pick_server(ctx) else {
        return WriteOutcome::Failed(ApiError::NoKnownServers);
    };
    match call(config, addr, &Frame::Propose(cmd.encode())).await {
        Ok(Frame::ProposeAnswer(ProposeOutcome::Done(b))) => WriteOutcome::Bool(b),
        Ok(Frame::ProposeAnswer(ProposeOutcome::Failed { status, text })) => {
            WriteOutcome::Failed(ApiError::Remote { status, text })
        }
        Ok(_) => WriteOutcome::Failed(ApiError::Internal("unexpected answer".into())),
        Err(e) => WriteOutcome::Failed(ApiError::Internal(e)),
    }
}

/// A client agent's DNS query, answered by a server.
pub async fn dns_remote(
    ctx: &ShardCtx,
    config: &AgentConfig,
    packet: &[u8],
    tcp: bool,
) -> Option<Vec<u8>> {
    dns_at(config, pick_server(ctx)?, packet, tcp).await
}

/// A DNS query answered by the server at `addr` (a server of another datacenter, or ours
/// for a client agent).
pub async fn dns_at(
    config: &AgentConfig,
    addr: SocketAddr,
    packet: &[u8],
    tcp: bool,
) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(packet.len() + 1);
    bytes.push(tcp as u8);
    bytes.extend_from_slice(packet);
    match call(config, addr, &Frame::Dns(bytes)).await {
        Ok(Frame::DnsAnswer(a)) if !a.is_empty() => Some(a),
        _ => None,
    }
}
