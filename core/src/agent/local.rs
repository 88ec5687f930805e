//! Services and checks registered on this agent, with TTL bookkeeping and Consul's rules for
//! check IDs, initial status and re-registration.

use std::collections::{BTreeMap, BTreeSet};

use crate::catalog::{CheckDef, ServiceDef, CRITICAL, MAINTENANCE, PASSING};

/// How a check is probed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Status pushed through `/v1/agent/check/{pass,warn,fail,update}`; critical when stale.
    Ttl {
        ttl_ms: u64,
    },
    Http {
        url: String,
        method: String,
        headers: Vec<(String, String)>,
        body: String,
        tls_skip_verify: bool,
    },
    Tcp {
        address: String,
    },
    Udp {
        address: String,
    },
    Script {
        args: Vec<String>,
    },
    /// Mirrors the health of `service` on `node` (empty node = this agent's), or of the whole
    /// node when `service` is empty.
    Alias {
        node: String,
        service: String,
    },
    /// grpc.health.v1 `Check` against `host:port`, for `service` (empty = the server).
    Grpc {
        address: String,
        service: String,
    },
    /// Maintenance mode (node or service); never probed.
    Maintenance,
}

impl CheckKind {
    /// Consul's `Type` string.
    pub fn type_name(&self) -> &'static str {
        match self {
            CheckKind::Ttl { .. } => "ttl",
            CheckKind::Http { .. } => "http",
            CheckKind::Tcp { .. } => "tcp",
            CheckKind::Udp { .. } => "udp",
            CheckKind::Script { .. } => "script",
            CheckKind::Grpc { .. } => "grpc",
            CheckKind::Alias { .. } => "alias",
            CheckKind::Maintenance => "maintenance",
        }
    }
}

/// A check as registered with the agent: what the catalog sees plus how to run it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    pub def: CheckDef,
    pub kind: CheckKind,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub deregister_critical_after_ms: u64,
    pub success_before_passing: u32,
    pub failures_before_critical: u32,
}

/// A registered check and its runtime state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalCheck {
    pub spec: CheckSpec,
    /// TTL checks: when the status goes critical unless refreshed.
    pub ttl_deadline_ms: Option<u64>,
    /// Consecutive results for flap damping.
    pub successes: u32,
    pub failures: u32,
    /// Since when the check has been critical (for DeregisterCriticalServiceAfter).
    pub critical_since_ms: Option<u64>,
}

/// A registered service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalService {
    pub def: ServiceDef,
}

/// Everything registered on this agent.
#[derive(Clone, Debug, Default)]
pub struct LocalState {
    pub services: BTreeMap<String, LocalService>,
    pub checks: BTreeMap<String, LocalCheck>,
    /// What changed since anti-entropy last took it (`take_dirty`). Private: every change
    /// goes through a method that marks it.
    dirty: Dirty,
    /// Check IDs by service ID (`""` for node checks), kept by the same methods: finding a
    /// service's checks must not scan every check (10,000 registrations were quadratic).
    by_service: BTreeMap<String, BTreeSet<String>>,
}

/// Services and checks changed (added, replaced, removed, or a check's status or output)
/// since the last `LocalState::take_dirty`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirty {
    pub services: BTreeSet<String>,
    pub checks: BTreeSet<String>,
}

impl Dirty {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.checks.is_empty()
    }
}

/// Id of the node maintenance check.
pub const NODE_MAINTENANCE_ID: &str = "_node_maintenance";

/// Id of a service's maintenance check.
pub fn service_maintenance_id(service_id: &str) -> String {
    format!("_service_maintenance:{service_id}")
}

impl LocalState {
    /// What changed since the last call (anti-entropy syncs just that after a local change).
    pub fn take_dirty(&mut self) -> Dirty {
        std::mem::take(&mut self.dirty)
    }

    /// The current definitions of what `dirty` names (those still registered), in
    /// O(changed × log n): an incremental round's desired view. A changed service carries
    /// all its checks: renamed, the catalog drops its old checks and must get them again.
    pub fn changed_defs(
        &self,
        dirty: &Dirty,
    ) -> (BTreeMap<String, ServiceDef>, BTreeMap<String, CheckDef>) {
        let services: BTreeMap<String, ServiceDef> = dirty
            .services
            .iter()
            .filter_map(|id| Some((id.clone(), self.services.get(id)?.def.clone())))
            .collect();
        let of_services = services.keys().flat_map(|s| self.check_ids_of(s));
        let checks = dirty
            .checks
            .iter()
            .chain(of_services)
            .filter_map(|id| Some((id.clone(), self.checks.get(id)?.spec.def.clone())))
            .collect();
        (services, checks)
    }

