//! The agent's runtime on shard 0: owns `LocalState`, runs anti-entropy (right after a change
//! an incremental round writes only what changed; a full diff against the catalog runs first,
//! after a failure and every `ANTI_ENTROPY_INTERVAL_MS`), expires TTL checks, reaps critical
//! services, and runs one probe task per HTTP/TCP/UDP/script check.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::agent::sync::{CatalogView, DesiredView};
use crate::agent::{incremental, reconcile, CheckKind, CheckSpec, Dirty, LocalState, SyncOp};
use crate::catalog::{
    CatalogCommand, CheckDef, NodeDef, NodeView, RegisterRequest, ServiceDef, CRITICAL,
};
use crate::config::{
    AgentConfig, ANTI_ENTROPY_INTERVAL_MS, SYNC_RETRY_MS, SYNC_WRITES_IN_FLIGHT,
    TTL_SCAN_COALESCE_MS,
};
use crate::node::checks;
use crate::node::ctx::ShardCtx;
use crate::state::Command;
use crate::state::WriteOutcome;
use crate::version::CONSUL_API_VERSION;
use futures_util::StreamExt;

/// Shard 0's agent. Single-threaded: `RefCell` borrows never cross an `.await`.
pub struct AgentRuntime {
    pub config: AgentConfig,
    pub local: RefCell<LocalState>,
    sync_now: Notify,
    /// Set by `request_full_sync`: the next round diffs the whole node.
    full_sync_wanted: std::cell::Cell<bool>,
    ttl_changed: Notify,
    runners: RefCell<BTreeMap<String, JoinHandle<()>>>,
    started: Instant,
    gossip: RefCell<Option<std::rc::Rc<crate::node::gossip_runtime::GossipRuntime>>>,
    /// Servers only: the WAN pool.
    wan: RefCell<Option<std::rc::Rc<crate::node::gossip_runtime::GossipRuntime>>>,
    /// The ACL token each service was registered with (service ID → secret): anti-entropy
    /// writes a service with it, as Consul's agent does.
    pub service_tokens: RefCell<BTreeMap<String, String>>,
    /// IDs of the services and checks that came from config files: a reload replaces these
    /// and leaves the ones registered over HTTP alone.
    from_files: RefCell<(BTreeSet<String>, BTreeSet<String>)>,
}

/// Service and check definitions from config files (`AgentConfig::services`, `checks`).
pub type FileDefinitions = (
    Vec<(crate::catalog::ServiceDef, Vec<CheckSpec>)>,
    Vec<CheckSpec>,
);

impl AgentRuntime {
    /// A runtime for `config`; call `start` on shard 0's runtime.
    pub fn new(config: AgentConfig) -> AgentRuntime {
        AgentRuntime {
            config,
            local: RefCell::new(LocalState::default()),
            sync_now: Notify::new(),
            full_sync_wanted: std::cell::Cell::new(false),
            ttl_changed: Notify::new(),
            runners: RefCell::new(BTreeMap::new()),
            started: Instant::now(),
            gossip: RefCell::new(None),
            wan: RefCell::new(None),
            service_tokens: RefCell::new(BTreeMap::new()),
            from_files: RefCell::new(Default::default()),
        }
    }

    /// (services, checks, TTL checks, script checks) for `info`'s `agent` section.
    pub fn local_counts(&self) -> (usize, usize, usize, usize) {
        let local = self.local.borrow();
        let ttls = local
            .checks
            .values()
            .filter(|c| matches!(c.spec.kind, CheckKind::Ttl { .. }))
            .count();
        let monitors = local
            .checks
            .values()
            .filter(|c| matches!(c.spec.kind, CheckKind::Script { .. }))
            .count();
        (local.services.len(), local.checks.len(), ttls, monitors)
    }

    pub fn set_gossip(&self, rt: std::rc::Rc<crate::node::gossip_runtime::GossipRuntime>) {
        *self.gossip.borrow_mut() = Some(rt);
    }

    pub fn set_wan(&self, rt: std::rc::Rc<crate::node::gossip_runtime::GossipRuntime>) {
        *self.wan.borrow_mut() = Some(rt);
    }

