//! Local state rules and anti-entropy properties.

use proptest::prelude::*;

use super::local::*;
use super::sync::*;
use crate::catalog::{CheckDef, NodeDef, ServiceDef, CRITICAL, PASSING, WARNING};

fn ttl_check(id: &str, service: &str, ttl_ms: u64) -> CheckSpec {
    CheckSpec {
        def: CheckDef {
            id: id.into(),
            name: id.into(),
            status: CRITICAL.into(),
            service_id: service.into(),
            check_type: "ttl".into(),
            ..Default::default()
        },
        kind: CheckKind::Ttl { ttl_ms },
        interval_ms: 0,
        timeout_ms: 0,
        deregister_critical_after_ms: 0,
        success_before_passing: 0,
        failures_before_critical: 0,
    }
}

fn svc(id: &str) -> ServiceDef {
    ServiceDef {
        id: id.into(),
        name: id.into(),
        weight_passing: 1,
        weight_warning: 1,
        ..Default::default()
    }
}

#[test]
fn ttl_expires_to_critical_with_consul_output() {
    let mut s = LocalState::default();
    s.add_service(
        svc("web"),
        vec![ttl_check("service:web", "web", 1000)],
        false,
        0,
    );
    assert!(s.set_status("service:web", PASSING, "ok", 100));
    assert_eq!(s.next_ttl_deadline(), Some(1100));
    assert!(s.expire_ttls(1099).is_empty());
    assert_eq!(s.expire_ttls(1100), vec!["service:web".to_string()]);
    let c = &s.checks["service:web"].spec.def;
    assert_eq!(
        (c.status.as_str(), c.output.as_str()),
        (
            CRITICAL,
            "TTL expired (last output before timeout follows): ok"
        )
    );
    assert_eq!(
        s.next_ttl_deadline(),
        None,
        "an expired check waits for its next update"
    );
}

#[test]
fn reregistration_keeps_status_and_unlisted_checks() {
    let mut s = LocalState::default();
    s.add_service(
        svc("web"),
        vec![ttl_check("a", "web", 10), ttl_check("b", "web", 10)],
        false,
        0,
    );
    s.set_status("a", WARNING, "hmm", 1);
    s.add_service(svc("web"), vec![ttl_check("a", "web", 10)], false, 2);
    assert_eq!(s.checks["a"].spec.def.status, WARNING);
    assert!(s.checks.contains_key("b"));
    s.add_service(svc("web"), vec![ttl_check("a", "web", 10)], true, 3);
    assert!(
        !s.checks.contains_key("b"),
        "replace-existing-checks drops unlisted checks"
    );
    assert!(s.remove_service("web"));
    assert!(s.checks.is_empty());
}

#[test]
fn flap_damping_counts_consecutive_results() {
    let mut s = LocalState::default();
    let mut spec = ttl_check("c", "", 10);
    spec.kind = CheckKind::Tcp {
        address: "x".into(),
    };
    spec.success_before_passing = 2;
    spec.failures_before_critical = 2;
    s.add_check(spec, 0);
    assert!(
        !s.record_result("c", PASSING, "ok", 1),
        "one success is not enough"
    );
    assert!(s.record_result("c", PASSING, "ok", 2));
    assert!(!s.record_result("c", CRITICAL, "down", 3));
    assert!(s.record_result("c", CRITICAL, "down", 4));
}

#[test]
fn critical_services_are_reaped_after_their_timeout() {
    let mut s = LocalState::default();
    let mut spec = ttl_check("service:web", "web", 1000);
    spec.deregister_critical_after_ms = 60_000;
    s.add_service(svc("web"), vec![spec], false, 0);
    assert!(s.services_to_reap(59_999).is_empty());
    assert_eq!(s.services_to_reap(60_000), vec!["web".to_string()]);
}

fn desired_strategy() -> impl Strategy<Value = DesiredView> {
    (
        prop::collection::btree_set(0u8..5, 0..4),
        prop::collection::vec((0u8..6, 0u8..5, 0u8..3), 0..6),
        0u8..2,
    )
        .prop_map(|(services, checks, addr)| {
            let mut d = DesiredView {
                node: NodeDef {
                    name: "me".into(),
                    address: format!("10.0.0.{addr}"),
                    ..Default::default()
                },
                ..Default::default()
            };
            for s in services {
                d.services.insert(format!("s{s}"), svc(&format!("s{s}")));
            }
            for (c, s, st) in checks {
                let service_id = if d.services.contains_key(&format!("s{s}")) {
                    format!("s{s}")
                } else {
                    String::new()
                };
                let status = [PASSING, WARNING, CRITICAL][st as usize];
                d.checks.insert(
                    format!("c{c}"),
                    CheckDef {
                        id: format!("c{c}"),
                        name: "n".into(),
                        status: status.into(),
                        service_id,
                        ..Default::default()
                    },
                );
            }
            d
        })
}

