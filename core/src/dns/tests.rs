//! DNS: grammar, planning, trimming, wire round trips, and the decoder against random bytes.

use std::net::IpAddr;

use domain::base::Message;
use proptest::prelude::*;

use super::name::{parse, Lookup};
use super::plan::{answer, fit, qtype, DnsConfig, Facts, InstanceData, NodeData, RData, Rcode};
use super::wire::{decode, encode, Query, Refusal};

fn domains() -> Vec<String> {
    vec!["consul.".into(), "alt.test.".into()]
}

fn lookup(name: &str, qt: u16) -> Lookup {
    parse(name, qt, &domains(), "dc1").lookup
}

#[test]
fn grammar() {
    let svc = |n: &str, t: Option<&str>| Lookup::Service {
        name: n.into(),
        tag: t.map(String::from),
    };
    assert_eq!(lookup("web.service.consul.", qtype::A), svc("web", None));
    assert_eq!(
        lookup("v1.web.service.dc1.consul.", qtype::A),
        svc("web", Some("v1"))
    );
    assert_eq!(
        lookup("a.b.web.service.consul.", qtype::A),
        svc("web", Some("a.b")),
        "leading labels join into one tag"
    );
    assert_eq!(
        lookup("_web._tcp.service.consul.", qtype::SRV),
        svc("web", None)
    );
    assert_eq!(
        lookup("_web._udp.service.consul.", qtype::SRV),
        svc("web", Some("udp"))
    );
    assert_eq!(
        lookup("_web._tcp.consul.", qtype::SRV),
        svc("web", None),
        "SRV without .service"
    );
    assert_eq!(
        lookup("_web._tcp.dc1.consul.", qtype::SRV),
        svc("web", None)
    );
    assert_eq!(
        lookup("web.service.dc1.dc.consul.", qtype::A),
        svc("web", None)
    );
    // Another datacenter: answered there (through the WAN pool).
    for name in [
        "web.service.dc2.consul.",
        "n1.node.dc2.dc.consul.",
        "7f000001.addr.dc2.consul.",
    ] {
        assert_eq!(
            lookup(name, qtype::A),
            Lookup::OtherDatacenter("dc2".into()),
            "{name}"
        );
    }
    assert_eq!(
        lookup("q.query.dc2.consul.", qtype::A),
        Lookup::OtherDatacenter("dc2".into())
    );
    assert_eq!(
        lookup("my.host.node.consul.", qtype::A),
        Lookup::Node {
            name: "my.host".into()
        }
    );
    assert_eq!(lookup("web.service.alt.test.", qtype::A), svc("web", None));
    assert_eq!(
        lookup("7f000001.addr.dc1.consul.", qtype::A),
        Lookup::Addr("127.0.0.1".parse().unwrap())
    );
    assert_eq!(lookup("zz.addr.consul.", qtype::A), Lookup::Invalid);
    assert_eq!(
        lookup("1.0.0.127.in-addr.arpa.", qtype::PTR),
        Lookup::Ptr("127.0.0.1".parse().unwrap())
    );
    assert_eq!(lookup("consul.", qtype::SOA), Lookup::Apex);
    assert_eq!(lookup("example.com.", qtype::A), Lookup::OutOfZone);
    assert_eq!(
        lookup("geo.web.query.consul.", qtype::A),
        Lookup::Query {
            name: "geo.web".into()
        }
    );
    assert_eq!(
        lookup("_web-q._tcp.query.consul.", qtype::SRV),
        Lookup::Query {
            name: "web-q".into()
        }
    );
    assert_eq!(lookup("nothing.consul.", qtype::A), Lookup::Invalid);
}

fn instance(node: &str, addr: &str, status: &str) -> InstanceData {
    InstanceData {
        node: NodeData {
            name: node.into(),
            address: addr.into(),
            meta: vec![("rack".into(), "r1".into())],
        },
        service_name: "web".into(),
        address: String::new(),
        port: 80,
        weight_passing: 10,
        weight_warning: 1,
        status: status.into(),
    }
}

