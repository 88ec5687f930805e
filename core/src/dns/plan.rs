//! Answers as plans: which records go where, built from catalog data by Consul's rules
//! (§5.3–5.5), then trimmed to the transport's size. Pure: randomness comes in as a seed.

use std::net::IpAddr;

use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::name::{addr_label, Lookup};

/// Record data we emit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(std::net::Ipv4Addr),
    Aaaa(std::net::Ipv6Addr),
    Cname(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Txt(Vec<u8>),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
        refresh: u32,
        retry: u32,
        expire: u32,
        minimum: u32,
    },
    Ns(String),
    Ptr(String),
}

/// One resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub name: String,
    pub ttl: u32,
    pub data: RData,
}

/// Response codes we answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
}

/// A planned response. `answers` pairs each answer with the additional records that belong to
/// it, so that trimming an answer drops its extras too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub rcode: Rcode,
    pub answers: Vec<(Rec, Vec<Rec>)>,
    pub authority: Vec<Rec>,
    /// Additional records not tied to one answer (node meta TXT for node lookups).
    pub extra: Vec<Rec>,
    pub truncated: bool,
}

impl Plan {
    fn empty(rcode: Rcode) -> Plan {
        Plan {
            rcode,
            answers: Vec::new(),
            authority: Vec::new(),
            extra: Vec::new(),
            truncated: false,
        }
    }
}

/// DNS settings (`dns_config`, `domain`).
#[derive(Debug, Clone)]
pub struct DnsConfig {
    pub datacenter: String,
    pub node_ttl: u32,
    pub service_ttl: u32,
    pub udp_answer_limit: usize,
    pub a_record_limit: usize,
    pub enable_truncate: bool,
    pub only_passing: bool,
    pub enable_additional_node_meta_txt: bool,
    pub soa_refresh: u32,
    pub soa_retry: u32,
    pub soa_expire: u32,
    pub soa_min_ttl: u32,
}

impl DnsConfig {
    /// Consul's defaults for datacenter `dc`.
    pub fn defaults(dc: &str) -> DnsConfig {
        DnsConfig {
            datacenter: dc.to_string(),
            node_ttl: 0,
            service_ttl: 0,
            udp_answer_limit: 3,
            a_record_limit: 0,
            enable_truncate: false,
            only_passing: false,
            enable_additional_node_meta_txt: true,
            soa_refresh: 3600,
            soa_retry: 600,
            soa_expire: 86400,
            soa_min_ttl: 0,
        }
    }
}

/// A node as DNS needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    pub name: String,
    pub address: String,
    pub meta: Vec<(String, String)>,
}

/// A service instance as DNS needs it, with its aggregated health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceData {
    pub node: NodeData,
    pub service_name: String,
    pub address: String,
    pub port: u16,
    pub weight_passing: u16,
    pub weight_warning: u16,
    /// `passing`, `warning` or `critical` over node and service checks.
    pub status: String,
}

/// Question types we treat specially.
pub mod qtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// What a lookup needs from the catalog, gathered by the caller.
#[derive(Debug, Default)]
pub struct Facts {
    /// For node lookups: the node, if it exists.
    pub node: Option<NodeData>,
    /// For service lookups: every instance (tag-filtered), any health.
    pub instances: Vec<InstanceData>,
    /// For PTR and NS: every node, and `consul` service instances (servers).
    pub nodes: Vec<NodeData>,
    pub servers: Vec<InstanceData>,
    /// Seconds since the epoch, for the SOA serial.
    pub now_secs: u64,
    /// Seed for shuffling.
    pub seed: u64,
    /// For prepared queries: their `DNS.TTL` (seconds), when set.
    pub query_ttl: Option<u32>,
}

fn soa(cfg: &DnsConfig, domain: &str, now_secs: u64) -> Rec {
    Rec {
        name: domain.to_string(),
        ttl: cfg.soa_min_ttl,
        data: RData::Soa {
            mname: format!("ns.{domain}"),
            rname: format!("hostmaster.{domain}"),
            serial: now_secs as u32,
            refresh: cfg.soa_refresh,
            retry: cfg.soa_retry,
            expire: cfg.soa_expire,
            minimum: cfg.soa_min_ttl,
        },
    }
}