fn catalog_strategy() -> impl Strategy<Value = CatalogView> {
    (desired_strategy(), any::<bool>(), any::<bool>()).prop_map(|(d, has_node, serf)| {
        let mut c = CatalogView {
            node: has_node.then_some(d.node),
            services: d.services,
            checks: d.checks,
        };
        c.services.insert("consul".into(), svc("consul"));
        if serf {
            c.checks.insert(
                "serfHealth".into(),
                CheckDef {
                    id: "serfHealth".into(),
                    status: PASSING.into(),
                    ..Default::default()
                },
            );
        }
        c
    })
}

proptest! {
    /// After one round of ops the catalog matches the agent (apart from what the leader owns),
    /// and a second round finds nothing to do.
    #[test]
    fn one_sync_round_converges(desired in desired_strategy(), catalog in catalog_strategy()) {
        let ops = reconcile(&desired, &catalog);
        let after = apply(&desired, &catalog, &ops);
        prop_assert_eq!(after.node.as_ref(), Some(&desired.node));
        prop_assert_eq!(reconcile(&desired, &after), Vec::<SyncOp>::new());
        for (id, s) in &desired.services {
            prop_assert_eq!(after.services.get(id), Some(s));
        }
        for (id, c) in &desired.checks {
            prop_assert_eq!(after.checks.get(id), Some(c));
        }
        for id in after.services.keys() {
            prop_assert!(desired.services.contains_key(id) || id == "consul");
        }
        for id in after.checks.keys() {
            prop_assert!(desired.checks.contains_key(id) || id == "serfHealth");
        }
    }

    #[test]
    fn in_sync_means_no_ops(desired in desired_strategy()) {
        let catalog = CatalogView { node: Some(desired.node.clone()), services: desired.services.clone(), checks: desired.checks.clone() };
        prop_assert!(reconcile(&desired, &catalog).is_empty());
    }
}

/// A change to the agent's local state, for the incremental-sync property.
#[derive(Clone, Debug)]
enum LocalOp {
    AddService {
        service: u8,
        checks: Vec<u8>,
        replace: bool,
    },
    AddNodeCheck(u8),
    /// Registers service `s` again under another name, without checks.
    RenameService(u8, u8),
    RemoveService(u8),
    RemoveCheck(u8),
    SetStatus {
        check: u8,
        status: u8,
        output: u8,
    },
    Maintenance {
        service: Option<u8>,
        on: bool,
    },
    ExpireTtls,
}

fn local_op() -> impl Strategy<Value = LocalOp> {
    prop_oneof![
        (0u8..6, prop::collection::vec(0u8..10, 0..3), any::<bool>()).prop_map(
            |(service, checks, replace)| LocalOp::AddService {
                service,
                checks,
                replace
            }
        ),
        (0u8..10).prop_map(LocalOp::AddNodeCheck),
        (0u8..6, 0u8..3).prop_map(|(s, n)| LocalOp::RenameService(s, n)),
        (0u8..6).prop_map(LocalOp::RemoveService),
        (0u8..10).prop_map(LocalOp::RemoveCheck),
        (0u8..10, 0u8..3, 0u8..2).prop_map(|(check, status, output)| LocalOp::SetStatus {
            check,
            status,
            output
        }),
        (prop::option::of(0u8..6), any::<bool>())
            .prop_map(|(service, on)| LocalOp::Maintenance { service, on }),
        Just(LocalOp::ExpireTtls),
    ]
}

