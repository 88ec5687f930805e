//! The pooled RPC client shards use to forward requests to a server or the leader, the
//! forwarding rule (`forward_target`, from the route table's `Serve`), and the frame IO the
//! listener (`shard::rpc`) shares. Frames are `crate::rpc::Frame`. A request that was already
//! forwarded `FORWARD_HOPS_MAX` times is answered where it lands, so a stale leader view can
//! never loop a request.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::io::rpc_tls::RpcStream;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::codec::WireError;
use crate::config::{AgentConfig, RPC_CONNECT_TIMEOUT_MS, RPC_IDLE_CONNS_MAX};
use crate::error::ApiError;
use crate::http::request::ApiRequest;
use crate::http::response::Reply;
use crate::http::route::{Route, Serve};
use crate::node::ctx::ShardCtx;
use crate::rpc::{split_frame_within, Frame, HttpRequest, ProposeOutcome, RPC_VERSION};
use crate::state::WriteOutcome;

/// Forwarding hops a request may take (client → server → a server of another datacenter
/// (`?dc=`) → its leader).
pub const FORWARD_HOPS_MAX: u8 = 3;
pub const HOPS_HEADER: &str = "x-tribune-hops";
pub const STYLE_HEADER: &str = "x-tribune-style";

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
pub async fn read_frame(s: &mut RpcStream, buf: &mut Vec<u8>) -> Result<Option<Frame>, WireError> {
    read_frame_within(s, buf, false).await
}

/// `read_frame`; with `raft_snapshots`, a Raft message may carry a whole snapshot
/// (`split_frame_within`): a server's connection, past the peer's hello.
pub async fn read_frame_within(
    s: &mut RpcStream,
    buf: &mut Vec<u8>,
    raft_snapshots: bool,
) -> Result<Option<Frame>, WireError> {
    loop {
        if let Some((frame, used)) = split_frame_within(buf, raft_snapshots)? {
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

pub async fn write_frame(s: &mut RpcStream, frame: &Frame) -> std::io::Result<()> {
    s.write_all(&frame.encode()).await
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
                stream: None,
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

/// A client agent's catalog write, proposed through a server (with the ACL token it acts
/// with, when ACLs are on).
pub async fn propose_remote(
    ctx: &ShardCtx,
    config: &AgentConfig,
    cmd: &crate::state::Command,
    token: Option<&str>,
) -> WriteOutcome {
    let Some(addr) = pick_server(ctx) else {
        return WriteOutcome::Failed(ApiError::NoKnownServers);
    };
    let frame = match token {
        Some(token) => Frame::ProposeAs {
            token: token.to_string(),
            command: cmd.encode(),
        },
        None => Frame::Propose(cmd.encode()),
    };
    match call(config, addr, &frame).await {
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