    /// Registers (or replaces) a service and its checks. Existing checks of the service that
    /// are not in `checks` stay unless `replace_existing_checks`. A re-registered check keeps
    /// its current status and output, as Consul's agent does.
    pub fn add_service(
        &mut self,
        def: ServiceDef,
        checks: Vec<CheckSpec>,
        replace_existing_checks: bool,
        now_ms: u64,
    ) {
        if replace_existing_checks {
            let keep: Vec<&str> = checks.iter().map(|c| c.def.id.as_str()).collect();
            let maintenance = service_maintenance_id(&def.id);
            let dropped: Vec<String> = self
                .check_ids_of(&def.id)
                .filter(|id| !keep.contains(&id.as_str()) && **id != maintenance)
                .cloned()
                .collect();
            for id in dropped {
                self.remove_check(&id);
            }
        }
        self.dirty.services.insert(def.id.clone());
        self.services.insert(def.id.clone(), LocalService { def });
        for spec in checks {
            self.add_check(spec, now_ms);
        }
    }

    /// Registers (or replaces) a check.
    pub fn add_check(&mut self, mut spec: CheckSpec, now_ms: u64) {
        if let Some(old) = self.checks.get(&spec.def.id) {
            spec.def.status = old.spec.def.status.clone();
            spec.def.output = old.spec.def.output.clone();
        }
        let ttl_deadline_ms = match spec.kind {
            CheckKind::Ttl { ttl_ms } => Some(now_ms + ttl_ms),
            _ => None,
        };
        let critical_since_ms = (spec.def.status == CRITICAL).then_some(now_ms);
        let id = spec.def.id.clone();
        self.dirty.checks.insert(id.clone());
        self.unindex(&id);
        self.by_service
            .entry(spec.def.service_id.clone())
            .or_default()
            .insert(id.clone());
        self.checks.insert(
            id,
            LocalCheck {
                spec,
                ttl_deadline_ms,
                successes: 0,
                failures: 0,
                critical_since_ms,
            },
        );
    }

    /// Removes a service and its checks; false when unknown.
    pub fn remove_service(&mut self, id: &str) -> bool {
        if self.services.remove(id).is_none() {
            return false;
        }
        // Its checks leave the catalog with it; they are marked too, so that a service
        // registered again under this ID without them does not find them in the catalog.
        let ids: Vec<String> = self.check_ids_of(id).cloned().collect();
        for check_id in ids {
            self.remove_check(&check_id);
        }
        self.dirty.services.insert(id.to_string());
        true
    }

    /// Removes a check; false when unknown.
    pub fn remove_check(&mut self, id: &str) -> bool {
        self.unindex(id);
        let removed = self.checks.remove(id).is_some();
        if removed {
            self.dirty.checks.insert(id.to_string());
        }
        removed
    }

    /// The IDs of a service's checks (`""`: the node's), from the index.
    pub fn check_ids_of(&self, service_id: &str) -> impl Iterator<Item = &String> {
        self.by_service.get(service_id).into_iter().flatten()
    }

    /// Takes check `id` out of the index, wherever its service put it.
    fn unindex(&mut self, id: &str) {
        let Some(service) = self.checks.get(id).map(|c| c.spec.def.service_id.clone()) else {
            return;
        };
        if let Some(set) = self.by_service.get_mut(&service) {
            set.remove(id);
            if set.is_empty() {
                self.by_service.remove(&service);
            }
        }
    }

    /// Sets a check's status and output directly (TTL updates and probe results after
    /// damping). Resets the TTL timer. Returns true when the status or output changed.
    pub fn set_status(&mut self, id: &str, status: &str, output: &str, now_ms: u64) -> bool {
        let Some(check) = self.checks.get_mut(id) else {
            return false;
        };
        if let CheckKind::Ttl { ttl_ms } = check.spec.kind {
            check.ttl_deadline_ms = Some(now_ms + ttl_ms);
        }
        if status == CRITICAL {
            check.critical_since_ms.get_or_insert(now_ms);
        } else {
            check.critical_since_ms = None;
        }
        let changed = check.spec.def.status != status || check.spec.def.output != output;
        check.spec.def.status = status.to_string();
        check.spec.def.output = output.to_string();
        if changed {
            self.dirty.checks.insert(id.to_string());
        }
        changed
    }

    /// Applies one probe result through flap damping (§3.4). Returns true when the visible
    /// status or output changed.
    pub fn record_result(&mut self, id: &str, status: &str, output: &str, now_ms: u64) -> bool {
        let Some(check) = self.checks.get_mut(id) else {
            return false;
        };
        // A result shows only after enough consecutive results of its kind.
        let (run, needed) = if status == CRITICAL {
            check.successes = 0;
            check.failures = check.failures.saturating_add(1);
            (check.failures, check.spec.failures_before_critical)
        } else {
            check.failures = 0;
            check.successes = check.successes.saturating_add(1);
            (check.successes, check.spec.success_before_passing)
        };
        if run < needed {
            return false;
        }
        self.set_status(id, status, output, now_ms)
    }

