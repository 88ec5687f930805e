//! Consensus state that is pure: the log record codec and the log as raft-rs sees it.
//! The thread that drives raft-rs and does the file IO is `shard::raft_core`.

pub mod log_store;
pub mod record;
pub mod sim;

#[cfg(test)]
mod tests;

/// Tells raft-rs that the snapshots among `msgs` are on their way. Without a report the
/// leader waits for the follower's answer forever, and a lost snapshot message (dropped
/// by a full outbox, a broken connection) would leave that follower behind for good; after
/// it, a lost snapshot is noticed when the follower rejects the next append, and resent.
pub fn report_snapshots_sent(
    node: &mut raft::RawNode<log_store::LogStore>,
    msgs: &[raft::eraftpb::Message],
) {
    for m in msgs {
        if m.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
            node.report_snapshot(m.to, raft::SnapshotStatus::Finish);
        }
    }
}
