//! The agent's operations endpoints: `PUT /v1/agent/reload` (answered by the main thread,
//! which owns the config sources) and `GET /v1/agent/monitor` (the log, streamed).

use bytes::Bytes;

use crate::http::request::ApiRequest;
use crate::http::response::{BodyStream, Reply};
use crate::io::logging;
use crate::mesh::ReloadRequest;
use crate::node::ctx::ShardCtx;

/// Reloads the agent and answers once it is done: 200 with an empty body, or 500 with the
/// reason the new configuration was refused (the running one stays).
pub async fn reload(ctx: &ShardCtx) -> Reply {
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if ctx.mesh.reload.try_send(ReloadRequest { reply }).is_err() {
        return Reply::error(&crate::error::ApiError::RateLimited);
    }
    match outcome.await {
        Ok(Ok(())) => Reply {
            status: 200,
            content_type: None,
            headers: Vec::new(),
            body: Bytes::new(),
            stream: None,
        },
        Ok(Err(e)) => Reply::text(500, e),
        Err(_) => Reply::text(500, "agent did not answer the reload"),
    }
}

/// Streams the agent's log from now on at `?loglevel=` (INFO by default, whatever the
/// agent's own level), in JSON when `logjson` is present at all, until the client goes.
pub fn monitor(req: &ApiRequest) -> Reply {
    let asked = req
        .query
        .get("loglevel")
        .filter(|l| !l.is_empty())
        .unwrap_or("INFO");
    let Some(level) = logging::parse_level(asked) else {
        return Reply::text(400, format!("Unknown log level: {asked}"));
    };
    let mut lines = logging::monitor(level, req.query.has("logjson"));
    Reply {
        status: 200,
        // Consul sets none: its first flush carries no data for Go to sniff.
        content_type: None,
        headers: Vec::new(),
        body: Bytes::new(),
        stream: Some(BodyStream(Box::new(move |cx| lines.poll_line(cx)))),
    }
}
