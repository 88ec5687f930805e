//! The thread-per-core shell: one pinned thread per shard, each with its own current-thread
//! tokio runtime, plus the Raft core thread. The only module that knows about cores.

pub mod dns_server;
pub mod http_server;
pub mod raft_core;
pub mod raft_transport;
pub mod rpc;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::cluster::raft_id_of;
use crate::config::{AgentConfig, PROPOSAL_QUEUE_DEPTH, RELOAD_QUEUE_DEPTH};
use crate::mesh::{ClusterView, ForwardedRequest, Inbox, Mesh, RaftInput, RaftStatus};
use crate::node::agent_runtime::AgentRuntime;
use crate::node::ctx::ShardCtx;
use crate::node::rpc_client;
use crate::node::sessions::SessionTtl;

/// A started agent: its threads and the handle that stops the Raft core.
pub struct RunningAgent {
    pub mesh: Mesh,
    /// `PUT /v1/agent/reload` requests, served by the caller (it owns the config sources).
    pub reload_requests: tokio::sync::mpsc::Receiver<crate::mesh::ReloadRequest>,
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
    let cluster = Arc::new(ClusterView::default());
    let (reload, reload_requests) = tokio::sync::mpsc::channel(RELOAD_QUEUE_DEPTH);
    let mesh = Mesh {
        reload,
        shards: shards.clone(),
        raft: raft_tx,
        votes: votes_tx,
        status: status.clone(),
        cluster: cluster.clone(),
        agent_tokens: Arc::new(arc_swap::ArcSwap::from_pointee(
            crate::node::acl::load_agent_tokens(&config),
        )),
        catalog_indexes: Arc::new((0..shards.len()).map(|_| Default::default()).collect()),
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

    // HTTPS beside HTTP when `ports.https` is set, with its TLS built (and checked) first.
    let mut https_listeners = Vec::new();
    if config.https_port > 0 {
        let acceptor = crate::io::https::acceptor(&config.https_tls)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        crate::io::https::install(acceptor);
        let https_addr = SocketAddr::new(config.client_addr, config.https_port as u16);
        for _ in 0..shard_count {
            let listener = crate::io::listen::reuseport_tcp(https_addr).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("error starting HTTPS listener on {https_addr}: {e}"),
                )
            })?;
            https_listeners.push(listener);
        }
    }
    let mut https_listeners = https_listeners.into_iter();

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

    // Gossip: one UDP socket and one TCP listener per pool, plain binds (a second agent on
    // the same address must fail here, not share the port). Servers also join the WAN pool of
    // the servers of every datacenter (`ports.serf_wan`).
    let mut gossip_sockets = Some(bind_gossip(config.bind_addr, config.serf_lan_port, "LAN")?);
    let mut wan_sockets = match config.server && config.serf_wan_port != 0 {
        true => Some(bind_gossip(config.bind_addr, config.serf_wan_port, "WAN")?),
        false => None,
    };

    // Server RPC (Raft and forwarding): servers only, one SO_REUSEPORT listener per shard.
    let mut rpc_listeners = Vec::new();
    if config.server {
        let rpc_addr = SocketAddr::new(config.bind_addr, config.server_port);
        let in_use = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("Failed to start server RPC on {rpc_addr}: {e}"),
            )
        };
        // Probe with a plain bind: SO_REUSEPORT would otherwise share the port with another
        // agent of the same user.
        drop(std::net::TcpListener::bind(rpc_addr).map_err(in_use)?);
        for _ in 0..shard_count {
            rpc_listeners.push(crate::io::listen::reuseport_tcp(rpc_addr).map_err(in_use)?);
        }
    }
    let mut rpc_listeners = rpc_listeners.into_iter();

    let core_ids = core_affinity::get_core_ids().unwrap_or_default();
    let mut threads = Vec::new();
    let mut log_uses_io_uring = None;
    if config.server {
        let (outbox, transport) = raft_transport::spawn(
            cluster.clone(),
            rpc_client::hello(&config),
            config.bind_addr,
        )?;
        threads.push(transport);
        let me = raft_core::SelfIdentity {
            raft_id: raft_id_of(&config.node_id),
            name: config.node_name.clone(),
            node_id: config.node_id.clone(),
            rpc_addr: SocketAddr::new(config.bind_addr, config.server_port),
        };
        let raft_core = raft_core::RaftCore::open(
            me,
            config.data_dir.as_deref(),
            config.bootstraps_alone(),
            raft_rx,
            votes_rx,
            shards,
            status,
            cluster,
            Some(outbox),
            config.raft_snapshot_threshold,
            std::time::Duration::from_millis(config.raft_snapshot_interval_ms),
        )?;
        log_uses_io_uring = raft_core.uses_io_uring();
        // The Raft core shares core 0 with shard 0: on small machines a dedicated core would idle.
        let raft_pin = core_ids.first().copied();
        threads.push(
            std::thread::Builder::new()
                .name("raft".into())
                .spawn(move || {
                    if let Some(core) = raft_pin {
                        core_affinity::set_for_current(core);
                    }
                    // The one place that decides what a fatal Raft core error does.
                    if let Err(e) = raft_core.run() {
                        tracing::error!(target: "agent.server.raft", "{e}; stopping");
                        crate::io::host::remove_pid_file();
                        std::process::exit(1);
                    }
                })?,
        );
    }

    let config = Arc::new(config);
    for (id, listener) in listeners.into_iter().enumerate() {
        let (mesh, config) = (mesh.clone(), config.clone());
        let pin = (!core_ids.is_empty()).then(|| core_ids[id % core_ids.len()]);
        let dns = dns_sockets.next();
        let https = https_listeners.next();
        let rpc = rpc_listeners.next();
        let gossip = if id == 0 { gossip_sockets.take() } else { None };
        let wan = if id == 0 { wan_sockets.take() } else { None };
        threads.push(
            std::thread::Builder::new()
                .name(format!("shard-{id}"))
                .spawn(move || {
                    if let Some(core) = pin {
                        core_affinity::set_for_current(core);
                    }
                    let sockets = ShardSockets {
                        http: listener,
                        https,
                        dns,
                        rpc,
                        gossip,
                        wan,
                    };
                    run_shard(id, sockets, mesh, (*config).clone());
                })?,
        );
    }
    Ok(RunningAgent {
        mesh,
        reload_requests,
        threads,
        log_uses_io_uring,
    })
}