fn nx(cfg: &DnsConfig, domain: &str, f: &Facts) -> Plan {
    let mut p = Plan::empty(Rcode::NxDomain);
    p.authority.push(soa(cfg, domain, f.now_secs));
    p
}

fn nodata(cfg: &DnsConfig, domain: &str, f: &Facts) -> Plan {
    let mut p = Plan::empty(Rcode::NoError);
    p.authority.push(soa(cfg, domain, f.now_secs));
    p
}

/// A/AAAA (or CNAME for a hostname) for `address`, matching `qt`.
fn address_record(owner: &str, address: &str, qt: u16, ttl: u32) -> Option<Rec> {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) if matches!(qt, qtype::A | qtype::ANY | qtype::SRV | qtype::TXT) => {
            Some(Rec {
                name: owner.into(),
                ttl,
                data: RData::A(v4),
            })
        }
        Ok(IpAddr::V6(v6)) if matches!(qt, qtype::AAAA | qtype::ANY | qtype::SRV | qtype::TXT) => {
            Some(Rec {
                name: owner.into(),
                ttl,
                data: RData::Aaaa(v6),
            })
        }
        Ok(_) => None,
        Err(_) if !address.is_empty() => {
            let target = if address.ends_with('.') {
                address.to_string()
            } else {
                format!("{address}.")
            };
            Some(Rec {
                name: owner.into(),
                ttl,
                data: RData::Cname(target),
            })
        }
        Err(_) => None,
    }
}

/// RFC 1464 `key=value` with backquote escaping; `rfc1035-` keys give the raw value.
pub fn meta_txt(key: &str, value: &str) -> Vec<u8> {
    if key.starts_with("rfc1035-") {
        return value.as_bytes().to_vec();
    }
    let mut k = String::new();
    for (i, c) in key.chars().enumerate() {
        let edge_space = c == ' ' && (i == 0 || i == key.len() - 1);
        if c == '`' || c == '=' || edge_space {
            k.push('`');
        }
        k.push(c);
    }
    format!("{k}={}", value.replace('`', "``")).into_bytes()
}

fn meta_records(owner: &str, node: &NodeData, ttl: u32) -> Vec<Rec> {
    node.meta
        .iter()
        .map(|(k, v)| Rec {
            name: owner.into(),
            ttl,
            data: RData::Txt(meta_txt(k, v)),
        })
        .collect()
}

/// Builds the answer to one question.
pub fn answer(
    lookup: &Lookup,
    qname: &str,
    qt: u16,
    domain: &str,
    cfg: &DnsConfig,
    f: &Facts,
) -> Plan {
    if qt == qtype::AXFR {
        return Plan::empty(Rcode::NotImp);
    }
    match lookup {
        Lookup::OutOfZone => Plan::empty(Rcode::Refused),
        Lookup::Invalid | Lookup::OtherDatacenter(_) => nx(cfg, domain, f),
        Lookup::Apex => apex(qt, domain, cfg, f),
        Lookup::Node { .. } => node(qname, qt, domain, cfg, f),
        Lookup::Service { .. } => service(qname, qt, domain, cfg, f),
        // A query's instances (already chosen by it) answer as a service's do, with its TTL.
        Lookup::Query { .. } => match f.query_ttl {
            Some(ttl) => service(
                qname,
                qt,
                domain,
                &DnsConfig {
                    service_ttl: ttl,
                    ..cfg.clone()
                },
                f,
            ),
            None => service(qname, qt, domain, cfg, f),
        },
        Lookup::Addr(ip) => match address_record(qname, &ip.to_string(), qt, cfg.node_ttl) {
            Some(r) => Plan {
                answers: vec![(r, Vec::new())],
                ..Plan::empty(Rcode::NoError)
            },
            None => nodata(cfg, domain, f),
        },
        Lookup::Ptr(ip) => ptr(qname, *ip, domain, cfg, f),
    }
}

fn apex(qt: u16, domain: &str, cfg: &DnsConfig, f: &Facts) -> Plan {
    let mut p = Plan::empty(Rcode::NoError);
    let ns = ns_records(domain, cfg, f);
    match qt {
        qtype::SOA | qtype::ANY => {
            p.answers.push((soa(cfg, domain, f.now_secs), Vec::new()));
            for (rec, glue) in ns {
                p.authority.push(rec);
                p.extra.extend(glue);
            }
        }
        qtype::NS => p.answers = ns,
        _ => p.authority.push(soa(cfg, domain, f.now_secs)),
    }
    p
}

