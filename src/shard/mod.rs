//! The thread-per-core shell: one pinned thread per shard, each with its own current-thread
//! tokio runtime, plus the Raft core thread. The only module that knows about cores.

pub mod agent_runtime;
pub mod catalog_frontend;
pub mod checks;
pub mod core;
pub mod dns_server;
pub mod http_server;
pub mod kv_frontend;
pub mod raft_core;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::config::{AgentConfig, PROPOSAL_QUEUE_DEPTH};
use crate::mesh::{Inbox, Mesh, RaftInput, RaftStatus};

/// A started agent: its threads and the handle that stops the Raft core.
pub struct RunningAgent {
    pub mesh: Mesh,
    pub threads: Vec<JoinHandle<()>>,
    pub log_uses_io_uring: Option<bool>,
}

impl RunningAgent {
    /// Asks the Raft core to stop after its current batch (every acked write is already
    /// durable, so the process may exit right after).
    pub fn stop_raft(&self) {
        let _ = self.mesh.raft.send(RaftInput::Shutdown);
    }
}

/// Binds every listener, opens the log, and starts the Raft core and the shards. Returns once
/// the HTTP port accepts connections.
pub fn start(config: AgentConfig) -> std::io::Result<RunningAgent> {
    let shard_count = config.shards;
    let shards: Arc<Vec<Inbox>> = Arc::new((0..shard_count).map(|_| Inbox::default()).collect());
    let (raft_tx, raft_rx) = crossbeam::channel::bounded(PROPOSAL_QUEUE_DEPTH);
    let (votes_tx, votes_rx) = crossbeam::channel::bounded(shard_count);
    let status = Arc::new(RaftStatus::default());
    let mesh = Mesh {
        shards: shards.clone(),
        raft: raft_tx,
        votes: votes_tx,
        status: status.clone(),
    };

    let http_addr = SocketAddr::new(config.client_addr, config.http_port);
    let listeners = (0..shard_count)
        .map(|_| crate::io::listen::reuseport_tcp(http_addr))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("error starting HTTP listener on {http_addr}: {e}"),
            )
        })?;

    // DNS on UDP and TCP, one SO_REUSEPORT socket pair per shard; port -1 (or 0) disables it.
    let dns_addr =
        (config.dns_port > 0).then(|| SocketAddr::new(config.client_addr, config.dns_port as u16));
    let mut dns_sockets = Vec::new();
    if let Some(addr) = dns_addr {
        for _ in 0..shard_count {
            let udp = crate::io::listen::reuseport_udp(addr);
            let tcp = crate::io::listen::reuseport_tcp(addr);
            let pair = udp.and_then(|u| tcp.map(|t| (u, t)));
            dns_sockets.push(pair.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("error starting DNS listener on {addr}: {e}"),
                )
            })?);
        }
    }
    let mut dns_sockets = dns_sockets.into_iter();
    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let raft_core = raft_core::RaftCore::open(
        config.data_dir.as_deref(),
        raft_rx,
        votes_rx,
        shards,
        status,
    )?;
    let log_uses_io_uring = raft_core.uses_io_uring();
    let mut threads = Vec::new();
    // The Raft core shares core 0 with shard 0: on small machines a dedicated core would idle.
    let raft_pin = core_ids.first().copied();
    threads.push(
        std::thread::Builder::new()
            .name("raft".into())
            .spawn(move || {
                if let Some(core) = raft_pin {
                    core_affinity::set_for_current(core);
                }
                raft_core.run();
            })?,
    );

    let config = Arc::new(config);
    for (id, listener) in listeners.into_iter().enumerate() {
        let (mesh, config) = (mesh.clone(), config.clone());
        let pin = (!core_ids.is_empty()).then(|| core_ids[id % core_ids.len()]);
        let dns = dns_sockets.next();
        threads.push(
            std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || {
                    if let Some(core) = pin {
                        core_affinity::set_for_current(core);
                    }
                    run_shard(id, listener, dns, mesh, (*config).clone());
                })?,
        );
    }
    Ok(RunningAgent {
        mesh,
        threads,
        log_uses_io_uring,
    })
}

fn run_shard(
    id: usize,
    listener: std::net::TcpListener,
    dns: Option<(std::net::UdpSocket, std::net::TcpListener)>,
    mesh: Mesh,
    config: AgentConfig,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    let mut ctx = core::ShardCtx::new(id, mesh);
    if id == 0 {
        ctx.agent = Some(Rc::new(agent_runtime::AgentRuntime::new(config.clone())));
    }
    local.spawn_local(ctx.clone().run_inbox());
    if id == 0 {
        let agent_ctx = ctx.clone();
        local.spawn_local(async move { agent_runtime::AgentRuntime::start(&agent_ctx) });
    }
    let config = Rc::new(config);
    if let Some((udp, tcp)) = dns {
        local.spawn_local(dns_server::serve_udp(udp, ctx.clone(), config.clone()));
        local.spawn_local(dns_server::serve_tcp(tcp, ctx.clone(), config.clone()));
    }
    local.block_on(&runtime, http_server::serve(listener, ctx, config));
}
