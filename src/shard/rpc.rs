//! Server RPC on every shard (SO_REUSEPORT on `ports.server`). Frames are
//! `crate::rpc::Frame`; the client side and the frame IO are `node::rpc_client`.
//!
//! Served: Raft messages (to the Raft core), forwarded HTTP requests (dispatched here as if they
//! had arrived on our HTTP port), catalog proposals and node views (a client agent's
//! anti-entropy) and DNS queries (a client agent's DNS).

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use crate::config::AgentConfig;
use crate::error::ApiError;
use crate::http::response::{JsonStyle, Reply};
use crate::http::route::Route;
use crate::http::{self, query::Query, ApiRequest};
use crate::io::rpc_tls::RpcStream;
use crate::mesh::RaftInput;
use crate::node::ctx::ShardCtx;
use crate::node::rpc_client::{
    hello, read_frame, read_frame_within, write_frame, HOPS_HEADER, STYLE_HEADER,
};
use crate::rpc::{Frame, HttpRequest, HttpResponse, ProposeOutcome, RPC_VERSION};
use crate::state::WriteOutcome;

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
                Err(e) => tracing::warn!(target: "agent.rpc", "connection refused: {e}"),
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
        // Past the hello, a server takes Raft messages carrying a whole snapshot.
        let frame = match read_frame_within(&mut s, &mut buf, config.server).await {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                let _ = write_frame(&mut s, &Frame::Error(format!("bad frame: {e}"))).await;
                return;
            }
        };
        if !matches!(frame, Frame::Raft(_)) {
            // Consul's `consul.rpc.request`: every request a server answers (not Raft's own).
            crate::node::telemetry::incr(crate::metrics::Key::plain("rpc.request"), 1.0);
        }
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
                Frame::ProposeAnswer(serve_propose(&ctx, &config, &bytes, None).await)
            }
            Frame::ProposeAs { token, command } => {
                Frame::ProposeAnswer(serve_propose(&ctx, &config, &command, Some(&token)).await)
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

/// A client agent's catalog write. With ACLs on it is checked against the token it carries
/// (none: anonymous) before it is proposed, as a catalog write over HTTP would be.
async fn serve_propose(
    ctx: &ShardCtx,
    config: &AgentConfig,
    bytes: &[u8],
    token: Option<&str>,
) -> ProposeOutcome {
    if !config.server {
        return ProposeOutcome::failed(&ApiError::Internal("not a server".into()));
    }
    let cmd = match crate::state::Command::decode(bytes) {
        Ok(crate::state::Command::Catalog(catalog)) if config.acl_enabled => {
            let secret = token.unwrap_or(crate::acl::model::ANONYMOUS_SECRET);
            let check = crate::node::acl::check_catalog_write(ctx, config, &catalog, secret);
            if let Err(e) = check.await {
                return ProposeOutcome::failed(&e);
            }
            crate::state::Command::Catalog(catalog)
        }
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
                    identity: None,
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