fn run_op(local: &mut LocalState, op: &LocalOp, now: u64) {
    match op {
        LocalOp::AddService {
            service,
            checks,
            replace,
        } => {
            let sid = format!("s{service}");
            let specs = checks
                .iter()
                .map(|c| ttl_check(&format!("c{c}"), &sid, 1_000))
                .collect();
            local.add_service(svc(&sid), specs, *replace, now);
        }
        LocalOp::AddNodeCheck(c) => local.add_check(ttl_check(&format!("c{c}"), "", 1_000), now),
        LocalOp::RenameService(s, n) => {
            let sid = format!("s{s}");
            if local.services.contains_key(&sid) {
                let def = ServiceDef {
                    name: format!("renamed{n}"),
                    ..svc(&sid)
                };
                local.add_service(def, Vec::new(), false, now);
            }
        }
        LocalOp::RemoveService(s) => {
            local.remove_service(&format!("s{s}"));
        }
        LocalOp::RemoveCheck(c) => {
            local.remove_check(&format!("c{c}"));
        }
        LocalOp::SetStatus {
            check,
            status,
            output,
        } => {
            let status = [PASSING, WARNING, CRITICAL][*status as usize];
            local.set_status(&format!("c{check}"), status, &format!("out {output}"), now);
        }
        LocalOp::Maintenance { service, on } => {
            let sid = service.map(|s| format!("s{s}"));
            local.set_maintenance(sid.as_deref(), *on, "", now);
        }
        LocalOp::ExpireTtls => {
            local.expire_ttls(now);
        }
    }
}

fn view_of(local: &LocalState) -> DesiredView {
    DesiredView {
        node: NodeDef::default(),
        services: local
            .services
            .iter()
            .map(|(k, v)| (k.clone(), v.def.clone()))
            .collect(),
        checks: local
            .checks
            .iter()
            .map(|(k, v)| (k.clone(), v.spec.def.clone()))
            .collect(),
    }
}

proptest! {
    /// From a catalog in sync, any local changes synced by `incremental` (only what
    /// `take_dirty` names, no catalog read) leave the catalog exactly as a full `reconcile`
    /// would: the dirty marks miss nothing.
    #[test]
    fn incremental_sync_equals_a_full_one(
        before in prop::collection::vec(local_op(), 0..12),
        after in prop::collection::vec(local_op(), 1..12),
    ) {
        let mut local = LocalState::default();
        let mut now = 0;
        for op in &before {
            now += 700;
            run_op(&mut local, op, now);
        }
        let synced = view_of(&local);
        let catalog = apply(&synced, &CatalogView::default(), &reconcile(&synced, &CatalogView::default()));
        local.take_dirty();
        for op in &after {
            now += 700;
            run_op(&mut local, op, now);
        }
        let desired = view_of(&local);
        // The check index agrees with the checks.
        for (id, c) in &local.checks {
            prop_assert!(local.check_ids_of(&c.spec.def.service_id).any(|x| x == id));
        }
        let indexed: usize = local.services.keys().chain(std::iter::once(&String::new()))
            .map(|s| local.check_ids_of(s).count()).sum();
        prop_assert_eq!(indexed, local.checks.len());
        let dirty = local.take_dirty();
        // What the shell hands `incremental`: only the changed definitions.
        let (services, checks) = local.changed_defs(&dirty);
        let changed = DesiredView { node: NodeDef::default(), services, checks };
        let by_increment = apply(&changed, &catalog, &incremental(&changed, &dirty));
        let by_full = apply(&desired, &catalog, &reconcile(&desired, &catalog));
        prop_assert_eq!(&by_increment.services, &by_full.services);
        prop_assert_eq!(&by_increment.checks, &by_full.checks);
        prop_assert_eq!(&by_increment.services, &desired.services);
        prop_assert_eq!(&by_increment.checks, &desired.checks);
        prop_assert!(local.take_dirty().is_empty(), "taking empties the set");
    }
}

#[test]
fn alias_verdicts() {
    use crate::agent::local::alias_verdict;
    let c = |sid: &str, name: &str, status: &str, out: &str| {
        (
            sid.to_string(),
            name.to_string(),
            status.to_string(),
            out.to_string(),
        )
    };
    assert_eq!(
        alias_verdict("web", "n1", false, &[]),
        (CRITICAL, "Service web could not be found on node n1".into())
    );
    assert_eq!(
        alias_verdict("web", "n1", true, &[]),
        (PASSING, "No checks found.".into())
    );
    let checks = [
        c("", "serf", PASSING, ""),
        c("web", "w", WARNING, "slow"),
        c("db", "d", CRITICAL, "down"),
    ];
    assert_eq!(
        alias_verdict("web", "n1", true, &checks),
        (WARNING, "Aliased check \"w\" warning: slow".into())
    );
    assert_eq!(
        alias_verdict("", "n1", false, &checks),
        (CRITICAL, "Aliased check \"d\" failing: down".into()),
        "node alias sees every check"
    );
    assert_eq!(
        alias_verdict("web", "n1", true, &checks[..1]),
        (PASSING, "All checks passing.".into())
    );
}
