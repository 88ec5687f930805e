//! Outbound Raft messages: one thread with a current-thread runtime and one writer task per
//! peer, each holding a TCP connection to the peer's RPC port. Messages for a peer that cannot
//! be reached are dropped (Raft resends); a broken connection is reopened on the next message.
//! Inbound Raft messages arrive through `shard::rpc` on every shard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::config::{RAFT_OUTBOX_DEPTH, RPC_CONNECT_TIMEOUT_MS};
use crate::mesh::ClusterView;
use crate::rpc::Frame;

/// Where the Raft core puts `(peer raft id, protobuf message bytes)`.
pub type RaftOutbox = mpsc::Sender<(u64, Vec<u8>)>;

/// Starts the transport thread.
pub fn spawn(
    cluster: Arc<ClusterView>,
    hello: Frame,
    local: std::net::IpAddr,
) -> std::io::Result<(RaftOutbox, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(RAFT_OUTBOX_DEPTH);
    let handle = std::thread::Builder::new()
        .name("raft-transport".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            runtime.block_on(route(rx, cluster, hello, local));
        })?;
    Ok((tx, handle))
}

async fn route(
    mut rx: mpsc::Receiver<(u64, Vec<u8>)>,
    cluster: Arc<ClusterView>,
    hello: Frame,
    local: std::net::IpAddr,
) {
    let mut writers: HashMap<u64, mpsc::Sender<Vec<u8>>> = HashMap::new();
    while let Some((to, msg)) = rx.recv().await {
        let writer = writers.entry(to).or_insert_with(|| {
            let (wtx, wrx) = mpsc::channel(1024);
            tokio::spawn(write_to_peer(
                to,
                wrx,
                cluster.clone(),
                hello.clone(),
                local,
            ));
            wtx
        });
        let _ = writer.try_send(msg);
    }
}

async fn write_to_peer(
    to: u64,
    mut rx: mpsc::Receiver<Vec<u8>>,
    cluster: Arc<ClusterView>,
    hello: Frame,
    local: std::net::IpAddr,
) {
    let mut conn: Option<crate::io::rpc_tls::RpcStream> = None;
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        buf.clear();
        Frame::Raft(first).encode_into(&mut buf);
        // Batch whatever else is queued into the same write.
        while buf.len() < 1 << 20 {
            match rx.try_recv() {
                Ok(more) => Frame::Raft(more).encode_into(&mut buf),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            let Some(addr) = cluster.rpc_addr_of(to) else {
                continue; // address unknown until gossip or the log names it
            };
            let connect = crate::io::listen::connect_from(local, addr);
            match tokio::time::timeout(Duration::from_millis(RPC_CONNECT_TIMEOUT_MS), connect).await
            {
                Ok(Ok(s)) => match crate::io::rpc_tls::rpc().connect(s).await {
                    Ok(mut s) => {
                        if s.write_all(&hello.encode()).await.is_ok() {
                            conn = Some(s);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(target: "agent.server.raft", "connection to {addr} refused: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        while rx.try_recv().is_ok() {}
                        continue;
                    }
                },
                _ => {
                    // Unreachable: drop what is queued and back off briefly.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    while rx.try_recv().is_ok() {}
                    continue;
                }
            }
        }
        if let Some(s) = conn.as_mut() {
            if s.write_all(&buf).await.is_err() {
                conn = None;
            }
        }
    }
}
