//! The Consul zone's name grammar (§5.2): which lookup a question name asks for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a question name asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// `<node>.node[.<dc>].<domain>`
    Node { name: String },
    /// `[<tag>.]<service>.service[.<dc>].<domain>` and the RFC 2782 forms.
    Service { name: String, tag: Option<String> },
    /// `<query>.query[.<dc>].<domain>` (and `_<query>._<proto>.query`): a prepared query,
    /// by ID or name (dots allowed).
    Query { name: String },
    /// `<hex>.addr[.<dc>].<domain>`
    Addr(IpAddr),
    /// `<reversed>.in-addr.arpa` / `.ip6.arpa`
    Ptr(IpAddr),
    /// The zone apex (`<domain>`): SOA, NS.
    Apex,
    /// A valid name of another datacenter (`....<dc>.<domain>`): answered by a server there
    /// if the WAN pool knows one, else NXDOMAIN.
    OtherDatacenter(String),
    /// In the zone but not a valid name here (or a kind we do not serve such as
    /// `.connect`): NXDOMAIN.
    Invalid,
    /// Not in the zone: recursors, else REFUSED.
    OutOfZone,
}

/// A parsed question name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub lookup: Lookup,
    /// The domain the question used (`consul.` or the alt domain), for answer names.
    pub domain: String,
}

const KINDS: &[&str] = &[
    "service", "connect", "virtual", "ingress", "node", "query", "addr",
];
const QTYPE_SRV: u16 = 33;

/// Parses a lower-cased, dot-terminated question name against the zone's domains.
pub fn parse(qname: &str, qtype: u16, domains: &[String], datacenter: &str) -> Parsed {
    if let Some(ip) = parse_arpa(qname) {
        let domain = domains.first().cloned().unwrap_or_default();
        return Parsed {
            lookup: Lookup::Ptr(ip),
            domain,
        };
    }
    for domain in domains {
        if qname == domain {
            return Parsed {
                lookup: Lookup::Apex,
                domain: domain.clone(),
            };
        }
        if let Some(rest) = qname
            .strip_suffix(domain.as_str())
            .and_then(|r| r.strip_suffix('.'))
        {
            if rest.is_empty() {
                break;
            }
            let labels: Vec<&str> = rest.split('.').collect();
            return Parsed {
                lookup: in_zone(&labels, qtype, datacenter),
                domain: domain.clone(),
            };
        }
    }
    Parsed {
        lookup: Lookup::OutOfZone,
        domain: String::new(),
    }
}

fn in_zone(labels: &[&str], qtype: u16, datacenter: &str) -> Lookup {
    // Scan from the right for the kind label; an SRV question may use `_x._y` without one.
    let mut found = None;
    for i in (0..labels.len()).rev() {
        if KINDS.contains(&labels[i]) {
            found = Some((i, labels[i]));
            break;
        }
        if qtype == QTYPE_SRV && labels[i].starts_with('_') {
            found = Some((i + 1, "service"));
            break;
        }
    }
    let Some((at, kind)) = found else {
        return Lookup::Invalid;
    };
    let parts = &labels[..at.min(labels.len())];
    let suffix = if at < labels.len() && KINDS.contains(&labels[at]) {
        &labels[at + 1..]
    } else {
        &labels[at..]
    };
    // Locality suffix: none, `<dc>`, or `<dc>.dc`. Peers and anything else: invalid here.
    let other_dc = match suffix {
        [] => None,
        [dc] | [dc, "dc"] if *dc == datacenter => None,
        [dc] | [dc, "dc"] => Some(dc.to_string()),
        _ => return Lookup::Invalid,
    };
    if parts.is_empty() {
        return Lookup::Invalid;
    }
    if let Some(dc) = other_dc {
        return match kind {
            "node" | "service" | "addr" | "query" => Lookup::OtherDatacenter(dc),
            _ => Lookup::Invalid,
        };
    }
    match kind {
        "node" => Lookup::Node {
            name: parts.join("."),
        },
        "service" => {
            if parts.len() == 2 && parts[0].starts_with('_') && parts[1].starts_with('_') {
                let tag = &parts[1][1..];
                return Lookup::Service {
                    name: parts[0][1..].to_string(),
                    tag: (tag != "tcp").then(|| tag.to_string()),
                };
            }
            let (name, tags) = parts.split_last().expect("parts is not empty");
            Lookup::Service {
                name: name.to_string(),
                tag: (!tags.is_empty()).then(|| tags.join(".")),
            }
        }
        "query" => match parts {
            // RFC 2782: the last part (the protocol) is ignored.
            [name, proto] if name.starts_with('_') && proto.starts_with('_') => Lookup::Query {
                name: name[1..].to_string(),
            },
            _ => Lookup::Query {
                name: parts.join("."),
            },
        },
        "addr" => match parts {
            [hex] if hex.len() == 8 => u32::from_str_radix(hex, 16).map_or(Lookup::Invalid, |v| {
                Lookup::Addr(IpAddr::V4(Ipv4Addr::from(v)))
            }),
            [hex] if hex.len() == 32 => u128::from_str_radix(hex, 16)
                .map_or(Lookup::Invalid, |v| {
                    Lookup::Addr(IpAddr::V6(Ipv6Addr::from(v)))
                }),
            _ => Lookup::Invalid,
        },
        // connect, ingress, virtual, query: no mesh or prepared queries yet.
        _ => Lookup::Invalid,
    }
}

fn parse_arpa(qname: &str) -> Option<IpAddr> {
    if let Some(rest) = qname.strip_suffix(".in-addr.arpa.") {
        let octets: Vec<u8> = rest
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        if octets.len() != 4 {
            return None;
        }
        return Some(IpAddr::V4(Ipv4Addr::new(
            octets[3], octets[2], octets[1], octets[0],
        )));
    }
    let rest = qname.strip_suffix(".ip6.arpa.")?;
    let nibbles: Vec<&str> = rest.split('.').collect();
    if nibbles.len() != 32 || nibbles.iter().any(|n| n.len() != 1) {
        return None;
    }
    let hex: String = nibbles.iter().rev().copied().collect();
    u128::from_str_radix(&hex, 16)
        .ok()
        .map(|v| IpAddr::V6(Ipv6Addr::from(v)))
}

/// `<hex>.addr` label for an address (SRV targets for services with an IP address).
pub fn addr_label(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{:08x}", u32::from(v4)),
        IpAddr::V6(v6) => format!("{:032x}", u128::from(v6)),
    }
}