    /// The WAN gossip runtime (servers only).
    pub fn wan(&self) -> Option<std::rc::Rc<crate::node::gossip_runtime::GossipRuntime>> {
        self.wan.borrow().clone()
    }

    /// The LAN gossip runtime (started with the agent).
    pub fn gossip(&self) -> std::rc::Rc<crate::node::gossip_runtime::GossipRuntime> {
        self.gossip
            .borrow()
            .clone()
            .expect("gossip starts before the agent API is served")
    }

    /// Milliseconds since start: the agent core's clock.
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Spawns the sync and TTL loops on the current LocalSet.
    pub fn start(ctx: &ShardCtx) {
        // Definitions from config files first, as Consul's agent loads them at start.
        let rt = ctx.agent();
        rt.load_file_definitions(ctx, (rt.config.services.clone(), rt.config.checks.clone()));
        let (a, b) = (ctx.clone(), ctx.clone());
        tokio::task::spawn_local(async move { a.agent().sync_loop(&a).await });
        tokio::task::spawn_local(async move { b.agent().ttl_loop().await });
        if !rt.config.disable_coordinates {
            let c = ctx.clone();
            tokio::task::spawn_local(async move { c.agent().coordinate_loop(&c).await });
        }
    }

    /// Makes the config files' services and checks the ones given (start and reload): those
    /// no longer defined are removed with their probes, the others added or replaced (a
    /// check keeps its status across a reload). Services and checks registered over HTTP are
    /// not touched, not even a check registered over HTTP on a file-defined service.
    pub fn load_file_definitions(&self, ctx: &ShardCtx, (services, checks): FileDefinitions) {
        let now = self.now_ms();
        let new_services: BTreeSet<String> = services.iter().map(|(d, _)| d.id.clone()).collect();
        let mut new_checks: BTreeSet<String> = checks.iter().map(|c| c.def.id.clone()).collect();
        new_checks.extend(
            services
                .iter()
                .flat_map(|(_, checks)| checks.iter().map(|c| c.def.id.clone())),
        );
        let (old_services, old_checks) = self.from_files.replace((new_services, new_checks));
        let (kept_services, kept_checks) = {
            let f = self.from_files.borrow();
            (f.0.clone(), f.1.clone())
        };
        for id in old_services.difference(&kept_services) {
            self.stop_service_runners(id);
            self.local.borrow_mut().remove_service(id);
            tracing::info!(target: "agent", "removed service {id:?} (no longer in the config files)");
        }
        for id in old_checks.difference(&kept_checks) {
            self.stop_runner(id);
            self.local.borrow_mut().remove_check(id);
        }
        for (def, checks) in services {
            self.local
                .borrow_mut()
                .add_service(def, checks.clone(), false, now);
            for spec in &checks {
                self.start_runner(ctx, spec);
            }
        }
        for spec in checks {
            self.local.borrow_mut().add_check(spec.clone(), now);
            self.start_runner(ctx, &spec);
        }
        self.changed();
    }

    /// Asks for an immediate full round (a reload): the whole node diffed against the
    /// catalog, which also removes what others registered on it.
    pub fn request_full_sync(&self) {
        self.full_sync_wanted.set(true);
        self.sync_now.notify_one();
    }

    /// Asks for an immediate sync (after a local change).
    pub fn changed(&self) {
        self.sync_now.notify_one();
        self.ttl_changed.notify_one();
    }