fn facts(instances: Vec<InstanceData>) -> Facts {
    Facts {
        instances,
        now_secs: 1_700_000_000,
        seed: 7,
        ..Default::default()
    }
}

#[test]
fn service_answers_follow_health_rules() {
    let cfg = DnsConfig::defaults("dc1");
    let f = facts(vec![
        instance("n1", "10.0.0.1", "passing"),
        instance("n2", "10.0.0.2", "warning"),
        instance("n3", "10.0.0.3", "critical"),
    ]);
    let l = lookup("web.service.consul.", qtype::A);
    let p = answer(&l, "web.service.consul.", qtype::A, "consul.", &cfg, &f);
    assert_eq!(p.rcode, Rcode::NoError);
    assert_eq!(p.answers.len(), 2, "critical excluded, warning kept");
    let only = DnsConfig {
        only_passing: true,
        ..cfg.clone()
    };
    assert_eq!(
        answer(&l, "web.service.consul.", qtype::A, "consul.", &only, &f)
            .answers
            .len(),
        1
    );
    let p = answer(&l, "web.service.consul.", qtype::AAAA, "consul.", &cfg, &f);
    assert_eq!(
        (p.rcode, p.answers.len(), p.authority.len()),
        (Rcode::NoError, 0, 1),
        "NODATA carries the SOA"
    );
    let none = facts(vec![instance("n3", "10.0.0.3", "critical")]);
    let p = answer(&l, "web.service.consul.", qtype::A, "consul.", &cfg, &none);
    assert_eq!((p.rcode, p.authority.len()), (Rcode::NxDomain, 1));
    // SRV: weight from Weights (warning weight for warning instances), node target + glue + TXT.
    let l = lookup("web.service.consul.", qtype::SRV);
    let p = answer(&l, "web.service.consul.", qtype::SRV, "consul.", &cfg, &f);
    let weights: Vec<u16> = p
        .answers
        .iter()
        .map(|(r, _)| match &r.data {
            RData::Srv { weight, .. } => *weight,
            _ => 0,
        })
        .collect();
    let mut sorted = weights.clone();
    sorted.sort();
    assert_eq!(sorted, vec![1, 10]);
    let (srv, extras) = p
        .answers
        .iter()
        .find(|(r, _)| matches!(&r.data, RData::Srv { weight: 10, .. }))
        .unwrap();
    assert!(matches!(&srv.data, RData::Srv { target, .. } if target == "n1.node.dc1.consul."));
    assert!(matches!(extras[0].data, RData::A(_)));
    assert!(matches!(&extras[1].data, RData::Txt(t) if t == b"rack=r1"));
}

#[test]
fn non_edns_udp_keeps_three_answers_and_fits() {
    let cfg = DnsConfig::defaults("dc1");
    let many: Vec<InstanceData> = (0..40)
        .map(|i| instance(&format!("node-{i}"), &format!("10.0.1.{i}"), "passing"))
        .collect();
    let f = facts(many);
    let l = lookup("web.service.consul.", qtype::A);
    let p = answer(&l, "web.service.consul.", qtype::A, "consul.", &cfg, &f);
    assert_eq!(p.answers.len(), 40);
    let udp = fit(
        p.clone(),
        "web.service.consul.",
        &cfg,
        false,
        None,
        qtype::A,
    );
    assert_eq!(
        (udp.answers.len(), udp.truncated),
        (3, false),
        "Consul trims silently by default"
    );
    let tc = fit(
        p.clone(),
        "web.service.consul.",
        &DnsConfig {
            enable_truncate: true,
            ..cfg.clone()
        },
        false,
        None,
        qtype::A,
    );
    assert!(tc.truncated);
    let edns = fit(
        p.clone(),
        "web.service.consul.",
        &cfg,
        false,
        Some(4096),
        qtype::A,
    );
    assert_eq!(edns.answers.len(), 40);
    let tcp = fit(p, "web.service.consul.", &cfg, true, None, qtype::A);
    assert_eq!(tcp.answers.len(), 40);
    // SRV with glue and TXT outgrows 512 bytes before three answers: the fit drops more.
    let l = lookup("web.service.consul.", qtype::SRV);
    let srv = answer(&l, "web.service.consul.", qtype::SRV, "consul.", &cfg, &f);
    let fitted = fit(srv, "web.service.consul.", &cfg, false, None, qtype::SRV);
    let query = Query {
        id: 1,
        name: "web.service.consul.".into(),
        qtype: qtype::SRV,
        qclass: 1,
        recursion_desired: true,
        edns_size: None,
    };
    assert!(encode(&query, &fitted, false).len() <= 512);
}

