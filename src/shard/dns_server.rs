//! The DNS server of one shard: a SO_REUSEPORT UDP socket and TCP listener on the DNS port.
//! Facts come from this shard's catalog replica (nodes) or the shard that owns a service
//! name; planning and encoding are the pure `dns` module's.

use crate::acl::{Need, Resource};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::catalog::{aggregate, ServiceInstance};
use crate::config::{AgentConfig, DNS_UDP_BATCH, DNS_UDP_QUERY_BYTES_MAX};
use crate::dns::cache::{AnswerCache, Source, Stamp};
use crate::dns::name::{self, Lookup};
use crate::dns::plan::{self, Facts, InstanceData, NodeData, Plan, Rcode};
use crate::dns::wire::{self, Query, Refusal};
use crate::io::udp_batch::{RecvBatch, SendBatch};
use crate::node::ctx::ShardCtx;

/// Largest DNS message we read (UDP datagram or TCP frame).
const DNS_MESSAGE_BYTES_MAX: usize = 65535;
/// A TCP client must send each message within this time.
const DNS_TCP_IDLE_MS: u64 = 10_000;

/// Serves UDP forever, a batch of datagrams per system call (`io::udp_batch`). Cached answers
/// are written straight into the batch's replies, with no task and no allocation; anything
/// else is answered on a task of its own.
pub async fn serve_udp(socket: std::net::UdpSocket, ctx: ShardCtx, config: Rc<AgentConfig>) {
    let socket = tokio::net::UdpSocket::from_std(socket).expect("UDP socket on this runtime");
    let socket = Rc::new(socket);
    let mut queries = RecvBatch::new(DNS_UDP_BATCH, DNS_UDP_QUERY_BYTES_MAX);
    let mut replies = SendBatch::new(DNS_UDP_BATCH);
    loop {
        let Ok(received) = queries.recv(&socket).await else {
            continue;
        };
        for i in 0..received {
            let Some((packet, peer)) = queries.datagram(i) else {
                tracing::debug!(target: "dns", "dropped a datagram too long for a query");
                continue;
            };
            let started = std::time::Instant::now();
            if config.server {
                let reply = replies.next_buffer().expect("a slot per received datagram");
                if cached(packet, false, &ctx, &config, reply) {
                    replies.push(peer);
                    record_query(&config, started);
                    continue;
                }
            }
            let packet = packet.to_vec();
            let (socket, ctx, config) = (socket.clone(), ctx.clone(), config.clone());
            tokio::task::spawn_local(async move {
                let reply = match config.server {
                    true => respond_afresh(&packet, false, &ctx, &config).await,
                    false => respond(&packet, false, &ctx, &config).await,
                };
                record_query(&config, started);
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, peer).await;
                }
            });
        }
        replies.flush(&socket).await;
    }
}

