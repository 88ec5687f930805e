//! `GET /v1/snapshot` (save) and `PUT /v1/snapshot` (restore). Our own format (see
//! `crate::snapshot`) inside Consul's gzip-tar archive (`io::snapshot_archive`). Default consistency runs on the leader (followers forward); `?stale`
//! saves from any server's own state.

use bytes::Bytes;

use super::response::Reply;
use super::ApiRequest;
use crate::mesh::RaftInput;
use crate::node::ctx::ShardCtx;
use crate::state::Command;
use crate::state::WriteOutcome;

pub async fn save(ctx: &ShardCtx, _req: &ApiRequest) -> Reply {
    let n = ctx.mesh.shards.len();
    let (mut senders, mut receivers) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (tx, rx) = tokio::sync::oneshot::channel();
        senders.push(tx);
        receivers.push(rx);
    }
    let (meta_tx, meta_rx) = tokio::sync::oneshot::channel();
    let input = RaftInput::Snapshot {
        parts: senders,
        meta: meta_tx,
    };
    if ctx.mesh.raft.try_send(input).is_err() {
        return Reply::text(500, "rate limit exceeded, try again later");
    }
    let (index, term) = match meta_rx.await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return Reply::text(500, e),
        Err(_) => return Reply::text(500, "the Raft core did not answer"),
    };
    let mut snap = crate::snapshot::StateSnapshot::default();
    for rx in receivers {
        match rx.await {
            Ok(part) => snap.merge(part),
            Err(_) => return Reply::text(500, "a shard did not answer"),
        }
    }
    snap.normalize();
    let created_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let file = crate::snapshot::encode_file(&snap, index, term, created_ms);
    let meta = crate::snapshot::SnapshotMeta {
        version: crate::snapshot::SNAPSHOT_VERSION,
        index,
        term,
        created_ms,
        size: file.len(),
    };
    let archive = crate::io::snapshot_archive::wrap(&file, &meta);
    Reply {
        status: 200,
        content_type: Some("application/octet-stream"),
        headers: vec![
            ("X-Consul-Index", index.to_string()),
            (
                "X-Consul-KnownLeader",
                ctx.mesh.status.known_leader().to_string(),
            ),
            ("X-Consul-LastContact", "0".into()),
        ],
        body: Bytes::from(archive),
        stream: None,
    }
}

pub async fn restore(ctx: &ShardCtx, req: &ApiRequest) -> Reply {
    let file = match crate::io::snapshot_archive::unwrap(&req.body) {
        Ok(file) => file,
        Err(e) => return Reply::text(500, format!("Error restoring snapshot: {e}")),
    };
    let body = match crate::snapshot::open_file(&file) {
        Ok((_, body)) => body,
        Err(e) => return Reply::text(500, format!("Error restoring snapshot: {e}")),
    };
    // Decode fully before proposing: a bad snapshot changes nothing.
    if let Err(e) = crate::snapshot::StateSnapshot::decode_body(body) {
        return Reply::text(500, format!("Error restoring snapshot: {e}"));
    }
    let cmd = Command::Restore {
        snapshot: body.to_vec(),
    };
    match ctx.write(cmd).await {
        WriteOutcome::Failed(e) => Reply::error(&e),
        _ => Reply::empty(200),
    }
}