/// Up to three healthy servers as NS records with glue.
fn ns_records(domain: &str, cfg: &DnsConfig, f: &Facts) -> Vec<(Rec, Vec<Rec>)> {
    let mut servers: Vec<&InstanceData> = f
        .servers
        .iter()
        .filter(|s| s.status != "critical")
        .collect();
    servers.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(f.seed));
    servers
        .into_iter()
        .filter(|s| is_dns_label(&s.node.name))
        .take(3)
        .map(|s| {
            let target = format!("{}.node.{}.{domain}", s.node.name, cfg.datacenter);
            let glue = address_record(&target, &s.node.address, qtype::ANY, cfg.node_ttl)
                .into_iter()
                .collect();
            (
                Rec {
                    name: domain.into(),
                    ttl: cfg.node_ttl,
                    data: RData::Ns(target),
                },
                glue,
            )
        })
        .collect()
}

fn is_dns_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn node(qname: &str, qt: u16, domain: &str, cfg: &DnsConfig, f: &Facts) -> Plan {
    let Some(n) = &f.node else {
        return nx(cfg, domain, f);
    };
    let mut p = Plan::empty(Rcode::NoError);
    if !matches!(qt, qtype::A | qtype::AAAA | qtype::ANY | qtype::TXT) {
        return p; // NOERROR, no SOA (Consul's node rule)
    }
    if qt != qtype::TXT {
        if let Some(r) = address_record(qname, &n.address, qt, cfg.node_ttl) {
            p.answers.push((r, Vec::new()));
        }
    }
    let txt = meta_records(qname, n, cfg.node_ttl);
    if matches!(qt, qtype::TXT | qtype::ANY) {
        p.answers.extend(txt.into_iter().map(|r| (r, Vec::new())));
    } else if cfg.enable_additional_node_meta_txt {
        p.extra = txt;
    }
    p
}

fn service(qname: &str, qt: u16, domain: &str, cfg: &DnsConfig, f: &Facts) -> Plan {
    let mut healthy: Vec<&InstanceData> = f
        .instances
        .iter()
        .filter(|i| i.status != "critical" && !(cfg.only_passing && i.status == "warning"))
        .collect();
    if healthy.is_empty() {
        return nx(cfg, domain, f);
    }
    healthy.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(f.seed));
    let mut p = Plan::empty(Rcode::NoError);
    let ttl = cfg.service_ttl;
    if qt == qtype::SRV {
        let mut seen = Vec::new();
        for i in healthy {
            let key = (i.node.name.clone(), i.address.clone(), i.port);
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let weight = if i.status == "warning" {
                i.weight_warning
            } else {
                i.weight_passing
            };
            let (target, extras) = if i.address.is_empty() {
                let t = format!("{}.node.{}.{domain}", i.node.name, cfg.datacenter);
                let mut extras: Vec<Rec> = address_record(&t, &i.node.address, qtype::ANY, ttl)
                    .into_iter()
                    .collect();
                if cfg.enable_additional_node_meta_txt {
                    extras.extend(meta_records(&t, &i.node, ttl));
                }
                (t, extras)
            } else if let Ok(ip) = i.address.parse::<IpAddr>() {
                let t = format!("{}.addr.{}.{domain}", addr_label(ip), cfg.datacenter);
                let extras = address_record(&t, &i.address, qtype::ANY, ttl)
                    .into_iter()
                    .collect();
                (t, extras)
            } else {
                let host = if i.address.ends_with('.') {
                    i.address.clone()
                } else {
                    format!("{}.", i.address)
                };
                (host, Vec::new())
            };
            let srv = RData::Srv {
                priority: 1,
                weight: weight.max(1),
                port: i.port,
                target,
            };
            p.answers.push((
                Rec {
                    name: qname.into(),
                    ttl,
                    data: srv,
                },
                extras,
            ));
        }
        return p;
    }
    let mut texts: Vec<RData> = Vec::new();
    for i in healthy {
        let address = if i.address.is_empty() {
            &i.node.address
        } else {
            &i.address
        };
        if let Some(r) = address_record(qname, address, qt, ttl) {
            if !texts.contains(&r.data) {
                texts.push(r.data.clone());
                p.answers.push((r, Vec::new()));
            }
        }
    }
    // CNAMEs only count when no address answers exist.
    if p.answers
        .iter()
        .any(|(r, _)| !matches!(r.data, RData::Cname(_)))
    {
        p.answers
            .retain(|(r, _)| !matches!(r.data, RData::Cname(_)));
    }
    if cfg.a_record_limit > 0 {
        p.answers.truncate(cfg.a_record_limit);
    }
    if p.answers.is_empty() {
        return nodata(cfg, domain, f);
    }
    p
}

