//! `/v1/session/*` with Consul's codes and texts. Writes go through the log (create, destroy);
//! reads come from this server's replica of the session table (replicated on every shard);
//! renew restarts the leader's TTL timer (`node::sessions`).

use serde_json::json;

use crate::acl::{Need, Resource};

use super::catalog_api::blocking;
use super::response::Reply;
use super::session_json::{parse_create, CreateError, SessionJson};
use super::ApiRequest;
use crate::catalog::CRITICAL;
use crate::config::AgentConfig;
use crate::error::ApiError;
use crate::node::ctx::ShardCtx;
use crate::session::Session;
use crate::state::{Command, WriteOutcome};

/// The sessions the token may read (`session:read` on their node), as JSON.
fn sessions_json(sessions: &[Session], req: &ApiRequest) -> Reply {
    let out: Vec<SessionJson> = sessions
        .iter()
        .filter(|s| req.allows(Resource::Session, &s.node, Need::Read))
        .map(SessionJson::new)
        .collect();
    let acl_filtered = out.len() != sessions.len();
    super::acl_filtered(Reply::json(&out, req.style), acl_filtered)
}

/// `session:write` on the node of session `id` (nothing to check for an unknown one).
async fn may_write_session(ctx: &ShardCtx, id: &str, req: &ApiRequest) -> Result<(), ApiError> {
    if req.identity.is_none() {
        return Ok(());
    }
    match ctx.session_info(id).await.value.first() {
        Some(s) => req.require(Resource::Session, &s.node, Need::Write),
        None => Ok(()),
    }
}

/// `PUT /v1/session/create`.
pub async fn create(ctx: &ShardCtx, config: &AgentConfig, req: &ApiRequest) -> Reply {
    let mut session = match parse_create(&req.body, &config.node_name) {
        Ok(s) => s,
        Err(CreateError::Decode(e)) => {
            return Reply::text(400, format!("Request decode failed: {e}"))
        }
        Err(CreateError::Invalid(text)) => return Reply::error(&ApiError::Internal(text)),
    };
    // Service checks live on the shard that owns their service, so they are checked here,
    // before proposing; the node and its node checks are checked again when applied.
    if !session.service_checks.is_empty() {
        let checks = match ctx.node_checks(&session.node).await {
            Ok(c) => c.value,
            Err(b) => return Reply::error(&b.into()),
        };
        for id in &session.service_checks {
            let text = match checks.iter().find(|c| c.def.id == *id) {
                None => format!("Missing check '{id}' registration"),
                Some(c) if c.def.status == CRITICAL => format!("Check '{id}' is in critical state"),
                Some(_) => continue,
            };
            return Reply::error(&ApiError::Internal(text));
        }
    }
    if let Err(e) = req.require(Resource::Session, &session.node, Need::Write) {
        return Reply::error(&e);
    }
    session.id = crate::io::host::random_uuid();
    let id = session.id.clone();
    match ctx.write(Command::SessionCreate(Box::new(session))).await {
        WriteOutcome::Bool(_) => Reply::json(&json!({ "ID": id }), req.style),
        WriteOutcome::Failed(e) => Reply::error(&e),
        WriteOutcome::Txn { .. } => unreachable!("a session write answers with a bool"),
    }
}

/// `PUT /v1/session/destroy/<id>`: `true`, also for a session that does not exist.
pub async fn destroy(ctx: &ShardCtx, id: &str, req: &ApiRequest) -> Reply {
    if id.is_empty() {
        return Reply::text(400, "Missing session");
    }
    if let Err(e) = may_write_session(ctx, id, req).await {
        return Reply::error(&e);
    }
    let cmd = Command::SessionDestroy { id: id.to_string() };
    match ctx.write(cmd).await {
        WriteOutcome::Failed(e) => Reply::error(&e),
        _ => Reply::json(&true, req.style),
    }
}

/// `PUT /v1/session/renew/<id>`: the session, its TTL timer started over.
pub async fn renew(ctx: &ShardCtx, id: &str, req: &ApiRequest) -> Reply {
    if id.is_empty() {
        return Reply::text(400, "Missing session");
    }
    if let Err(e) = may_write_session(ctx, id, req).await {
        return Reply::error(&e);
    }
    let found = ctx.session_info(id).await;
    if found.value.is_empty() || !ctx.renew_session(id) {
        return Reply::text(404, format!("Session id '{id}' not found"));
    }
    sessions_json(&found.value, req)
}

/// `GET /v1/session/info/<id>`: zero or one session (unknown → `[]`, 200). Blocking.
pub async fn info(ctx: &ShardCtx, id: &str, req: &ApiRequest) -> Reply {
    if id.is_empty() {
        return Reply::text(400, "Missing session");
    }
    let read = || async { Ok(ctx.session_info(id).await) };
    blocking(ctx, req, read, |s| sessions_json(s, req)).await
}

/// `GET /v1/session/node/<node>`. Blocking.
pub async fn node(ctx: &ShardCtx, node: &str, req: &ApiRequest) -> Reply {
    if node.is_empty() {
        return Reply::text(400, "Missing node name");
    }
    let read = || async { Ok(ctx.sessions_of_node(node).await) };
    blocking(ctx, req, read, |s| sessions_json(s, req)).await
}

/// `GET /v1/session/list`. Blocking.
pub async fn list(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let read = || async { Ok(ctx.session_list().await) };
    blocking(ctx, req, read, |s| sessions_json(s, req)).await
}
