//! Catalog rules, and the partitioning invariant: answers from the owning shard equal the
//! answers of a single-shard catalog fed the same commands.

use proptest::prelude::*;

use super::*;

fn node(name: &str, addr: &str) -> NodeDef {
    NodeDef {
        name: name.into(),
        address: addr.into(),
        datacenter: "dc1".into(),
        ..Default::default()
    }
}

fn service(id: &str, name: &str, tags: &[&str]) -> ServiceDef {
    ServiceDef {
        id: id.into(),
        name: name.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        port: 80,
        weight_passing: 1,
        weight_warning: 1,
        ..Default::default()
    }
}

fn check(id: &str, service_id: &str, status: &str) -> CheckDef {
    CheckDef {
        id: id.into(),
        name: id.into(),
        status: status.into(),
        service_id: service_id.into(),
        ..Default::default()
    }
}

fn register(n: NodeDef, s: Option<ServiceDef>, checks: Vec<CheckDef>) -> CatalogCommand {
    CatalogCommand::Register(Box::new(RegisterRequest {
        node: n,
        skip_node_update: false,
        service: s,
        checks,
    }))
}

#[test]
fn register_query_deregister() {
    let mut c = CatalogShard::new(0, 1);
    c.apply(
        1,
        &register(
            node("n1", "10.0.0.1"),
            Some(service("web-1", "web", &["v1", "Primary"])),
            vec![
                check("serfHealth", "", PASSING),
                check("service:web-1", "web-1", CRITICAL),
            ],
        ),
    );
    c.apply(
        2,
        &register(
            node("n2", "10.0.0.2"),
            Some(service("web-2", "web", &["v2"])),
            vec![],
        ),
    );
    let all = c.instances("WEB", &[]);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0]
            .checks
            .iter()
            .map(|c| c.def.id.as_str())
            .collect::<Vec<_>>(),
        ["serfHealth", "service:web-1"]
    );
    assert_eq!(all[0].checks[1].service_name, "web");
    assert_eq!(all[0].checks[1].service_tags, ["v1", "Primary"]);
    assert_eq!(
        c.instances("web", &["primary".into()]).len(),
        1,
        "tag filters are case-insensitive"
    );
    assert_eq!(
        c.instances("web", &["v1".into(), "v2".into()]).len(),
        0,
        "tags AND"
    );
    assert_eq!(
        aggregate(all[0].checks.iter().map(|c| c.def.status.as_str())),
        CRITICAL
    );

    // Identical re-registration changes no index.
    let before = c.index_max();
    c.apply(
        3,
        &register(
            node("n2", "10.0.0.2"),
            Some(service("web-2", "web", &["v2"])),
            vec![],
        ),
    );
    assert_eq!(c.index_max(), before);
    assert_eq!(c.service_index("web"), 2);

    // Deregistering the node removes its services and checks; the name index moves.
    c.apply(
        4,
        &CatalogCommand::Deregister {
            node: "N1".into(),
            service_id: None,
            check_id: None,
        },
    );
    assert_eq!(c.instances("web", &[]).len(), 1);
    assert_eq!(c.service_index("web"), 4);
    assert!(c.checks_in_state("any", true).is_empty());
    c.apply(
        5,
        &CatalogCommand::Deregister {
            node: "n2".into(),
            service_id: Some("web-2".into()),
            check_id: None,
        },
    );
    assert!(c.instances("web", &[]).is_empty());
    assert_eq!(
        c.service_index("web"),
        5,
        "watchers see the last instance go"
    );
    assert_eq!(c.nodes().len(), 1);
}

#[test]
fn node_check_changes_wake_service_watchers() {
    let mut c = CatalogShard::new(0, 1);
    c.apply(
        1,
        &register(
            node("n1", "a"),
            Some(service("db", "db", &[])),
            vec![check("serfHealth", "", PASSING)],
        ),
    );
    c.apply(
        2,
        &register(
            node("n1", "a"),
            None,
            vec![check("serfHealth", "", CRITICAL)],
        ),
    );
    assert_eq!(c.service_index("db"), 2);
    assert_eq!(c.instances("db", &[])[0].checks[0].def.status, CRITICAL);
}

#[derive(Debug, Clone)]
enum Op {
    Reg {
        node: u8,
        sid: u8,
        name: u8,
        tag: u8,
        status: u8,
    },
    NodeCheck {
        node: u8,
        status: u8,
    },
    DeregNode(u8),
    DeregService {
        node: u8,
        sid: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..4, 0u8..3, 0u8..3, 0u8..3).prop_map(|(node, sid, name, tag, status)| Op::Reg { node, sid, name, tag, status }),
        1 => (0u8..4, 0u8..3).prop_map(|(node, status)| Op::NodeCheck { node, status }),
        1 => (0u8..4).prop_map(Op::DeregNode),
        1 => (0u8..4, 0u8..4).prop_map(|(node, sid)| Op::DeregService { node, sid }),
    ]
}