    /// Turns TTL checks whose deadline passed critical; returns the IDs that changed.
    pub fn expire_ttls(&mut self, now_ms: u64) -> Vec<String> {
        let mut expired = Vec::new();
        for (id, check) in self.checks.iter_mut() {
            let Some(deadline) = check.ttl_deadline_ms else {
                continue;
            };
            if now_ms < deadline || check.spec.def.status == CRITICAL {
                continue;
            }
            let last = &check.spec.def.output;
            let output = if last.is_empty() {
                "TTL expired".to_string()
            } else {
                format!("TTL expired (last output before timeout follows): {last}")
            };
            check.spec.def.status = CRITICAL.into();
            check.spec.def.output = output;
            check.critical_since_ms = Some(now_ms);
            expired.push(id.clone());
        }
        self.dirty.checks.extend(expired.iter().cloned());
        expired
    }

    /// Earliest pending TTL deadline.
    pub fn next_ttl_deadline(&self) -> Option<u64> {
        self.checks
            .values()
            .filter(|c| c.spec.def.status != CRITICAL)
            .filter_map(|c| c.ttl_deadline_ms)
            .min()
    }

    /// Services whose checks have all been critical longer than their
    /// `DeregisterCriticalServiceAfter` (§3.6); the caller removes them.
    pub fn services_to_reap(&self, now_ms: u64) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .values()
            .filter(|c| {
                c.spec.deregister_critical_after_ms > 0 && !c.spec.def.service_id.is_empty()
            })
            .filter(|c| {
                c.critical_since_ms.is_some_and(|since| {
                    now_ms.saturating_sub(since) >= c.spec.deregister_critical_after_ms
                })
            })
            .map(|c| c.spec.def.service_id.clone())
            .collect();
        out.dedup();
        out
    }

    /// Node (`None`) or service maintenance on/off. Returns false for an unknown service.
    pub fn set_maintenance(
        &mut self,
        service_id: Option<&str>,
        enable: bool,
        reason: &str,
        now_ms: u64,
    ) -> bool {
        let (id, name, sid) = match service_id {
            None => (
                NODE_MAINTENANCE_ID.to_string(),
                "Node Maintenance Mode".to_string(),
                String::new(),
            ),
            Some(sid) => {
                if !self.services.contains_key(sid) {
                    return false;
                }
                (
                    service_maintenance_id(sid),
                    "Service Maintenance Mode".to_string(),
                    sid.to_string(),
                )
            }
        };
        if !enable {
            self.remove_check(&id);
            return true;
        }
        let notes = if !reason.is_empty() {
            reason.to_string()
        } else if service_id.is_none() {
            "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.".into()
        } else {
            "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.".into()
        };
        let def = CheckDef {
            id,
            name,
            status: CRITICAL.into(),
            notes,
            service_id: sid,
            check_type: "maintenance".into(),
            ..Default::default()
        };
        let spec = CheckSpec {
            def,
            kind: CheckKind::Maintenance,
            interval_ms: 0,
            timeout_ms: 0,
            deregister_critical_after_ms: 0,
            success_before_passing: 0,
            failures_before_critical: 0,
        };
        self.add_check(spec, now_ms);
        true
    }

    /// Aggregate status of a service's checks (node-level checks included), Consul's order.
    pub fn service_health(&self, service_id: &str) -> &'static str {
        crate::catalog::aggregate(
            self.checks
                .values()
                .filter(|c| c.spec.def.service_id.is_empty() || c.spec.def.service_id == service_id)
                .map(|c| {
                    if c.spec.kind == CheckKind::Maintenance {
                        MAINTENANCE
                    } else {
                        c.spec.def.status.as_str()
                    }
                }),
        )
    }
}

/// An alias check's verdict over the aliased checks (Consul's `agent/checks/alias.go`):
/// node-level checks count, as do those of `service` (all when `service` is empty).
/// `checks` are (service ID, name, status, output).
pub fn alias_verdict(
    service: &str,
    node: &str,
    service_known: bool,
    checks: &[(String, String, String, String)],
) -> (&'static str, String) {
    if !service.is_empty() && !service_known {
        return (
            CRITICAL,
            format!("Service {service} could not be found on node {node}"),
        );
    }
    let mut status = PASSING;
    let mut output = "No checks found.".to_string();
    for (service_id, name, check_status, check_output) in checks {
        if !service.is_empty() && !service_id.is_empty() && service_id != service {
            continue;
        }
        if output == "No checks found." {
            output = "All checks passing.".into();
        }
        if check_status == CRITICAL || check_status == MAINTENANCE {
            return (
                CRITICAL,
                format!("Aliased check {name:?} failing: {check_output}"),
            );
        }
        if check_status == crate::catalog::WARNING && status == PASSING {
            status = crate::catalog::WARNING;
            output = format!("Aliased check {name:?} warning: {check_output}");
        }
    }
    (status, output)
}

/// The default status for a new check: `critical` unless given.
pub fn initial_status(given: &str) -> String {
    if given.is_empty() {
        CRITICAL.into()
    } else {
        given.to_string()
    }
}

/// True for a status a check may be given.
pub fn is_status(s: &str) -> bool {
    s == PASSING || s == crate::catalog::WARNING || s == CRITICAL
}
