//! One shard's catalog: a replica of every node and node-level check, and the services (with
//! their checks) whose name this shard owns.

use std::collections::{BTreeMap, BTreeSet};

use super::command::{CatalogCommand, CheckDef, NodeDef, RegisterRequest, ServiceDef};
use crate::kv::shard_of;

/// A stored node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub def: NodeDef,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A stored service instance; `node` is the node's name as registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub def: ServiceDef,
    pub node: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A stored check, with the service name and tags Consul copies onto service checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub def: CheckDef,
    pub node: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A node's network coordinate as stored (`/v1/coordinate/nodes`).
#[derive(Clone, Debug, PartialEq)]
pub struct NodeCoordinate {
    /// The node's name as registered.
    pub node: String,
    pub segment: String,
    pub coord: crate::gossip::vivaldi::Coordinate,
    pub modify_index: u64,
}

/// One `/v1/health/service` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInstance {
    pub node: Node,
    pub service: Service,
    /// Node-level checks first, then the instance's own, each in check-ID order.
    pub checks: Vec<Check>,
}

type NodeKey = String; // lower-cased node name: Consul's names are case-insensitive
type ItemKey = (String, String); // (lower-cased node, lower-cased service or check ID)
/// Non-critical instances of one service, ready for DNS (see `health_list`).
type HealthList = std::rc::Rc<Vec<Pickable>>;

/// What DNS needs of one healthy instance, precomputed so that a lookup clones only this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pickable {
    pub node_name: String,
    pub node_address: String,
    pub node_meta: Vec<(String, String)>,
    pub service_name: String,
    pub service_address: String,
    pub service_tags: Vec<String>,
    pub port: u32,
    pub weight_passing: u32,
    pub weight_warning: u32,
    /// `passing` or `warning` (critical instances are not in the list).
    pub status: &'static str,
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// The catalog as one shard holds it. Owned by that shard's core.
#[derive(Debug, Clone)]
pub struct CatalogShard {
    shard: usize,
    shards: usize,
    nodes: BTreeMap<NodeKey, Node>,
    node_checks: BTreeMap<ItemKey, Check>,
    services: BTreeMap<ItemKey, Service>,
    service_checks: BTreeMap<ItemKey, Check>,
    /// lower-cased service name → instances here.
    by_name: BTreeMap<String, BTreeSet<ItemKey>>,
    /// lower-cased service name → last index that changed an instance or its checks
    /// (kept after the last instance goes, so watchers see the removal).
    name_index: BTreeMap<String, u64>,
    /// Per-service health for DNS (`health_list`): (service index it was computed at, list).
    health_cache: std::cell::RefCell<BTreeMap<String, (u64, HealthList)>>,
    nodes_index: u64,
    node_checks_index: u64,
    services_index: u64,
    service_checks_index: u64,
    /// Network coordinates by lower-cased node name (replicated like nodes; one segment).
    coordinates: BTreeMap<NodeKey, NodeCoordinate>,
    /// The coordinates table's own index: coordinate updates wake coordinate watchers only.
    coordinates_index: u64,
    applied: u64,
}

impl CatalogShard {
    /// Shard `shard` of `shards`.
    pub fn new(shard: usize, shards: usize) -> CatalogShard {
        assert!(shard < shards);
        CatalogShard {
            shard,
            shards,
            nodes: BTreeMap::new(),
            node_checks: BTreeMap::new(),
            services: BTreeMap::new(),
            service_checks: BTreeMap::new(),
            by_name: BTreeMap::new(),
            name_index: BTreeMap::new(),
            health_cache: Default::default(),
            nodes_index: 0,
            node_checks_index: 0,
            services_index: 0,
            service_checks_index: 0,
            coordinates: BTreeMap::new(),
            coordinates_index: 0,
            applied: 0,
        }
    }

    /// True when this shard owns services called `name`.
    pub fn owns(&self, name: &str) -> bool {
        shard_of(&lower(name), self.shards) == self.shard
    }