fn to_command(op: &Op) -> CatalogCommand {
    let status = |s: u8| [PASSING, WARNING, CRITICAL][s as usize];
    match op {
        Op::Reg {
            node: n,
            sid,
            name,
            tag,
            status: st,
        } => {
            let sid = format!("s{sid}");
            register(
                node(&format!("n{n}"), "10.0.0.1"),
                Some(service(&sid, &format!("svc{name}"), &[&format!("t{tag}")])),
                vec![check(&format!("service:{sid}"), &sid, status(*st))],
            )
        }
        Op::NodeCheck {
            node: n,
            status: st,
        } => register(
            node(&format!("n{n}"), "10.0.0.1"),
            None,
            vec![check("serfHealth", "", status(*st))],
        ),
        Op::DeregNode(n) => CatalogCommand::Deregister {
            node: format!("n{n}"),
            service_id: None,
            check_id: None,
        },
        Op::DeregService { node: n, sid } => CatalogCommand::Deregister {
            node: format!("n{n}"),
            service_id: Some(format!("s{sid}")),
            check_id: None,
        },
    }
}

proptest! {
    #[test]
    fn owning_shard_answers_like_one_catalog(ops in prop::collection::vec(op(), 1..60)) {
        let mut reference = CatalogShard::new(0, 1);
        let mut shards: Vec<CatalogShard> = (0..3).map(|i| CatalogShard::new(i, 3)).collect();
        for (i, op) in ops.iter().enumerate() {
            let cmd = to_command(op);
            reference.apply(i as u64 + 1, &cmd);
            for s in shards.iter_mut() {
                s.apply(i as u64 + 1, &cmd);
            }
            for name in ["svc0", "svc1", "svc2"] {
                let owner = shards.iter().find(|s| s.owns(name)).unwrap();
                prop_assert_eq!(owner.instances(name, &[]), reference.instances(name, &[]));
                for other in shards.iter().filter(|s| !s.owns(name)) {
                    prop_assert!(other.instances(name, &[]).is_empty());
                }
            }
            for s in &shards {
                prop_assert_eq!(s.nodes(), reference.nodes());
            }
            let mut all: Vec<Check> = shards.iter().enumerate().flat_map(|(i, s)| s.checks_in_state("any", i == 0)).collect();
            let mut expect = reference.checks_in_state("any", true);
            all.sort_by(|a, b| (&a.node, &a.def.id).cmp(&(&b.node, &b.def.id)));
            expect.sort_by(|a, b| (&a.node, &a.def.id).cmp(&(&b.node, &b.def.id)));
            prop_assert_eq!(all, expect);
        }
    }
}

#[test]
fn unrelated_registration_leaves_service_index_alone() {
    for shards in [1, 3] {
        let mut all: Vec<CatalogShard> =
            (0..shards).map(|i| CatalogShard::new(i, shards)).collect();
        let first = register(
            node("n1", "10.0.0.1"),
            Some(service("api", "api", &[])),
            vec![check("service:api", "api", CRITICAL)],
        );
        let second = register(
            node("other", "10.0.0.9"),
            Some(service("unrelated", "unrelated", &[])),
            vec![],
        );
        for c in all.iter_mut() {
            c.apply(2, &first);
            c.apply(3, &second);
        }
        let owner = all.iter().find(|c| c.owns("api")).unwrap();
        assert_eq!(owner.service_index("api"), 2, "shards={shards}");
    }
}

proptest! {
    /// DNS picking: `min(k, healthy)` distinct instances, all healthy; with room for all, the
    /// same set `instances` gives after the health filter.
    #[test]
    fn pick_returns_random_healthy_subsets(statuses in prop::collection::vec(0u8..3, 1..30), k in 0usize..8, seed: u64, exclude_warning: bool) {
        let mut c = CatalogShard::new(0, 1);
        let status = |s: u8| [PASSING, WARNING, CRITICAL][s as usize];
        for (i, s) in statuses.iter().enumerate() {
            let sid = format!("s{i}");
            c.apply(i as u64 + 1, &register(node(&format!("n{i}"), "10.0.0.1"), Some(service(&sid, "web", &[])), vec![check("c", &sid, status(*s))]));
        }
        let healthy = |i: &ServiceInstance| {
            let st = aggregate(i.checks.iter().map(|c| c.def.status.as_str()));
            st != CRITICAL && !(exclude_warning && st == WARNING)
        };
        let expected: Vec<ServiceInstance> = c.instances("web", &[]).into_iter().filter(healthy).collect();
        // One node per instance here, so node names identify instances.
        let expected_nodes: Vec<String> = expected.iter().map(|i| i.node.def.name.clone()).collect();
        let picked = c.pick_instances("web", &[], k, exclude_warning, seed);
        prop_assert_eq!(picked.len(), k.min(expected.len()));
        prop_assert!(picked.iter().all(|p| expected_nodes.contains(&p.node_name)));
        let mut names: Vec<&str> = picked.iter().map(|p| p.node_name.as_str()).collect();
        names.sort();
        names.dedup();
        prop_assert_eq!(names.len(), picked.len());
        let mut all: Vec<String> = c.pick_instances("web", &[], usize::MAX, exclude_warning, seed).into_iter().map(|p| p.node_name).collect();
        all.sort();
        let mut expected_nodes = expected_nodes;
        expected_nodes.sort();
        prop_assert_eq!(all, expected_nodes);
    }
}
