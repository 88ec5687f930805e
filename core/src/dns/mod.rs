//! Consul's DNS interface, sans IO: the zone grammar (`name`), answers as typed plans built
//! from catalog data and trimmed to size (`plan`), and the wire format through the `domain`
//! crate (`wire`). The sockets live in `shard::dns_server`.

pub mod cache;
pub mod name;
pub mod plan;
pub mod wire;

/// One fuzz input through the whole pure path: decode, grammar, plan, fit, encode. Panics
/// only if an invariant breaks (the encoded answer over its size limit, or unparseable).
/// Shared by `fuzz/fuzz_targets/dns_query.rs` and the corpus replay in `tests/fuzz_corpus.rs`.
pub fn fuzz_one(data: &[u8]) {
    use plan::{DnsConfig, Facts, InstanceData, NodeData};
    let Ok(q) = wire::decode(data) else { return };
    let domains = ["consul.".to_string(), "alt.".to_string()];
    let parsed = name::parse(&q.name, q.qtype, &domains, "dc1");
    let node = NodeData {
        name: "n1".into(),
        address: "10.0.0.1".into(),
        meta: vec![("k".into(), "v`=".into())],
    };
    let instance = |i: u8, address: &str| InstanceData {
        node: NodeData {
            name: format!("n{i}"),
            ..node.clone()
        },
        service_name: "web".into(),
        address: address.into(),
        port: 80,
        weight_passing: 1,
        weight_warning: 1,
        status: if i.is_multiple_of(3) {
            "warning"
        } else {
            "passing"
        }
        .into(),
    };
    let facts = Facts {
        node: Some(node.clone()),
        instances: (0..20)
            .map(|i| instance(i, if i % 2 == 0 { "" } else { "10.1.0.1" }))
            .collect(),
        nodes: vec![node.clone()],
        servers: vec![instance(1, "")],
        now_secs: 1,
        seed: data.len() as u64,
        query_ttl: None,
    };
    let cfg = DnsConfig::defaults("dc1");
    for tcp in [false, true] {
        let planned = plan::answer(
            &parsed.lookup,
            &q.name,
            q.qtype,
            &parsed.domain,
            &cfg,
            &facts,
        );
        let fitted = plan::fit(planned, &q.name, &cfg, tcp, q.edns_size, q.qtype);
        let bytes = wire::encode(&q, &fitted, false);
        let limit = if tcp {
            65535
        } else {
            q.edns_size.map_or(512, |s| (s as usize).clamp(512, 65467))
        };
        assert!(bytes.len() <= limit, "{} bytes over {limit}", bytes.len());
        assert!(
            domain::base::Message::from_octets(bytes.as_slice()).is_ok(),
            "unparseable answer"
        );
    }
}

#[cfg(test)]
mod tests;