/// A gossip pool's UDP socket and push-pull listener on `ip:port`.
fn bind_gossip(
    ip: std::net::IpAddr,
    port: u16,
    pool: &str,
) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let addr = SocketAddr::new(ip, port);
    std::net::UdpSocket::bind(addr)
        .and_then(|u| {
            u.set_nonblocking(true)?;
            let t = std::net::TcpListener::bind(addr)?;
            t.set_nonblocking(true)?;
            Ok((u, t))
        })
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("Failed to start {pool} gossip on {addr}: {e}"),
            )
        })
}

/// The sockets one shard serves (bound before any thread starts, so errors stop the agent).
struct ShardSockets {
    http: std::net::TcpListener,
    /// `ports.https`, when set.
    https: Option<std::net::TcpListener>,
    dns: Option<(std::net::UdpSocket, std::net::TcpListener)>,
    rpc: Option<std::net::TcpListener>,
    /// Shard 0 only: the LAN gossip UDP socket and push-pull listener.
    gossip: Option<(std::net::UdpSocket, std::net::TcpListener)>,
    /// Shard 0 of a server only: the WAN gossip socket and listener.
    wan: Option<(std::net::UdpSocket, std::net::TcpListener)>,
}

/// Serves a local-agent request another shard forwarded to shard 0 (installed in every
/// `ShardCtx`, so `node` never names the HTTP handlers).
fn serve_agent_api(ctx: &ShardCtx, forwarded: Box<ForwardedRequest>) {
    let ctx = ctx.clone();
    tokio::task::spawn_local(async move {
        let ForwardedRequest {
            route,
            request,
            reply,
        } = *forwarded;
        let answer = crate::http::agent_local_api::dispatch(&ctx, &route, &request).await;
        let _ = reply.send(answer);
    });
}

fn run_shard(id: usize, sockets: ShardSockets, mesh: Mesh, config: AgentConfig) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let local = tokio::task::LocalSet::new();
    let mut ctx = ShardCtx::new(id, mesh, serve_agent_api);
    if id == 0 {
        ctx.agent = Some(Rc::new(AgentRuntime::new(config.clone())));
        if config.server {
            ctx.session_ttl = Some(Rc::new(SessionTtl::default()));
        }
    }
    local.spawn_local(ctx.clone().run_inbox());
    local.spawn_local(crate::node::telemetry::publish_every_second());
    if ctx.session_ttl.is_some() {
        let agent = ctx.agent.clone().expect("shard 0 has the agent");
        local.spawn_local(SessionTtl::run(ctx.clone(), move || agent.now_ms()));
    }
    if id == 0 {
        let agent_ctx = ctx.clone();
        let (gossip, wan) = (sockets.gossip, sockets.wan);
        local.spawn_local(async move {
            use crate::node::gossip_runtime::{GossipRuntime, Pool};
            let config = agent_ctx.agent().config.clone();
            if let Some((udp, tcp)) = gossip {
                let rt = GossipRuntime::start(&agent_ctx, &config, Pool::Lan, udp, tcp);
                agent_ctx.agent().set_gossip(rt);
            }
            if let Some((udp, tcp)) = wan {
                let rt = GossipRuntime::start(&agent_ctx, &config, Pool::Wan, udp, tcp);
                agent_ctx.agent().set_wan(rt.clone());
                let lan = agent_ctx.agent().gossip();
                let flood = crate::node::gossip_runtime::flood_wan(lan, rt, agent_ctx.clone());
                tokio::task::spawn_local(flood);
            }
            AgentRuntime::start(&agent_ctx);
            tokio::task::spawn_local(crate::node::telemetry::run(agent_ctx.clone()));
        });
    }
    let config = Rc::new(config);
    if let Some((udp, tcp)) = sockets.dns {
        local.spawn_local(dns_server::serve_udp(udp, ctx.clone(), config.clone()));
        local.spawn_local(dns_server::serve_tcp(tcp, ctx.clone(), config.clone()));
    }
    if let Some(rpc_listener) = sockets.rpc {
        local.spawn_local(rpc::serve(rpc_listener, ctx.clone(), config.clone()));
    }
    if let Some(https) = sockets.https {
        local.spawn_local(http_server::serve(https, ctx.clone(), config.clone(), true));
    }
    local.block_on(
        &runtime,
        http_server::serve(sockets.http, ctx, config, false),
    );
}
