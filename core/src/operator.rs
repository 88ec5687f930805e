//! Cluster-wide operator settings kept in the replicated state: autopilot's configuration
//! (`/v1/operator/autopilot/configuration`). Pure data and its rules.

use rkyv::{Archive, Deserialize, Serialize};

/// Autopilot's configuration, as Consul keeps it in its state store.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AutopilotConfig {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold_ns: u64,
    pub max_trailing_logs: u64,
    pub min_quorum: u64,
    pub server_stabilization_time_ns: u64,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl Default for AutopilotConfig {
    /// Consul's defaults (`autopilot { ... }` unset).
    fn default() -> Self {
        AutopilotConfig {
            cleanup_dead_servers: true,
            last_contact_threshold_ns: 200_000_000,
            max_trailing_logs: 250,
            min_quorum: 0,
            server_stabilization_time_ns: 10_000_000_000,
            redundancy_zone_tag: String::new(),
            disable_upgrade_migration: false,
            upgrade_version_tag: String::new(),
            create_index: 0,
            modify_index: 0,
        }
    }
}

impl AutopilotConfig {
    /// Autopilot's judgement of a follower, as Consul's `isServerHealthy`: alive in gossip,
    /// heard from within `LastContactThreshold`, and no more than `MaxTrailingLogs` behind
    /// the leader's last index.
    pub fn follower_healthy(
        &self,
        serf_alive: bool,
        leader_last_index: u64,
        matched: u64,
        last_contact_ms: Option<u64>,
    ) -> bool {
        let threshold_ms = self.last_contact_threshold_ns / 1_000_000;
        serf_alive
            && last_contact_ms.is_some_and(|ms| ms <= threshold_ms)
            && leader_last_index.saturating_sub(matched) <= self.max_trailing_logs
    }
}

/// `PUT /v1/operator/autopilot/configuration[?cas=]`: the whole configuration replaced, or
/// nothing when `cas` is given and is not the current `ModifyIndex` (0: none set yet).
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AutopilotSet {
    pub config: AutopilotConfig,
    pub cas: Option<u64>,
}

/// Applies `set` at `index` over `current`; false (and no change) on a `cas` mismatch.
pub fn apply_autopilot(
    current: &mut Option<AutopilotConfig>,
    index: u64,
    set: &AutopilotSet,
) -> bool {
    let modify_index = current.as_ref().map_or(0, |c| c.modify_index);
    if set.cas.is_some_and(|cas| cas != modify_index) {
        return false;
    }
    let create_index = current.as_ref().map_or(index, |c| c.create_index);
    *current = Some(AutopilotConfig {
        create_index,
        modify_index: index,
        ..set.config.clone()
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_follower_is_healthy_when_alive_recent_and_caught_up() {
        let c = AutopilotConfig::default();
        assert!(c.follower_healthy(true, 1000, 900, Some(100)));
        assert!(
            !c.follower_healthy(false, 1000, 900, Some(100)),
            "failed in gossip"
        );
        assert!(
            !c.follower_healthy(true, 1000, 900, Some(201)),
            "silent past 200ms"
        );
        assert!(
            !c.follower_healthy(true, 1000, 700, Some(10)),
            "251 entries behind"
        );
        assert!(
            !c.follower_healthy(true, 1000, 1000, None),
            "never heard from"
        );
    }

    #[test]
    fn cas_guards_the_replacement() {
        let mut current = None;
        let set = |cleanup, cas| AutopilotSet {
            config: AutopilotConfig {
                cleanup_dead_servers: cleanup,
                ..AutopilotConfig::default()
            },
            cas,
        };
        assert!(!apply_autopilot(&mut current, 5, &set(true, Some(3))));
        assert!(current.is_none());
        assert!(apply_autopilot(&mut current, 5, &set(true, Some(0))));
        assert!(!apply_autopilot(&mut current, 9, &set(false, Some(4))));
        assert!(apply_autopilot(&mut current, 9, &set(false, Some(5))));
        let c = current.unwrap();
        assert_eq!(
            (c.cleanup_dead_servers, c.create_index, c.modify_index),
            (false, 5, 9)
        );
    }
}