    /// This shard's catalog for a snapshot; the replicated tables (nodes, node checks) only
    /// when `with_replicated` (one shard contributes them).
    pub fn export(&self, into: &mut crate::snapshot::StateSnapshot, with_replicated: bool) {
        use crate::snapshot::{SnapCheck, SnapNode, SnapService};
        if with_replicated {
            for n in self.nodes.values() {
                into.nodes.push(SnapNode {
                    def: n.def.clone(),
                    create_index: n.create_index,
                    modify_index: n.modify_index,
                });
            }
            for c in self.node_checks.values() {
                into.checks.push(SnapCheck {
                    node: c.node.clone(),
                    def: c.def.clone(),
                    create_index: c.create_index,
                    modify_index: c.modify_index,
                });
            }
            for c in self.coordinates.values() {
                let mut update = super::CoordinateUpdate::new(&c.node, &c.coord);
                update.segment = c.segment.clone();
                into.coordinates.push((update, c.modify_index));
            }
        }
        for s in self.services.values() {
            into.services.push(SnapService {
                node: s.node.clone(),
                def: s.def.clone(),
                create_index: s.create_index,
                modify_index: s.modify_index,
            });
        }
        for c in self.service_checks.values() {
            into.checks.push(SnapCheck {
                node: c.node.clone(),
                def: c.def.clone(),
                create_index: c.create_index,
                modify_index: c.modify_index,
            });
        }
    }

    /// Replaces this shard's catalog with what `snap` holds for it (all nodes and node checks,
    /// the services it owns and their checks), as the committed restore at `index`. Items keep
    /// their indexes; every table index becomes at least `index` so that watchers wake.
    pub fn restore(&mut self, index: u64, snap: &crate::snapshot::StateSnapshot) {
        let (shard, shards) = (self.shard, self.shards);
        *self = CatalogShard::new(shard, shards);
        for n in &snap.nodes {
            self.nodes.insert(
                lower(&n.def.name),
                Node {
                    def: n.def.clone(),
                    create_index: n.create_index,
                    modify_index: n.modify_index,
                },
            );
        }
        for s in &snap.services {
            if !self.owns(&s.def.name) {
                continue;
            }
            let key = (lower(&s.node), lower(&s.def.id));
            self.by_name
                .entry(lower(&s.def.name))
                .or_default()
                .insert(key.clone());
            self.name_index.insert(lower(&s.def.name), index);
            self.services.insert(
                key,
                Service {
                    def: s.def.clone(),
                    node: s.node.clone(),
                    create_index: s.create_index,
                    modify_index: s.modify_index,
                },
            );
        }
        for c in &snap.checks {
            let key = (lower(&c.node), lower(&c.def.id));
            let mut check = Check {
                def: c.def.clone(),
                node: c.node.clone(),
                service_name: String::new(),
                service_tags: Vec::new(),
                create_index: c.create_index,
                modify_index: c.modify_index,
            };
            if c.def.service_id.is_empty() {
                self.node_checks.insert(key, check);
            } else if let Some(s) = self
                .services
                .get(&(lower(&c.node), lower(&c.def.service_id)))
            {
                check.service_name = s.def.name.clone();
                check.service_tags = s.def.tags.clone();
                self.service_checks.insert(key, check);
            }
        }
        self.nodes_index = index;
        self.node_checks_index = index;
        self.services_index = index;
        self.service_checks_index = index;
        for (update, modify_index) in &snap.coordinates {
            self.coordinates.insert(
                lower(&update.node),
                NodeCoordinate {
                    node: update.node.clone(),
                    segment: update.segment.clone(),
                    coord: update.coordinate(),
                    modify_index: *modify_index,
                },
            );
        }
        self.coordinates_index = index;
        self.applied = index;
    }

    /// Applies a committed command (every shard gets every catalog command).
    pub fn apply(&mut self, index: u64, cmd: &CatalogCommand) {
        assert!(
            index > self.applied,
            "catalog entry {index} applied twice (at {})",
            self.applied
        );
        self.applied = index;
        match cmd {
            CatalogCommand::Register(req) => self.register(index, req),
            CatalogCommand::Deregister {
                node,
                service_id: None,
                check_id: None,
            } => self.deregister_node(index, node),
            CatalogCommand::Deregister {
                node,
                service_id: Some(sid),
                ..
            } => self.deregister_service(index, node, sid),
            CatalogCommand::Deregister {
                node,
                check_id: Some(cid),
                ..
            } => self.deregister_check(index, node, cid),
            CatalogCommand::CoordinateBatch(updates) => self.update_coordinates(index, updates),
        }
    }