fn ptr(qname: &str, ip: IpAddr, domain: &str, cfg: &DnsConfig, f: &Facts) -> Plan {
    let text = ip.to_string();
    let target = if let Some(n) = f.nodes.iter().find(|n| n.address == text) {
        format!("{}.node.{}.{domain}", n.name, cfg.datacenter)
    } else if let Some(i) = f.instances.iter().find(|i| i.address == text) {
        format!("{}.service.{}.{domain}", i.service_name, cfg.datacenter)
    } else {
        return nx(cfg, domain, f);
    };
    Plan {
        answers: vec![(
            Rec {
                name: qname.into(),
                ttl: 0,
                data: RData::Ptr(target),
            },
            Vec::new(),
        )],
        ..Plan::empty(Rcode::NoError)
    }
}

fn name_bytes(name: &str) -> usize {
    // Wire length of a dot-terminated name: one length byte per label plus the root byte.
    name.trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + 1
}

fn rec_bytes(r: &Rec) -> usize {
    let rdata = match &r.data {
        RData::A(_) => 4,
        RData::Aaaa(_) => 16,
        RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => name_bytes(n),
        RData::Srv { target, .. } => 6 + name_bytes(target),
        RData::Txt(t) => t.len() + t.len() / 255 + 1,
        RData::Soa { mname, rname, .. } => name_bytes(mname) + name_bytes(rname) + 20,
    };
    name_bytes(&r.name) + 10 + rdata
}

/// Size of the message measured uncompressed, as Consul measures it.
pub fn plan_bytes(qname: &str, p: &Plan, edns: bool) -> usize {
    let mut size = 12 + name_bytes(qname) + 4 + if edns { 11 } else { 0 };
    size += p
        .answers
        .iter()
        .map(|(r, extras)| rec_bytes(r) + extras.iter().map(rec_bytes).sum::<usize>())
        .sum::<usize>();
    size += p
        .authority
        .iter()
        .chain(&p.extra)
        .map(rec_bytes)
        .sum::<usize>();
    size
}

/// Trims a plan for its transport (§5.5): non-EDNS UDP keeps at most `min(8,
/// udp_answer_limit)` answers; then answers go from the end (authority first) until the
/// uncompressed size fits `max_bytes - 8`. TC is set only with `enable_truncate`.
pub fn fit(
    mut p: Plan,
    qname: &str,
    cfg: &DnsConfig,
    tcp: bool,
    edns_size: Option<u16>,
    qt: u16,
) -> Plan {
    let answers_before = p.answers.len();
    let (max_bytes, answer_cap) = if tcp {
        (65523usize, if qt == qtype::SRV { 1024 } else { 4096 })
    } else if let Some(size) = edns_size {
        ((size as usize).clamp(512, 65467), usize::MAX)
    } else {
        (512, cfg.udp_answer_limit.min(8))
    };
    p.answers.truncate(answer_cap);
    let limit = max_bytes - 8;
    if plan_bytes(qname, &p, edns_size.is_some()) > limit {
        p.authority.clear();
    }
    while plan_bytes(qname, &p, edns_size.is_some()) > limit && !p.extra.is_empty() {
        p.extra.pop();
    }
    while plan_bytes(qname, &p, edns_size.is_some()) > limit && !p.answers.is_empty() {
        p.answers.pop();
    }
    p.truncated = cfg.enable_truncate && p.answers.len() < answers_before;
    p
}
