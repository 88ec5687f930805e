//! Gossip membership, sans IO: the SWIM + Lifeguard state machine (`swim`), its wire format
//! (`wire`) and a deterministic network simulator (`sim`) that drives thousands of members
//! with loss, delay, partitions and pauses. The UDP/TCP shell is `shard::gossip_runtime`.

mod broadcast;
pub mod crypto;
pub mod keyring_query;
pub mod member_table;
pub mod sim;
pub mod swim;
pub mod vivaldi;
pub mod wire;

#[cfg(test)]
mod tests;

pub use swim::{Member, MemberEvent, Output, RelayLedger, Swim, SwimConfig};
pub use wire::MemberState;

/// Fuzz entry (`fuzz/fuzz_targets/gossip_packet.rs`, corpus replayed by `tests/fuzz_corpus.rs`):
/// arbitrary bytes through the packet and push-pull decoders, the keyring, and a live member's
/// packet and push-pull handlers. Must never panic.
pub fn fuzz_one(data: &[u8]) {
    let _ = wire::decode_push_pull(data, 64);
    let ring = crypto::Keyring {
        keys: vec![crypto::Key::parse("BuIYviAYi+BbNkOJxZ4YW4xogpF1eFkeZzXgQCA0GFw=").unwrap()],
    };
    let _ = ring.open(data);
    let _ = keyring_query::NodeAnswer::decode(data);
    let from: std::net::SocketAddr = "10.0.0.2:8301".parse().unwrap();
    let mut swim = Swim::new(
        SwimConfig::lan(),
        "me",
        "10.0.0.1:8301".parse().unwrap(),
        vec![],
        1,
        0,
    );
    let mut out = Vec::new();
    // A known peer first, so that suspicion and death paths have someone to act on.
    let mut join = wire::packet_header(1).to_vec();
    wire::encode_msg(
        &wire::Msg::Alive {
            incarnation: 1,
            name: "peer".into(),
            addr: from,
            tags: vec![],
        },
        &mut join,
    );
    swim.on_packet(0, from, &join, &mut out);
    // A probe of the peer in flight, so that an ack reaches the round-trip and Vivaldi paths:
    // when `data` starts with an ack (kind 3, or 11 with a coordinate), its sequence number is
    // made the probe's (a fuzzer cannot guess 32 random bits).
    out.clear();
    swim.tick(1_000, &mut out);
    let probe_seq = out.iter().find_map(|o| match o {
        Output::Packet { bytes, .. } => {
            wire::decode_packet(bytes)
                .ok()?
                .iter()
                .find_map(|m| match m {
                    wire::Msg::Ping { seq, .. } => Some(*seq),
                    _ => None,
                })
        }
        _ => None,
    });
    let mut packet = data.to_vec();
    if let (Some(seq), true) = (probe_seq, packet.len() >= 11) {
        if matches!(packet[4], 3 | 11) {
            packet[7..11].copy_from_slice(&seq.to_le_bytes());
        }
    }
    swim.on_packet(1_001, from, &packet, &mut out);
    if let Ok(pp) = wire::decode_push_pull(data, 64) {
        swim.on_push_pull(1_002, pp, &mut out);
    }
    for t in [1_010, 2_000, 60_000] {
        swim.tick(t, &mut out);
    }
}