    /// Consul's `CoordinateBatchUpdate`: coordinates of nodes the catalog does not hold are
    /// dropped (a node's coordinate goes with the node), as are invalid ones.
    fn update_coordinates(&mut self, index: u64, updates: &[super::CoordinateUpdate]) {
        for u in updates {
            let key = lower(&u.node);
            let coord = u.coordinate();
            let Some(node) = self.nodes.get(&key) else {
                continue;
            };
            if !coord.is_valid() {
                continue;
            }
            self.coordinates.insert(
                key,
                NodeCoordinate {
                    node: node.def.name.clone(),
                    segment: u.segment.clone(),
                    coord,
                    modify_index: index,
                },
            );
            self.coordinates_index = index;
        }
    }

    fn touch_name(&mut self, name: &str, index: u64) {
        self.name_index.insert(lower(name), index);
    }

    /// Bumps the index of every service (owned here) on a node whose record or node-level
    /// checks changed, as Consul's `updateAllServiceIndexesOfNode` does: health answers for
    /// those services changed, and only those.
    fn touch_node_services(&mut self, node_key: &str, index: u64) {
        let names: Vec<String> = self
            .services
            .range((node_key.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == node_key)
            .map(|(_, s)| s.def.name.clone())
            .collect();
        for name in names {
            self.touch_name(&name, index);
        }
    }

    fn register(&mut self, index: u64, req: &RegisterRequest) {
        let node_key = lower(&req.node.name);
        if !req.skip_node_update || !self.nodes.contains_key(&node_key) {
            match self.nodes.get_mut(&node_key) {
                Some(n) if n.def == req.node => {}
                Some(n) => {
                    n.def = req.node.clone();
                    n.modify_index = index;
                    self.nodes_index = index;
                    self.touch_node_services(&node_key, index);
                }
                None => {
                    self.nodes.insert(
                        node_key.clone(),
                        Node {
                            def: req.node.clone(),
                            create_index: index,
                            modify_index: index,
                        },
                    );
                    self.nodes_index = index;
                }
            }
        }
        if let Some(def) = &req.service {
            if self.owns(&def.name) {
                self.upsert_service(index, &req.node.name, def);
            } else {
                // Renamed to a name another shard owns: that shard adds it, we drop ours.
                self.remove_service(index, &(lower(&req.node.name), lower(&def.id)));
            }
        }
        for check in &req.checks {
            self.upsert_check(index, &req.node.name, check);
        }
    }

    fn upsert_service(&mut self, index: u64, node: &str, def: &ServiceDef) {
        let key = (lower(node), lower(&def.id));
        // Checks carry their service's name and tags: they need touching only when those
        // change on a service that was already there (a new one has no checks yet).
        let mut relabel = false;
        if let Some(old) = self.services.get(&key) {
            if old.def == *def {
                return;
            }
            relabel = old.def.tags != def.tags || old.def.name != def.name;
            if lower(&old.def.name) != lower(&def.name) {
                // Renamed: the old name loses an instance (and may now live on another shard,
                // which registers it there from the same command).
                let old_name = old.def.name.clone();
                self.remove_service(index, &key);
                self.touch_name(&old_name, index);
            }
        }
        let create_index = self.services.get(&key).map_or(index, |s| s.create_index);
        self.services.insert(
            key.clone(),
            Service {
                def: def.clone(),
                node: node.to_string(),
                create_index,
                modify_index: index,
            },
        );
        self.by_name
            .entry(lower(&def.name))
            .or_default()
            .insert(key.clone());
        // Only this node's checks (the map is ordered by node): not a scan of every check
        // in the shard for each registration, which made 10,000 registrations quadratic.
        if relabel {
            let node_checks = self
                .service_checks
                .range_mut((key.0.clone(), String::new())..)
                .take_while(|((n, _), _)| *n == key.0);
            for (_, check) in node_checks {
                if lower(&check.def.service_id) == key.1
                    && (check.service_tags != def.tags || check.service_name != def.name)
                {
                    check.service_tags = def.tags.clone();
                    check.service_name = def.name.clone();
                    check.modify_index = index;
                    self.service_checks_index = index;
                }
            }
        }
        self.services_index = index;
        self.touch_name(&def.name, index);
    }

    fn upsert_check(&mut self, index: u64, node: &str, def: &CheckDef) {
        let key = (lower(node), lower(&def.id));
        if def.service_id.is_empty() {
            // A node-level check replaces a service check of the same ID, wherever it was.
            self.drop_service_check(index, &key);
            let changed = match self.node_checks.get(&key) {
                Some(c) => c.def != *def,
                None => true,
            };
            if changed {
                let create_index = self.node_checks.get(&key).map_or(index, |c| c.create_index);
                let check = Check {
                    def: def.clone(),
                    node: node.to_string(),
                    service_name: String::new(),
                    service_tags: Vec::new(),
                    create_index,
                    modify_index: index,
                };
                self.node_checks.insert(key, check);
                self.node_checks_index = index;
                // A node check changes the health of every service on the node.
                self.touch_node_services(&lower(node), index);
            }
            return;
        }
        if self.node_checks.remove(&key).is_some() {
            self.node_checks_index = index;
        }
        let service_key = (lower(node), lower(&def.service_id));
        let Some(service) = self.services.get(&service_key) else {
            // The service lives on another shard (or not at all; the API validated that).
            self.drop_service_check(index, &key);
            return;
        };
        let (name, tags) = (service.def.name.clone(), service.def.tags.clone());
        if let Some(c) = self.service_checks.get(&key) {
            if c.def == *def && c.service_name == name && c.service_tags == tags {
                return;
            }
        }
        let create_index = self
            .service_checks
            .get(&key)
            .map_or(index, |c| c.create_index);
        let check = Check {
            def: def.clone(),
            node: node.to_string(),
            service_name: name.clone(),
            service_tags: tags,
            create_index,
            modify_index: index,
        };
        self.service_checks.insert(key, check);
        self.service_checks_index = index;
        self.touch_name(&name, index);
    }

    fn drop_service_check(&mut self, index: u64, key: &ItemKey) {
        if let Some(c) = self.service_checks.remove(key) {
            self.service_checks_index = index;
            self.touch_name(&c.service_name, index);
        }
    }

    fn remove_service(&mut self, index: u64, key: &ItemKey) {
        let Some(service) = self.services.remove(key) else {
            return;
        };
        let name = lower(&service.def.name);
        if let Some(set) = self.by_name.get_mut(&name) {
            set.remove(key);
            if set.is_empty() {
                self.by_name.remove(&name);
            }
        }
        let doomed: Vec<ItemKey> = self
            .service_checks
            .iter()
            .filter(|((n, _), c)| *n == key.0 && lower(&c.def.service_id) == key.1)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.service_checks.remove(&k);
            self.service_checks_index = index;
        }
        self.services_index = index;
        self.touch_name(&service.def.name, index);
    }

