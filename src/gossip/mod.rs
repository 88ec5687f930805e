//! Gossip membership, sans IO: the SWIM + Lifeguard state machine (`swim`), its wire format
//! (`wire`) and a deterministic network simulator (`sim`) that drives thousands of members
//! with loss, delay, partitions and pauses. The UDP/TCP shell is `shard::gossip_runtime`.

pub mod crypto;
pub mod sim;
pub mod swim;
pub mod wire;

#[cfg(test)]
mod tests;

pub use swim::{Member, MemberEvent, Output, Swim, SwimConfig};
pub use wire::MemberState;