#[test]
fn wire_round_trip() {
    let cfg = DnsConfig::defaults("dc1");
    let f = facts(vec![instance("n1", "10.0.0.1", "passing")]);
    let l = lookup("_web._tcp.service.consul.", qtype::SRV);
    let plan = answer(
        &l,
        "_web._tcp.service.consul.",
        qtype::SRV,
        "consul.",
        &cfg,
        &f,
    );
    let query = Query {
        id: 4242,
        name: "_web._tcp.service.consul.".into(),
        qtype: qtype::SRV,
        qclass: 1,
        recursion_desired: true,
        edns_size: Some(1232),
    };
    let bytes = encode(&query, &plan, false);
    let msg = Message::from_octets(bytes.as_slice()).unwrap();
    assert_eq!(msg.header().id(), 4242);
    assert!(msg.header().aa() && msg.header().qr() && !msg.header().ra());
    assert_eq!(msg.header_counts().ancount(), 1);
    assert_eq!(msg.header_counts().arcount(), 3, "A, TXT and OPT");
    assert_eq!(msg.opt().map(|o| o.udp_payload_size()), Some(1232));
    // The query decoder reads what a client sends.
    let q = decode(&query_bytes("WEB.Service.Consul", 1, true)).unwrap();
    assert_eq!(
        (q.name.as_str(), q.qtype, q.edns_size),
        ("web.service.consul.", 1, Some(4096))
    );
    assert_eq!(decode(&[0u8; 5]), Err(Refusal::Drop));
}

/// A query as `dig` would send it.
pub fn query_bytes(name: &str, qt: u16, edns: bool) -> Vec<u8> {
    let mut b = domain::base::MessageBuilder::new_vec();
    b.header_mut().set_id(7);
    b.header_mut().set_rd(true);
    let mut q = b.question();
    q.push((
        domain::base::Name::<Vec<u8>>::from_str(name).unwrap(),
        domain::base::iana::Rtype::from_int(qt),
    ))
    .unwrap();
    if edns {
        let mut add = q.additional();
        add.opt(|o| {
            o.set_udp_payload_size(4096);
            Ok(())
        })
        .unwrap();
        return add.finish();
    }
    q.finish()
}

use std::str::FromStr;

proptest! {
    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_queries_never_panic(flip in 0usize..60, bit in 0u8..8, cut in 0usize..80) {
        let mut q = query_bytes("a.web.service.consul", 33, true);
        let at = flip % q.len();
        q[at] ^= 1 << bit;
        q.truncate(cut.max(1).min(q.len()));
        let _ = decode(&q);
    }

    #[test]
    fn any_name_plans_and_encodes(labels in prop::collection::vec("[a-z0-9_-]{1,10}", 1..5), qt in prop::sample::select(vec![1u16, 28, 33, 16, 255, 6, 2, 12])) {
        let name = format!("{}.consul.", labels.join("."));
        let cfg = DnsConfig::defaults("dc1");
        let f = facts(vec![instance("n1", "10.0.0.1", "passing")]);
        let parsed = parse(&name, qt, &domains(), "dc1");
        let plan = fit(answer(&parsed.lookup, &name, qt, &parsed.domain, &cfg, &f), &name, &cfg, false, None, qt);
        let query = Query { id: 1, name: name.clone(), qtype: qt, qclass: 1, recursion_desired: false, edns_size: None };
        let bytes = encode(&query, &plan, false);
        prop_assert!(bytes.len() <= 512);
        prop_assert!(Message::from_octets(bytes.as_slice()).is_ok());
        let _: IpAddr = "127.0.0.1".parse().unwrap();
    }
}