    fn deregister_node(&mut self, index: u64, node: &str) {
        let node_key = lower(node);
        if self.nodes.remove(&node_key).is_some() {
            self.nodes_index = index;
        }
        if self.coordinates.remove(&node_key).is_some() {
            self.coordinates_index = index;
        }
        let checks: Vec<ItemKey> = self
            .node_checks
            .keys()
            .filter(|(n, _)| *n == node_key)
            .cloned()
            .collect();
        for k in checks {
            self.node_checks.remove(&k);
            self.node_checks_index = index;
        }
        let services: Vec<ItemKey> = self
            .services
            .keys()
            .filter(|(n, _)| *n == node_key)
            .cloned()
            .collect();
        for k in services {
            self.remove_service(index, &k);
        }
    }

    fn deregister_service(&mut self, index: u64, node: &str, service_id: &str) {
        self.remove_service(index, &(lower(node), lower(service_id)));
    }

    fn deregister_check(&mut self, index: u64, node: &str, check_id: &str) {
        let key = (lower(node), lower(check_id));
        if self.node_checks.remove(&key).is_some() {
            self.node_checks_index = index;
            let names: Vec<String> = self
                .services
                .iter()
                .filter(|((n, _), _)| *n == key.0)
                .map(|(_, s)| s.def.name.clone())
                .collect();
            for name in names {
                self.touch_name(&name, index);
            }
        }
        self.drop_service_check(index, &key);
    }