    /// This node as the agent registers it: tagged addresses and meta as Consul's agent sets.
    pub fn node_def(&self) -> NodeDef {
        let addr = self.config.bind_addr.to_string();
        let family = if self.config.bind_addr.is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        };
        let mut tagged: Vec<(String, String)> = ["lan", "wan"]
            .iter()
            .flat_map(|s| {
                [
                    (s.to_string(), addr.clone()),
                    (format!("{s}_{family}"), addr.clone()),
                ]
            })
            .collect();
        tagged.sort();
        NodeDef {
            id: self.config.node_id.clone(),
            name: self.config.node_name.clone(),
            address: addr,
            datacenter: self.config.datacenter.clone(),
            tagged_addresses: tagged,
            meta: vec![
                ("consul-network-segment".into(), String::new()),
                ("consul-version".into(), CONSUL_API_VERSION.into()),
            ],
        }
    }

    /// What this node should look like in the catalog; with `only`, just the changed
    /// services (with all their checks) and the changed checks, for an incremental round.
    fn desired(&self, only: Option<&Dirty>) -> DesiredView {
        let local = self.local.borrow();
        let mut d = DesiredView {
            node: self.node_def(),
            ..Default::default()
        };
        if let Some(dirty) = only {
            (d.services, d.checks) = local.changed_defs(dirty);
            return d;
        }
        for (id, s) in &local.services {
            d.services.insert(id.clone(), s.def.clone());
        }
        for (id, c) in &local.checks {
            d.checks.insert(id.clone(), c.spec.def.clone());
        }
        if self.config.server {
            // The `consul` service of a server (§3.8). `serfHealth` is the leader's to write
            // (`gossip_runtime::reconcile`); anti-entropy keeps it (`sync::KEPT_CHECKS`).
            d.services.insert(
                "consul".into(),
                ServiceDef {
                    id: "consul".into(),
                    name: "consul".into(),
                    port: self.config.server_port as u32,
                    weight_passing: 1,
                    weight_warning: 1,
                    meta: vec![
                        ("raft_version".into(), "3".into()),
                        ("version".into(), CONSUL_API_VERSION.into()),
                    ],
                    ..Default::default()
                },
            );
        }
        d
    }

    /// What the catalog holds for this node: from our own replica on a server, from a server
    /// over RPC on a client agent.
    async fn catalog_view(&self, ctx: &ShardCtx) -> Option<CatalogView> {
        let name = &self.config.node_name;
        let view = if self.config.server {
            ctx.node_view(name).await?
        } else {
            let addr = crate::node::rpc_client::pick_server(ctx)?;
            let frame = crate::rpc::Frame::NodeView(name.clone());
            match crate::node::rpc_client::call(&self.config, addr, &frame).await {
                Ok(crate::rpc::Frame::NodeViewAnswer(b)) => NodeView::decode(&b).ok()?,
                other => {
                    tracing::warn!(target: "agent", "anti-entropy could not read the catalog from {addr}: {other:?}");
                    return None;
                }
            }
        };
        Some(CatalogView {
            node: view.node,
            services: view
                .services
                .into_iter()
                .map(|s| (s.id.clone(), s))
                .collect(),
            checks: view.checks.into_iter().map(|c| (c.id.clone(), c)).collect(),
        })
    }

    /// A catalog write: through our Raft core on a server, through a server on a client agent.
    /// With ACLs the write carries the agent's token for it (`catalog_token`) and is checked
    /// where it is proposed, on a server (`node::acl::check_catalog_write`).
    pub async fn write_catalog(&self, ctx: &ShardCtx, cmd: CatalogCommand) -> WriteOutcome {
        let token = match self.config.acl_enabled {
            true => self.catalog_token(ctx, &cmd),
            false => None,
        };
        if self.config.server {
            if let Some(secret) = &token {
                let check = crate::node::acl::check_catalog_write(ctx, &self.config, &cmd, secret);
                if let Err(e) = check.await {
                    return WriteOutcome::Failed(e);
                }
            }
            ctx.write(Command::Catalog(cmd)).await
        } else {
            let cmd = Command::Catalog(cmd);
            crate::node::rpc_client::propose_remote(ctx, &self.config, &cmd, token.as_deref()).await
        }
    }

    /// The token an agent's own catalog write carries, as Consul's agent picks it: a service
    /// (or its checks) with the token it was registered with, else the agent's `default`
    /// token; the node and node checks with the `agent` token, else `default`; else
    /// anonymous. `None` for a server's own `consul` service, which Consul's leader registers
    /// with no token.
    fn catalog_token(&self, ctx: &ShardCtx, cmd: &CatalogCommand) -> Option<String> {
        let tokens = ctx.mesh.agent_tokens.load();
        let pick = |first: &str| -> String {
            [first, tokens.default.as_str()]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or(crate::acl::model::ANONYMOUS_SECRET)
                .to_string()
        };
        // The service a write is about: registered with it, or the owner of its checks.
        let service = match cmd {
            CatalogCommand::Register(reg) => match &reg.service {
                Some(s) => Some((s.id.clone(), s.name.clone())),
                None => reg
                    .checks
                    .iter()
                    .find(|c| !c.service_id.is_empty())
                    .map(|c| (c.service_id.clone(), String::new())),
            },
            _ => None,
        };
        match service {
            Some((_, name)) if self.config.server && name == "consul" => None,
            Some((id, _)) => {
                let own = self.service_tokens.borrow().get(&id).cloned();
                Some(pick(&own.unwrap_or_default()))
            }
            None => Some(pick(&tokens.agent)),
        }
    }

    /// True when catalog writes can go somewhere: a leader (server) or a known server (client).
    pub fn can_sync(&self, ctx: &ShardCtx) -> bool {
        if self.config.server {
            ctx.mesh.status.known_leader()
        } else {
            crate::node::rpc_client::pick_server(ctx).is_some()
        }
    }

    /// One anti-entropy round, then the writes that make the catalog match. A full round
    /// reads this node from the catalog and diffs everything (`reconcile`); an incremental
    /// one writes only what changed locally since the last round (`incremental`), so a
    /// change costs what it touches. True when every write went through.
    pub async fn sync_once(&self, ctx: &ShardCtx, full: bool) -> bool {
        if !self.can_sync(ctx) {
            return false;
        }
        // Taken before reading: a change made while this round runs is the next round's.
        let dirty = self.local.borrow_mut().take_dirty();
        let (desired, ops) = if full {
            let Some(catalog) = self.catalog_view(ctx).await else {
                return false;
            };
            let desired = self.desired(None);
            // What changed locally is written even if the catalog read looks in sync with
            // it: the read may lag our own last writes (a status changed and changed back).
            let mut ops = reconcile(&desired, &catalog);
            let planned: BTreeSet<SyncOp> = ops.iter().cloned().collect();
            let extra = incremental(&desired, &dirty);
            ops.extend(extra.into_iter().filter(|op| !planned.contains(op)));
            (desired, ops)
        } else {
            let desired = self.desired(Some(&dirty));
            let ops = incremental(&desired, &dirty);
            (desired, ops)
        };
        // The node first (services need it), then the deregistrations, then the
        // registrations (an ID removed and added again in one round, in another case, must
        // end registered); within a stage the writes are in flight together, so that they
        // share the Raft core's group commits instead of one commit each.
        let by_service = desired.checks_by_service();
        let stage = |pick: fn(&SyncOp) -> bool| ops.iter().filter(move |op| pick(op));
        let stages: [Vec<&SyncOp>; 3] = [
            stage(|op| *op == SyncOp::RegisterNode).collect(),
            stage(|op| {
                matches!(
                    op,
                    SyncOp::DeregisterService(_) | SyncOp::DeregisterCheck(_)
                )
            })
            .collect(),
            stage(|op| matches!(op, SyncOp::RegisterService(_) | SyncOp::RegisterCheck(_)))
                .collect(),
        ];
        let mut in_sync = true;
        for ops in stages {
            let results: Vec<bool> = futures_util::stream::iter(ops)
                .map(|op| self.sync_write(ctx, &desired, op, &by_service))
                .buffer_unordered(SYNC_WRITES_IN_FLIGHT)
                .collect()
                .await;
            in_sync &= results.into_iter().all(|ok| ok);
        }
        in_sync
    }

    /// One anti-entropy write; false when it failed (logged).
    async fn sync_write(
        &self,
        ctx: &ShardCtx,
        desired: &DesiredView,
        op: &SyncOp,
        by_service: &BTreeMap<&str, Vec<&CheckDef>>,
    ) -> bool {
        {
            let node = desired.node.clone();
            let register = |service: Option<ServiceDef>, checks: Vec<CheckDef>| {
                CatalogCommand::Register(Box::new(RegisterRequest {
                    node: node.clone(),
                    skip_node_update: false,
                    service,
                    checks,
                }))
            };
            let cmd = match op {
                SyncOp::RegisterNode => register(None, Vec::new()),
                SyncOp::RegisterService(id) => register(
                    Some(desired.services[id].clone()),
                    by_service
                        .get(id.as_str())
                        .into_iter()
                        .flatten()
                        .map(|c| (*c).clone())
                        .collect(),
                ),
                SyncOp::RegisterCheck(id) => register(None, vec![desired.checks[id].clone()]),
                SyncOp::DeregisterService(id) => CatalogCommand::Deregister {
                    node: node.name.clone(),
                    service_id: Some(id.clone()),
                    check_id: None,
                },
                SyncOp::DeregisterCheck(id) => CatalogCommand::Deregister {
                    node: node.name.clone(),
                    service_id: None,
                    check_id: Some(id.clone()),
                },
            };
            if let WriteOutcome::Failed(e) = self.write_catalog(ctx, cmd).await {
                tracing::warn!(target: "agent", "anti-entropy write failed: {e}");
                // The others still go (one service blocked by ACLs must not hold back the
                // rest); a full round is retried after SYNC_RETRY_MS.
                return false;
            }
            true
        }
    }

    async fn sync_loop(&self, ctx: &ShardCtx) {
        // The first sync registers this node as soon as there is a leader.
        while !self.can_sync(ctx) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Full rounds: the first, after a failure, and every ANTI_ENTROPY_INTERVAL_MS;
        // a local change in between runs an incremental round.
        let mut full = true;
        let mut next_full = tokio::time::Instant::now();
        loop {
            let next = self.sync_now.notified();
            tokio::pin!(next);
            next.as_mut().enable();
            let ok = self.sync_once(ctx, full).await;
            // A failed round (no leader yet, a server restarting) retries soon, not in 60 s.
            let period = if ok {
                ANTI_ENTROPY_INTERVAL_MS
            } else {
                SYNC_RETRY_MS
            };
            if full || !ok {
                let stagger = rand::thread_rng().gen_range(0..period / 16 + 1);
                next_full = tokio::time::Instant::now() + Duration::from_millis(period + stagger);
            }
            let timer = tokio::select! {
                _ = &mut next => !ok,
                _ = tokio::time::sleep_until(next_full) => true,
            };
            let wanted = self.full_sync_wanted.take();
            full = timer || wanted;
        }
    }

    /// Sends this agent's LAN coordinate to the catalog now and then (Consul's
    /// `sendCoordinate`): every `max(15 s, members / 64 s)` plus a random stagger of up to as
    /// much again, so that the cluster as a whole sends about `sync_coordinate_rate_target`
    /// (64) a second.
    async fn coordinate_loop(&self, ctx: &ShardCtx) {
        loop {
            let members = self.gossip().swim.borrow().alive_count() as f64;
            let scaled = (members * 1000.0 / self.config.coordinate_rate_target) as u64;
            let period = self.config.coordinate_sync_interval_min_ms.max(scaled);
            let stagger = rand::thread_rng().gen_range(0..period);
            tokio::time::sleep(Duration::from_millis(period + stagger)).await;
            let Some(coord) = self.gossip().swim.borrow().coordinate() else {
                continue;
            };
            if !self.can_sync(ctx) {
                continue;
            }
            let update = crate::catalog::CoordinateUpdate::new(&self.config.node_name, &coord);
            let cmd = CatalogCommand::CoordinateBatch(vec![update]);
            if let WriteOutcome::Failed(e) = self.write_catalog(ctx, cmd).await {
                tracing::warn!(target: "agent", "coordinate update failed: {e}");
            }
        }
    }

    async fn ttl_loop(&self) {
        loop {
            let changed = self.ttl_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let now = self.now_ms();
            let (expired, reap) = {
                let mut local = self.local.borrow_mut();
                (local.expire_ttls(now), local.services_to_reap(now))
            };
            let reaped = !reap.is_empty();
            for id in reap {
                self.stop_service_runners(&id);
                self.local.borrow_mut().remove_service(&id);
                tracing::info!(target: "agent", "removed service {id:?}: critical longer than DeregisterCriticalServiceAfter");
            }
            if !expired.is_empty() || reaped {
                self.sync_now.notify_one();
            }
            // Wake for the next TTL deadline, a change, or the reaper's 1 s granularity.
            let next = self
                .local
                .borrow()
                .next_ttl_deadline()
                .map(|d| d.saturating_sub(now))
                .unwrap_or(1000)
                .min(1000);
            tokio::select! {
                _ = &mut changed => {
                    let wait = TTL_SCAN_COALESCE_MS.min(next.max(1));
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                _ = tokio::time::sleep(Duration::from_millis(next.max(1))) => {}
            }
        }
    }

    /// Starts (or restarts) the probe task of a check that needs one.
    pub fn start_runner(&self, ctx: &ShardCtx, spec: &CheckSpec) {
        self.stop_runner(&spec.def.id);
        if matches!(spec.kind, CheckKind::Ttl { .. } | CheckKind::Maintenance) {
            return;
        }
        if let CheckKind::Alias { node, service } = &spec.kind {
            let (ctx, id, node, service) = (
                ctx.clone(),
                spec.def.id.clone(),
                node.clone(),
                service.clone(),
            );
            let handle = tokio::task::spawn_local(async move {
                loop {
                    let agent = ctx.agent();
                    let (status, output) = agent.alias_status(&ctx, &id, &node, &service).await;
                    let now = agent.now_ms();
                    if agent
                        .local
                        .borrow_mut()
                        .set_status(&id, status, &output, now)
                    {
                        agent.changed();
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            self.runners
                .borrow_mut()
                .insert(spec.def.id.clone(), handle);
            return;
        }
        let (ctx, id, kind) = (ctx.clone(), spec.def.id.clone(), spec.kind.clone());
        let (interval, timeout) = (
            Duration::from_millis(spec.interval_ms),
            Duration::from_millis(spec.timeout_ms),
        );
        let handle = tokio::task::spawn_local(async move {
            // First run after a random delay in [0, interval), as Consul staggers checks.
            let first = rand::thread_rng().gen_range(0..interval.as_millis().max(1) as u64);
            tokio::time::sleep(Duration::from_millis(first)).await;
            loop {
                let (status, output) = checks::probe(&kind, timeout).await;
                let agent = ctx.agent();
                let now = agent.now_ms();
                if agent.local.borrow_mut().record_result(
                    &id,
                    status,
                    &checks::cap_output(&output),
                    now,
                ) {
                    agent.changed();
                }
                tokio::time::sleep(interval).await;
            }
        });
        self.runners
            .borrow_mut()
            .insert(spec.def.id.clone(), handle);
    }

    /// Health an alias check mirrors: the local state for this node (its own check excluded),
    /// the catalog for another node.
    async fn alias_status(
        &self,
        ctx: &ShardCtx,
        own_id: &str,
        node: &str,
        service: &str,
    ) -> (&'static str, String) {
        let local_node = node.is_empty() || node.eq_ignore_ascii_case(&self.config.node_name);
        let node_name = if node.is_empty() {
            self.config.node_name.as_str()
        } else {
            node
        };
        let (known, checks) = if local_node {
            let local = self.local.borrow();
            let checks = local
                .checks
                .values()
                .filter(|c| c.spec.def.id != own_id)
                .map(|c| {
                    (
                        c.spec.def.service_id.clone(),
                        c.spec.def.name.clone(),
                        c.spec.def.status.clone(),
                        c.spec.def.output.clone(),
                    )
                })
                .collect::<Vec<_>>();
            (local.services.contains_key(service), checks)
        } else {
            let Ok(found) = ctx.catalog_node(node).await else {
                return (CRITICAL, "catalog busy".into());
            };
            let known = found
                .value
                .as_ref()
                .is_some_and(|(_, services)| services.iter().any(|s| s.def.id == service));
            let Ok(checks) = ctx.node_checks(node).await else {
                return (CRITICAL, "catalog busy".into());
            };
            let checks = checks
                .value
                .into_iter()
                .map(|c| (c.def.service_id, c.def.name, c.def.status, c.def.output))
                .collect();
            (known, checks)
        };
        crate::agent::local::alias_verdict(service, node_name, known, &checks)
    }

    /// Stops a check's probe task, if any.
    pub fn stop_runner(&self, check_id: &str) {
        if let Some(handle) = self.runners.borrow_mut().remove(check_id) {
            handle.abort();
        }
    }

    /// Stops the probes of every check of a service.
    pub fn stop_service_runners(&self, service_id: &str) {
        let ids: Vec<String> = self
            .local
            .borrow()
            .check_ids_of(service_id)
            .cloned()
            .collect();
        for id in ids {
            self.stop_runner(&id);
        }
    }
}