/// Serves TCP (length-prefixed messages, several per connection) forever.
pub async fn serve_tcp(listener: std::net::TcpListener, ctx: ShardCtx, config: Rc<AgentConfig>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("listener on this runtime");
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (ctx, config) = (ctx.clone(), config.clone());
        tokio::task::spawn_local(async move {
            let idle = Duration::from_millis(DNS_TCP_IDLE_MS);
            loop {
                let mut len = [0u8; 2];
                if !matches!(
                    tokio::time::timeout(idle, stream.read_exact(&mut len)).await,
                    Ok(Ok(_))
                ) {
                    return;
                }
                let mut packet = vec![0u8; u16::from_be_bytes(len) as usize];
                if !matches!(
                    tokio::time::timeout(idle, stream.read_exact(&mut packet)).await,
                    Ok(Ok(_))
                ) {
                    return;
                }
                let started = std::time::Instant::now();
                let reply = respond(&packet, true, &ctx, &config).await;
                record_query(&config, started);
                let Some(reply) = reply else {
                    return;
                };
                let mut framed = (reply.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Consul's `consul.dns.domain_query`, labelled with this agent's node.
fn record_query(config: &AgentConfig, started: std::time::Instant) {
    // Metric labels are static strings; the node name is fixed for the process's life.
    static NODE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    let node = NODE.get_or_init(|| Box::leak(config.node_name.clone().into_boxed_str()));
    let key = crate::metrics::Key::with("dns.domain_query", ("node", node));
    crate::node::telemetry::measure_since(key, started);
}

thread_local! {
    /// This shard's cached answers (one shard per thread). Only this module touches it.
    static ANSWERS: std::cell::RefCell<AnswerCache> = std::cell::RefCell::new(AnswerCache::new());
}

/// Writes the cached answer to `packet` into `out`, if one is held and still holds.
fn cached(
    packet: &[u8],
    tcp: bool,
    ctx: &ShardCtx,
    config: &AgentConfig,
    out: &mut Vec<u8>,
) -> bool {
    // This shard's own replica first takes what it has been sent, so its index is current.
    ctx.catch_up();
    let hit = ANSWERS.with(|answers| {
        answers.borrow_mut().serve(
            tcp,
            packet,
            // Untrusted now: a stamp no cached answer carries, so it is dropped.
            |source| {
                stamp(source, ctx, config).unwrap_or(Stamp {
                    second: u64::MAX,
                    ..Stamp::default()
                })
            },
            out,
        )
    });
    if hit {
        // Tribune's own metric (`consul.dns.cache_hit`): Consul has no answer cache.
        crate::node::telemetry::incr(crate::metrics::Key::plain("dns.cache_hit"), 1.0);
    }
    hit
}

/// What an answer from `source` is computed under, read now (see `dns::cache`); `None` while
/// that shard has not applied a catalog write a writer may already have been acknowledged for
/// (shard 0 answers it, and may have applied it first): its published index cannot be trusted
/// yet, so nothing is served from the cache or kept in it.
fn stamp(source: Source, ctx: &ShardCtx, config: &AgentConfig) -> Option<Stamp> {
    if let Some(shard) = source.shard {
        if !ctx.mesh.shards[shard].caught_up_on_every() {
            return None;
        }
    }
    let catalog = source.shard.map_or(0, |shard| {
        ctx.mesh.catalog_indexes[shard].load(std::sync::atomic::Ordering::Acquire)
    });
    let acl = if config.acl_enabled {
        use std::hash::BuildHasher;
        let (hash, resolves) = with_dns_secret(ctx, |secret| {
            (
                foldhash::fast::FixedState::with_seed(0).hash_one(secret),
                ctx.resolve_agent_token(config, secret).is_ok(),
            )
        });
        (ctx.state.borrow().acl.index(), hash, resolves)
    } else {
        (0, 0, false)
    };
    Some(Stamp {
        second: unix_secs(),
        catalog,
        acl,
    })
}

/// Runs `f` on the token DNS answers as: the agent's `dns` token, else its `default` token,
/// else anonymous.
fn with_dns_secret<R>(ctx: &ShardCtx, f: impl FnOnce(&str) -> R) -> R {
    let tokens = ctx.mesh.agent_tokens.load();
    let secret = [&tokens.dns, &tokens.default]
        .into_iter()
        .find(|t| !t.is_empty())
        .map_or(crate::acl::model::ANONYMOUS_SECRET, |t| t.as_str());
    f(secret)
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The reply to one packet, or `None` to drop it.
pub async fn respond(
    packet: &[u8],
    tcp: bool,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> Option<Vec<u8>> {
    if !config.server {
        // A client agent holds no catalog: a server answers (as Consul's clients do over RPC).
        return Box::pin(crate::node::rpc_client::dns_remote(
            ctx, config, packet, tcp,
        ))
        .await;
    }
    let mut reply = Vec::new();
    if cached(packet, tcp, ctx, config, &mut reply) {
        return Some(reply);
    }
    respond_afresh(packet, tcp, ctx, config).await
}

/// A server's reply planned afresh (the cache missed), kept in the cache when it may be.
async fn respond_afresh(
    packet: &[u8],
    tcp: bool,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> Option<Vec<u8>> {
    let (reply, cacheable) = answer(packet, tcp, ctx, config).await?;
    if let Some((source, stamp)) = cacheable {
        ANSWERS.with(|answers| {
            answers
                .borrow_mut()
                .insert(tcp, packet, &reply, source, stamp)
        });
    }
    Some(reply)
}

/// A server's answer to one packet, planned afresh, and what it was computed under when it
/// may be cached: answers from this datacenter's catalog, never a forwarded one, a prepared
/// query's (other datacenters, the query table) or a SERVFAIL.
async fn answer(
    packet: &[u8],
    tcp: bool,
    ctx: &ShardCtx,
    config: &AgentConfig,
) -> Option<(Vec<u8>, Option<(Source, Stamp)>)> {
    let recursion = !config.recursors.is_empty();
    let q = match wire::decode(packet) {
        Ok(q) => q,
        Err(Refusal::Drop) => return None,
        Err(Refusal::Reply {
            id,
            rcode,
            recursion_desired,
        }) => return Some((wire::encode_refusal(id, rcode, recursion_desired), None)),
    };
    let mut domains = vec![config.domain.clone()];
    domains.extend(config.alt_domain.clone());
    let parsed = if q.qclass == 1 || q.qclass == 255 {
        name::parse(&q.name, q.qtype, &domains, &config.datacenter)
    } else {
        name::Parsed {
            lookup: Lookup::OutOfZone,
            domain: String::new(),
        }
    };
    if parsed.lookup == Lookup::OutOfZone && recursion {
        return Some((forward(packet, &q, &config.recursors).await, None));
    }
    if let Lookup::OtherDatacenter(dc) = &parsed.lookup {
        // A server of that datacenter answers (it sees its own name); NXDOMAIN without one.
        if let Some(addr) = ctx.mesh.cluster.server_in(dc) {
            let answer = crate::node::rpc_client::dns_at(config, addr, packet, tcp).await;
            if answer.is_some() {
                return answer.map(|a| (a, None));
            }
        }
    }
    // At most what the transport can carry: trimming happens on the owner shard, not here.
    let room = if tcp {
        if q.qtype == plan::qtype::SRV {
            1024
        } else {
            4096
        }
    } else {
        match q.edns_size {
            Some(size) => (size as usize / 16).max(config.dns.udp_answer_limit),
            None => config.dns.udp_answer_limit.min(8),
        }
    };
    // ACLs: the agent's `dns` token, else its `default` token, else anonymous, decides
    // what may be answered (an unknown token answers nothing).
    let dns_secret = with_dns_secret(ctx, str::to_string);
    let secret = config.acl_enabled.then_some(dns_secret.as_str());
    // Read before the facts are gathered: a change meanwhile leaves the answer stamped older.
    let source = match &parsed.lookup {
        Lookup::Node { .. } | Lookup::Ptr(_) => Some(Some(ctx.id)),
        Lookup::Service { name, .. } => Some(Some(ctx.owner_of(name))),
        Lookup::Apex => Some(Some(ctx.owner_of("consul"))),
        Lookup::Addr(_) | Lookup::Invalid | Lookup::OutOfZone => Some(None),
        Lookup::Query { .. } | Lookup::OtherDatacenter(_) => None,
    };
    let stamped = source.and_then(|shard| {
        let source = Source {
            shard,
            shuffled: false,
        };
        Some((source, stamp(source, ctx, config)?))
    });
    let identity = secret.map(|secret| ctx.resolve_agent_token(config, secret).ok());
    let readable = |resource: Resource, name: &str| match &identity {
        None => true,
        Some(None) => false,
        Some(Some(i)) => i.authorizer.allows(resource, name, Need::Read),
    };
    let run_as = match &identity {
        Some(None) => None,
        resolved => Some(crate::http::query_api::RunAs {
            identity: resolved.clone().flatten(),
            secret: secret.map(str::to_string),
            hops: 0,
        }),
    };
    let (plan, cacheable) = match facts(&parsed.lookup, ctx, config, room, &readable, run_as).await
    {
        Ok(f) => {
            let plan = plan::answer(
                &parsed.lookup,
                &q.name,
                q.qtype,
                &parsed.domain,
                &config.dns,
                &f,
            );
            // Consul's order is random per answer, and which instances fit is too (a random
            // pick of `room` of them): every service answer counts as shuffled.
            let shuffled = matches!(parsed.lookup, Lookup::Service { .. } | Lookup::Apex);
            let cacheable = stamped.map(|(source, stamp)| (Source { shuffled, ..source }, stamp));
            (plan, cacheable)
        }
        Err(()) => (
            Plan {
                rcode: Rcode::ServFail,
                answers: Vec::new(),
                authority: Vec::new(),
                extra: Vec::new(),
                truncated: false,
            },
            None,
        ),
    };
    let plan = plan::fit(plan, &q.name, &config.dns, tcp, q.edns_size, q.qtype);
    Some((wire::encode(&q, &plan, recursion), cacheable))
}

fn node_data(n: &crate::catalog::Node) -> NodeData {
    NodeData {
        name: n.def.name.clone(),
        address: n.def.address.clone(),
        meta: n.def.meta.clone(),
    }
}

fn instance_data(i: &ServiceInstance) -> InstanceData {
    InstanceData {
        node: node_data(&i.node),
        service_name: i.service.def.name.clone(),
        address: i.service.def.address.clone(),
        port: i.service.def.port as u16,
        weight_passing: i.service.def.weight_passing as u16,
        weight_warning: i.service.def.weight_warning as u16,
        status: aggregate(i.checks.iter().map(|c| c.def.status.as_str())).to_string(),
    }
}

fn picked_data(p: crate::catalog::Pickable) -> InstanceData {
    InstanceData {
        node: NodeData {
            name: p.node_name,
            address: p.node_address,
            meta: p.node_meta,
        },
        service_name: p.service_name,
        address: p.service_address,
        port: p.port as u16,
        weight_passing: p.weight_passing as u16,
        weight_warning: p.weight_warning as u16,
        status: p.status.to_string(),
    }
}

/// A `health/service` entry (a prepared query's answer, perhaps from another datacenter) as
/// DNS needs it; checks the query ignores do not count towards its health.
fn instance_of_entry(entry: &serde_json::Value, ignored: &[&str]) -> InstanceData {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let (node, service) = (&entry["Node"], &entry["Service"]);
    let statuses = entry["Checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| !ignored.contains(&c["CheckID"].as_str().unwrap_or("")))
        .map(|c| c["Status"].as_str().unwrap_or(""));
    InstanceData {
        node: NodeData {
            name: text(&node["Node"]),
            address: text(&node["Address"]),
            meta: node["Meta"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), text(v)))
                .collect(),
        },
        service_name: text(&service["Service"]),
        address: text(&service["Address"]),
        port: service["Port"].as_u64().unwrap_or(0) as u16,
        weight_passing: service["Weights"]["Passing"].as_u64().unwrap_or(1) as u16,
        weight_warning: service["Weights"]["Warning"].as_u64().unwrap_or(1) as u16,
        status: aggregate(statuses).to_string(),
    }
}

/// Gathers what the lookup needs; `Err` when a shard could not answer (SERVFAIL).
/// `run_as`: who a prepared query runs as (`None`: the DNS token is unknown).
async fn facts(
    lookup: &Lookup,
    ctx: &ShardCtx,
    config: &AgentConfig,
    room: usize,
    readable: &dyn Fn(Resource, &str) -> bool,
    run_as: Option<crate::http::query_api::RunAs>,
) -> Result<Facts, ()> {
    let only_passing = config.dns.only_passing;
    let mut f = Facts {
        now_secs: unix_secs(),
        seed: rand::random(),
        ..Default::default()
    };
    match lookup {
        Lookup::Node { name } => {
            ctx.catch_up();
            let node = ctx.state.borrow().catalog.node(name).map(node_data);
            f.node = node.filter(|n| readable(Resource::Node, &n.name));
        }
        Lookup::Service { name, tag } => {
            let tags: Vec<String> = tag.iter().cloned().collect();
            let found = ctx
                .pick_instances(name, &tags, room, only_passing, f.seed)
                .await
                .map_err(|_| ())?;
            if readable(Resource::Service, name) {
                let nodes_readable = |i: &InstanceData| readable(Resource::Node, &i.node.name);
                f.instances = found
                    .into_iter()
                    .map(picked_data)
                    .filter(nodes_readable)
                    .collect();
            }
        }
        Lookup::Ptr(_) => {
            let nodes = ctx.catalog_nodes().value;
            let nodes = nodes
                .iter()
                .filter(|n| readable(Resource::Node, &n.def.name));
            f.nodes = nodes.map(node_data).collect();
        }
        Lookup::Apex => {
            let found = ctx.service_instances("consul", &[]).await.map_err(|_| ())?;
            if readable(Resource::Service, "consul") {
                let servers = found.value.iter().map(instance_data);
                f.servers = servers
                    .filter(|i| readable(Resource::Node, &i.node.name))
                    .collect();
            }
        }
        Lookup::Query { name } => {
            // Executed as `/v1/query/<name>/execute` is, failover included, as the DNS token
            // (or the query's own token); an unknown DNS token answers nothing.
            let Some(run_as) = run_as else {
                return Ok(f);
            };
            let done = match crate::http::query_api::run(ctx, config, name, run_as, None).await {
                Ok(Some(done)) => done,
                Ok(None) => return Ok(f),
                Err(_) => return Err(()),
            };
            let ignored: Vec<&str> = done.definition["Service"]["IgnoreCheckIDs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .collect();
            f.instances = done
                .nodes
                .iter()
                .map(|entry| instance_of_entry(entry, &ignored))
                .collect();
            f.query_ttl = done.definition["DNS"]["TTL"]
                .as_str()
                .and_then(crate::http::query::parse_go_duration)
                .map(|d| d.as_secs() as u32);
        }
        Lookup::Addr(_) | Lookup::Invalid | Lookup::OtherDatacenter(_) | Lookup::OutOfZone => {}
    }
    Ok(f)
}

/// Relays a question to the recursors in order (UDP, 2 s each); a reply with an RCODE other
/// than NOERROR or NXDOMAIN moves on to the next. All failing: SERVFAIL.
async fn forward(packet: &[u8], q: &Query, recursors: &[SocketAddr]) -> Vec<u8> {
    for recursor in recursors {
        let bind = if recursor.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        if socket.send_to(packet, recursor).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; DNS_MESSAGE_BYTES_MAX];
        let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
        else {
            continue;
        };
        if from != *recursor || n < 12 || buf[..2] != packet[..2] {
            continue;
        }
        let rcode = buf[3] & 0x0f;
        if rcode == 0 || rcode == 3 {
            buf[3] |= 0x80; // RA: we offer recursion through our recursors
            buf.truncate(n);
            return buf;
        }
    }
    wire::encode_refusal(q.id, Rcode::ServFail, q.recursion_desired)
}