    // ---- reads ----

    /// Highest index of the replicated tables (nodes, node checks).
    pub fn replicated_index(&self) -> u64 {
        self.nodes_index.max(self.node_checks_index)
    }

    /// Highest index of anything this shard holds.
    pub fn index_max(&self) -> u64 {
        self.replicated_index()
            .max(self.services_index)
            .max(self.service_checks_index)
    }

    /// Every node's coordinate, ordered by (lower-cased) node name, and the table's index.
    pub fn coordinates(&self) -> (Vec<NodeCoordinate>, u64) {
        (
            self.coordinates.values().cloned().collect(),
            self.coordinates_index,
        )
    }

    /// One node's coordinate.
    pub fn coordinate(&self, node: &str) -> Option<&NodeCoordinate> {
        self.coordinates.get(&lower(node))
    }

    /// Every node, ordered by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.nodes.values().cloned().collect()
    }

    /// One node by (case-insensitive) name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.get(&lower(name))
    }

    /// Tags of every service this shard owns, by service name (deduplicated, sorted).
    pub fn service_tags(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in self.services.values() {
            out.entry(s.def.name.clone())
                .or_default()
                .extend(s.def.tags.iter().cloned());
        }
        out
    }

    /// Index for a query about service `name`: its own index (bumped by changes to its
    /// instances, their checks, and the nodes hosting them), or this shard's service table's
    /// when the name is unknown.
    pub fn service_index(&self, name: &str) -> u64 {
        self.name_index
            .get(&lower(name))
            .copied()
            .unwrap_or(self.services_index)
    }

    /// Instances of `name` carrying every tag in `tags` (case-insensitive), ordered by node
    /// then service ID, with their node and checks.
    pub fn instances(&self, name: &str, tags: &[String]) -> Vec<ServiceInstance> {
        let Some(keys) = self.by_name.get(&lower(name)) else {
            return Vec::new();
        };
        keys.iter()
            .filter(|key| {
                let service = &self.services[*key];
                tags.iter()
                    .all(|t| service.def.tags.iter().any(|st| st.eq_ignore_ascii_case(t)))
            })
            .filter_map(|key| self.instances_of_key(key))
            .collect()
    }

    /// Up to `k` healthy instances of `name` (carrying every tag in `tags`), picked uniformly at
    /// random with `seed`: DNS needs only what fits in one answer. Entries come precomputed
    /// from a per-service cache (see `health_list`), so a lookup without tags samples k indices
    /// and clones k small entries, with no map lookups, however many instances exist.
    /// Healthy = no critical check (and, with `exclude_warning`, no warning check).
    pub fn pick_instances(
        &self,
        name: &str,
        tags: &[String],
        k: usize,
        exclude_warning: bool,
        seed: u64,
    ) -> Vec<Pickable> {
        use rand::SeedableRng;
        let list = self.health_list(name);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        if tags.is_empty() && !exclude_warning {
            return rand::seq::index::sample(&mut rng, list.len(), k.min(list.len()))
                .into_iter()
                .map(|i| list[i].clone())
                .collect();
        }
        let fits: Vec<&Pickable> = list
            .iter()
            .filter(|p| !(exclude_warning && p.status == crate::catalog::WARNING))
            .filter(|p| {
                tags.iter()
                    .all(|t| p.service_tags.iter().any(|st| st.eq_ignore_ascii_case(t)))
            })
            .collect();
        rand::seq::index::sample(&mut rng, fits.len(), k.min(fits.len()))
            .into_iter()
            .map(|i| fits[i].clone())
            .collect()
    }

    /// The non-critical instances of `name`, computed once per change of the service's index.
    /// The index moves with every change to the service's instances, their checks, and their
    /// nodes' records and checks, so the cache is exact.
    fn health_list(&self, name: &str) -> HealthList {
        let lname = lower(name);
        let index = self.service_index(name);
        if let Some((at, list)) = self.health_cache.borrow().get(&lname) {
            if *at == index {
                return list.clone();
            }
        }
        let mut list = Vec::new();
        for key in self.by_name.get(&lname).into_iter().flatten() {
            let Some(node) = self.nodes.get(&key.0) else {
                continue;
            };
            let status = crate::catalog::aggregate(
                std::iter::once(self.node_level_status(&key.0))
                    .chain(self.service_check_statuses(key)),
            );
            if status == crate::catalog::CRITICAL {
                continue;
            }
            let service = &self.services[key];
            list.push(Pickable {
                node_name: node.def.name.clone(),
                node_address: node.def.address.clone(),
                node_meta: node.def.meta.clone(),
                service_name: service.def.name.clone(),
                service_address: service.def.address.clone(),
                service_tags: service.def.tags.clone(),
                port: service.def.port,
                weight_passing: service.def.weight_passing,
                weight_warning: service.def.weight_warning,
                status,
            });
        }
        let list = std::rc::Rc::new(list);
        self.health_cache
            .borrow_mut()
            .insert(lname, (index, list.clone()));
        list
    }

    fn node_level_status(&self, node_key: &str) -> &str {
        crate::catalog::aggregate(
            self.node_checks
                .range((node_key.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == node_key)
                .map(|(_, c)| c.def.status.as_str()),
        )
    }

    fn service_check_statuses<'a>(
        &'a self,
        key: &'a ItemKey,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.service_checks
            .range((key.0.clone(), String::new())..)
            .take_while(move |((n, _), _)| *n == key.0)
            .filter(move |(_, c)| lower(&c.def.service_id) == key.1)
            .map(|(_, c)| c.def.status.as_str())
    }

    /// The instance at `key` with its node and checks (cloned).
    fn instances_of_key(&self, key: &ItemKey) -> Option<ServiceInstance> {
        let service = self.services.get(key)?;
        let node = self.nodes.get(&key.0)?;
        let mut checks: Vec<Check> = self
            .node_checks
            .range((key.0.clone(), String::new())..)
            .take_while(|((n, _), _)| *n == key.0)
            .map(|(_, c)| c.clone())
            .collect();
        checks.extend(
            self.service_checks
                .range((key.0.clone(), String::new())..)
                .take_while(|((n, _), _)| *n == key.0)
                .filter(|(_, c)| lower(&c.def.service_id) == key.1)
                .map(|(_, c)| c.clone()),
        );
        Some(ServiceInstance {
            node: node.clone(),
            service: service.clone(),
            checks,
        })
    }

    /// Services this shard owns on `node`, by service ID.
    pub fn node_services(&self, node: &str) -> Vec<Service> {
        let key = lower(node);
        self.services
            .range((key.clone(), String::new())..)
            .take_while(|((n, _), _)| *n == key)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Node-level checks of `node` (replicated: take them from one shard only).
    pub fn node_level_checks(&self, node: &str) -> Vec<Check> {
        let key = lower(node);
        self.node_checks
            .range((key.clone(), String::new())..)
            .take_while(|((n, _), _)| *n == key)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Service checks this shard owns on `node`.
    pub fn node_service_checks(&self, node: &str) -> Vec<Check> {
        let key = lower(node);
        self.service_checks
            .range((key.clone(), String::new())..)
            .take_while(|((n, _), _)| *n == key)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Service checks of instances of `name` (owned by this shard when `owns(name)`).
    pub fn checks_of_service(&self, name: &str) -> Vec<Check> {
        let name = lower(name);
        self.service_checks
            .values()
            .filter(|c| lower(&c.service_name) == name)
            .cloned()
            .collect()
    }

    /// Checks in `state` (`any` = all): node-level ones only when `with_replicated`, so that a
    /// scatter takes them from one shard.
    pub fn checks_in_state(&self, state: &str, with_replicated: bool) -> Vec<Check> {
        let wanted = |c: &&Check| state == "any" || c.def.status == state;
        let mut out: Vec<Check> = Vec::new();
        if with_replicated {
            out.extend(self.node_checks.values().filter(wanted).cloned());
        }
        out.extend(self.service_checks.values().filter(wanted).cloned());
        out
    }

    /// True when `(node, service_id)` is registered here.
    pub fn has_service(&self, node: &str, service_id: &str) -> bool {
        self.services
            .contains_key(&(lower(node), lower(service_id)))
    }
}
