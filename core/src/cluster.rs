//! What the cluster looks like, as pure data and rules: a server as gossip announces it, a
//! Raft voter, how a node ID maps to a Raft id, and how datacenters are ordered by round-trip
//! time. (Moved out of `mesh.rs`, which carries messages only.)

/// A server as gossip announces it (role `consul` in our datacenter).
#[derive(Clone, Debug, PartialEq)]
pub struct ServerInfo {
    pub name: String,
    /// The node ID (UUID); its first 64 bits are the Raft id.
    pub node_id: String,
    pub raft_id: u64,
    pub rpc_addr: std::net::SocketAddr,
    pub datacenter: String,
    /// Its `bootstrap_expect` (0 when not set).
    pub expect: u32,
    pub alive: bool,
    /// Smoothed gossip probe round-trip time to it, in µs (WAN pool; `None` until measured).
    pub rtt_us: Option<u32>,
    /// Its network coordinate in this pool, as its last direct ack carried it (ours for
    /// ourselves); WAN ones answer `/v1/coordinate/datacenters`.
    pub coord: Option<crate::gossip::vivaldi::Coordinate>,
}

/// Datacenters nearest first, as Consul's `catalog/datacenters` orders them. Consul estimates
/// each datacenter's median round-trip time from Vivaldi network coordinates; we use the
/// median of our smoothed, measured probe RTTs to its live servers (every server probes every
/// WAN member directly, so the measurement is at hand and is what the coordinates estimate).
/// Ours comes first; a datacenter with no measurement yet comes after the measured ones; ties
/// go by name.
pub fn sort_by_rtt(wan: &[ServerInfo], ours: &str) -> Vec<String> {
    let mut by_dc: std::collections::BTreeMap<&str, Vec<u32>> = Default::default();
    for s in wan {
        let rtts = by_dc.entry(s.datacenter.as_str()).or_default();
        if let (true, Some(rtt)) = (s.alive, s.rtt_us) {
            rtts.push(rtt);
        }
    }
    let mut dcs: Vec<(u32, &str)> = by_dc
        .into_iter()
        .filter(|(dc, _)| *dc != ours)
        .map(|(dc, mut rtts)| {
            rtts.sort_unstable();
            (rtts.get(rtts.len() / 2).copied().unwrap_or(u32::MAX), dc)
        })
        .collect();
    dcs.sort();
    std::iter::once(ours.to_string())
        .chain(dcs.into_iter().map(|(_, dc)| dc.to_string()))
        .collect()
}

/// The Raft id of a node ID: its first 64 bits (never 0, which raft-rs reserves).
pub fn raft_id_of(node_id: &str) -> u64 {
    let hex: String = node_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    u64::from_str_radix(&hex, 16).unwrap_or(0).max(1)
}

/// A voter as the Raft core knows it (`operator raft list-peers`, `/v1/status/peers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftPeer {
    pub raft_id: u64,
    pub name: String,
    pub node_id: String,
    pub rpc_addr: std::net::SocketAddr,
    pub voter: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(dc: &str, alive: bool, rtt_us: Option<u32>) -> ServerInfo {
        ServerInfo {
            name: format!("s.{dc}"),
            node_id: String::new(),
            raft_id: 1,
            rpc_addr: "127.0.0.1:8300".parse().unwrap(),
            datacenter: dc.into(),
            expect: 0,
            alive,
            rtt_us,
            coord: None,
        }
    }

    #[test]
    fn datacenters_sort_ours_first_then_by_median_rtt() {
        let wan = [
            server("dc1", true, Some(0)),
            server("far", true, Some(90_000)),
            server("far", true, Some(80_000)),
            server("far", true, Some(1_000)), // the median (80 ms) counts, not the best
            server("near", true, Some(20_000)),
            server("near", false, Some(1)), // a failed server's estimate is ignored
            server("unmeasured", true, None),
            server("another", true, Some(20_000)),
        ];
        assert_eq!(
            sort_by_rtt(&wan, "dc1"),
            ["dc1", "another", "near", "far", "unmeasured"]
        );
    }
}
