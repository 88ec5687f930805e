//! State snapshots: what `GET /v1/snapshot` returns, `PUT /v1/snapshot` restores and
//! `tribune snapshot inspect` reads. Pure.
//!
//! The file is ours (Consul's is a tar.gz of its own FSM records; neither side can read the
//! other's): `[magic "TRIBSNAP"][version u32][index u64][term u64][created unix ms u64]
//! [body length u64][body: rkyv StateSnapshot][crc32c of everything before, u32]`. A file
//! that is truncated, corrupt or of another version is refused before anything changes.

use rkyv::{Archive, Deserialize, Serialize};

use crate::catalog::{CheckDef, CoordinateUpdate, NodeDef, ServiceDef};

const MAGIC: &[u8; 8] = b"TRIBSNAP";
/// The snapshot format version (`inspect` prints it as `Version`).
/// 2 added coordinates, 3 sessions, 4 ACLs, 5 autopilot's configuration, 6 config entries,
/// 7 prepared queries; files of versions 1 to 6 are still read.
pub const SNAPSHOT_VERSION: u32 = 7;
const HEADER_BYTES: usize = 8 + 4 + 8 + 8 + 8 + 8;

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapKv {
    pub key: String,
    pub flags: u64,
    pub value: Option<Vec<u8>>,
    pub session: String,
    pub lock_index: u64,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapNode {
    pub def: NodeDef,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapService {
    pub node: String,
    pub def: ServiceDef,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapCheck {
    pub node: String,
    pub def: CheckDef,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The whole replicated state at one Raft index.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct StateSnapshot {
    pub kv: Vec<SnapKv>,
    pub tombstones: Vec<(String, u64)>,
    pub nodes: Vec<SnapNode>,
    pub services: Vec<SnapService>,
    pub checks: Vec<SnapCheck>,
    /// Nodes' network coordinates, each with its modify index (format version 2).
    pub coordinates: Vec<(CoordinateUpdate, u64)>,
    /// Sessions (format version 3).
    pub sessions: Vec<crate::session::Session>,
    /// ACL policies, tokens, roles, auth methods, binding rules (format version 4).
    pub acl: crate::acl::model::AclSnapshot,
    /// Autopilot's configuration, once set (format version 5).
    pub autopilot: Option<crate::operator::AutopilotConfig>,
    /// Config entries (format version 6).
    pub config_entries: Vec<crate::config_entry::ConfigEntry>,
    /// Prepared queries (format version 7).
    pub prepared_queries: Vec<crate::prepared_query::PreparedQuery>,
}

/// Format version 6: before prepared queries. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV6 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
    coordinates: Vec<(CoordinateUpdate, u64)>,
    sessions: Vec<crate::session::Session>,
    acl: crate::acl::model::AclSnapshot,
    autopilot: Option<crate::operator::AutopilotConfig>,
    config_entries: Vec<crate::config_entry::ConfigEntry>,
}

/// Format version 5: before config entries. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV5 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
    coordinates: Vec<(CoordinateUpdate, u64)>,
    sessions: Vec<crate::session::Session>,
    acl: crate::acl::model::AclSnapshot,
    autopilot: Option<crate::operator::AutopilotConfig>,
}

/// Format version 4: before autopilot's configuration. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV4 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
    coordinates: Vec<(CoordinateUpdate, u64)>,
    sessions: Vec<crate::session::Session>,
    acl: crate::acl::model::AclSnapshot,
}

/// Format version 3: before ACLs. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV3 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
    coordinates: Vec<(CoordinateUpdate, u64)>,
    sessions: Vec<crate::session::Session>,
}

/// Format version 2: before sessions. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV2 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
    coordinates: Vec<(CoordinateUpdate, u64)>,
}

/// Format version 1: before coordinates. Read, never written.
#[derive(Archive, Serialize, Deserialize)]
struct StateSnapshotV1 {
    kv: Vec<SnapKv>,
    tombstones: Vec<(String, u64)>,
    nodes: Vec<SnapNode>,
    services: Vec<SnapService>,
    checks: Vec<SnapCheck>,
}

impl StateSnapshot {
    /// Adds another shard's part (shards own disjoint keys; replicated tables come from one).
    pub fn merge(&mut self, other: StateSnapshot) {
        self.kv.extend(other.kv);
        self.tombstones.extend(other.tombstones);
        self.nodes.extend(other.nodes);
        self.services.extend(other.services);
        self.checks.extend(other.checks);
        self.coordinates.extend(other.coordinates);
        self.sessions.extend(other.sessions);
        if other.acl != crate::acl::model::AclSnapshot::default() {
            self.acl = other.acl; // replicated: exported by shard 0 alone
        }
        if other.autopilot.is_some() {
            self.autopilot = other.autopilot;
        }
        self.config_entries.extend(other.config_entries); // replicated: shard 0 alone
        self.prepared_queries.extend(other.prepared_queries); // likewise
    }

    /// Sorted, so the same state always gives the same bytes.
    pub fn normalize(&mut self) {
        self.kv.sort_by(|a, b| a.key.cmp(&b.key));
        self.tombstones.sort();
        self.nodes.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        self.services
            .sort_by(|a, b| (&a.node, &a.def.id).cmp(&(&b.node, &b.def.id)));
        self.checks
            .sort_by(|a, b| (&a.node, &a.def.id).cmp(&(&b.node, &b.def.id)));
        self.coordinates
            .sort_by(|a, b| (&a.0.node, &a.0.segment).cmp(&(&b.0.node, &b.0.segment)));
        self.sessions.sort_by(|a, b| a.id.cmp(&b.id));
        self.config_entries
            .sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        self.prepared_queries.sort_by(|a, b| a.id.cmp(&b.id));
    }

    pub fn encode_body(&self) -> Vec<u8> {
        rkyv::to_bytes::<rkyv::rancor::Error>(self)
            .expect("serialising into memory cannot fail")
            .into_vec()
    }

    /// Validates before use: the bytes may come from anywhere. A body of an older format
    /// (a `Restore` entry an older binary wrote to the log, or an older file's body) is read
    /// as such when it is not a valid current one.
    pub fn decode_body(bytes: &[u8]) -> Result<StateSnapshot, String> {
        Self::decode_body_of_version(bytes, SNAPSHOT_VERSION)
            .or_else(|e| Self::decode_body_of_version(bytes, 6).map_err(|_| e))
            .or_else(|e| Self::decode_body_of_version(bytes, 5).map_err(|_| e))
            .or_else(|e| Self::decode_body_of_version(bytes, 4).map_err(|_| e))
            .or_else(|e| Self::decode_body_of_version(bytes, 3).map_err(|_| e))
            .or_else(|e| Self::decode_body_of_version(bytes, 2).map_err(|_| e))
            .or_else(|e| Self::decode_body_of_version(bytes, 1).map_err(|_| e))
    }

    fn decode_body_of_version(bytes: &[u8], version: u32) -> Result<StateSnapshot, String> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let invalid = |e: rkyv::rancor::Error| format!("snapshot body is invalid: {e}");
        if version == 1 {
            let v1 = rkyv::from_bytes::<StateSnapshotV1, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v1.kv,
                tombstones: v1.tombstones,
                nodes: v1.nodes,
                services: v1.services,
                checks: v1.checks,
                coordinates: Vec::new(),
                sessions: Vec::new(),
                acl: Default::default(),
                autopilot: None,
                config_entries: Vec::new(),
                prepared_queries: Vec::new(),
            });
        }
        if version == 2 {
            let v2 = rkyv::from_bytes::<StateSnapshotV2, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v2.kv,
                tombstones: v2.tombstones,
                nodes: v2.nodes,
                services: v2.services,
                checks: v2.checks,
                coordinates: v2.coordinates,
                sessions: Vec::new(),
                acl: Default::default(),
                autopilot: None,
                config_entries: Vec::new(),
                prepared_queries: Vec::new(),
            });
        }
        if version == 3 {
            let v3 = rkyv::from_bytes::<StateSnapshotV3, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v3.kv,
                tombstones: v3.tombstones,
                nodes: v3.nodes,
                services: v3.services,
                checks: v3.checks,
                coordinates: v3.coordinates,
                sessions: v3.sessions,
                acl: Default::default(),
                autopilot: None,
                config_entries: Vec::new(),
                prepared_queries: Vec::new(),
            });
        }
        if version == 4 {
            let v4 = rkyv::from_bytes::<StateSnapshotV4, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v4.kv,
                tombstones: v4.tombstones,
                nodes: v4.nodes,
                services: v4.services,
                checks: v4.checks,
                coordinates: v4.coordinates,
                sessions: v4.sessions,
                acl: v4.acl,
                autopilot: None,
                config_entries: Vec::new(),
                prepared_queries: Vec::new(),
            });
        }
        if version == 5 {
            let v5 = rkyv::from_bytes::<StateSnapshotV5, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v5.kv,
                tombstones: v5.tombstones,
                nodes: v5.nodes,
                services: v5.services,
                checks: v5.checks,
                coordinates: v5.coordinates,
                sessions: v5.sessions,
                acl: v5.acl,
                autopilot: v5.autopilot,
                config_entries: Vec::new(),
                prepared_queries: Vec::new(),
            });
        }
        if version == 6 {
            let v6 = rkyv::from_bytes::<StateSnapshotV6, rkyv::rancor::Error>(&aligned)
                .map_err(invalid)?;
            return Ok(StateSnapshot {
                kv: v6.kv,
                tombstones: v6.tombstones,
                nodes: v6.nodes,
                services: v6.services,
                checks: v6.checks,
                coordinates: v6.coordinates,
                sessions: v6.sessions,
                acl: v6.acl,
                autopilot: v6.autopilot,
                config_entries: v6.config_entries,
                prepared_queries: Vec::new(),
            });
        }
        rkyv::from_bytes::<StateSnapshot, rkyv::rancor::Error>(&aligned).map_err(invalid)
    }
}

/// The header facts `inspect` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub version: u32,
    pub index: u64,
    pub term: u64,
    pub created_ms: u64,
    pub size: usize,
}

impl SnapshotMeta {
    /// Consul's snapshot ID shape: `<term>-<index>-<unix ms>`.
    pub fn id(&self) -> String {
        format!("{}-{}-{}", self.term, self.index, self.created_ms)
    }
}

/// A complete snapshot file.
pub fn encode_file(snap: &StateSnapshot, index: u64, term: u64, created_ms: u64) -> Vec<u8> {
    let body = snap.encode_body();
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&term.to_le_bytes());
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks framing and checksum; returns the header facts and the body bytes.
pub fn open_file(file: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    if file.len() < HEADER_BYTES + 4 || &file[..8] != MAGIC {
        return Err("not a Tribune snapshot (bad header)".into());
    }
    let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
    let version = u32::from_le_bytes(file[8..12].try_into().unwrap());
    if !(1..=SNAPSHOT_VERSION).contains(&version) {
        return Err(format!("unsupported snapshot version {version}"));
    }
    let body_len = u64_at(36) as usize;
    if file.len() != HEADER_BYTES + body_len.min(file.len()) + 4 {
        return Err("snapshot is truncated or has trailing bytes".into());
    }
    let (covered, crc) = file.split_at(file.len() - 4);
    if crc32c::crc32c(covered) != u32::from_le_bytes(crc.try_into().unwrap()) {
        return Err("snapshot checksum mismatch: the file is corrupt".into());
    }
    let meta = SnapshotMeta {
        version,
        index: u64_at(12),
        term: u64_at(20),
        created_ms: u64_at(28),
        size: file.len(),
    };
    Ok((meta, &file[HEADER_BYTES..HEADER_BYTES + body_len]))
}

/// Opens and decodes a whole file.
pub fn decode_file(file: &[u8]) -> Result<(SnapshotMeta, StateSnapshot), String> {
    let (meta, body) = open_file(file)?;
    let snap = StateSnapshot::decode_body_of_version(body, meta.version)?;
    Ok((meta, snap))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> StateSnapshot {
        StateSnapshot {
            kv: vec![SnapKv {
                key: "a/b".into(),
                flags: 7,
                value: Some(b"hello".to_vec()),
                session: String::new(),
                lock_index: 0,
                create_index: 5,
                modify_index: 9,
            }],
            tombstones: vec![("gone".into(), 8)],
            nodes: vec![SnapNode {
                def: NodeDef {
                    name: "n1".into(),
                    address: "10.0.0.1".into(),
                    ..Default::default()
                },
                create_index: 3,
                modify_index: 4,
            }],
            services: Vec::new(),
            checks: Vec::new(),
            coordinates: vec![(
                CoordinateUpdate::new("n1", &crate::gossip::vivaldi::Coordinate::default()),
                6,
            )],
            sessions: vec![crate::session::Session {
                id: "adf4238a-882b-9ddc-4a9d-5b6758e4159e".into(),
                name: "lock".into(),
                node: "n1".into(),
                lock_delay_ns: 15_000_000_000,
                behavior: crate::session::Behavior::Delete,
                ttl: "30s".into(),
                node_checks: vec!["serfHealth".into()],
                service_checks: Vec::new(),
                create_index: 7,
                modify_index: 7,
            }],
            acl: crate::acl::model::AclSnapshot {
                policies: vec![crate::acl::model::AclPolicy {
                    id: "6b53aa87-88be-6e70-8b1b-35be50823c52".into(),
                    name: "node-policy".into(),
                    description: String::new(),
                    rules: "node_prefix \"\" { policy = \"write\" }".into(),
                    datacenters: Vec::new(),
                    create_index: 8,
                    modify_index: 8,
                }],
                bootstrap_index: 8,
                index: 8,
                ..Default::default()
            },
            autopilot: Some(crate::operator::AutopilotConfig {
                cleanup_dead_servers: false,
                create_index: 9,
                modify_index: 9,
                ..Default::default()
            }),
            config_entries: vec![crate::config_entry::ConfigEntry {
                kind: "service-defaults".into(),
                name: "web".into(),
                body: r#"{"Protocol":"http"}"#.into(),
                create_index: 10,
                modify_index: 10,
            }],
            prepared_queries: vec![crate::prepared_query::PreparedQuery {
                id: "b2a1c2d0-0000-4000-8000-000000000001".into(),
                name: "web".into(),
                template: String::new(),
                definition: r#"{"Name":"web"}"#.into(),
                create_index: 11,
                modify_index: 11,
            }],
        }
    }

    #[test]
    fn a_file_round_trips() {
        let file = encode_file(&sample(), 42, 3, 1_700_000_000_000);
        let (meta, snap) = decode_file(&file).unwrap();
        assert_eq!(meta.index, 42);
        assert_eq!(meta.term, 3);
        assert_eq!(meta.id(), "3-42-1700000000000");
        assert_eq!(meta.size, file.len());
        assert_eq!(snap, sample());
    }

    #[test]
    fn a_version_1_file_is_still_read() {
        let mut old = sample();
        old.coordinates.clear();
        old.sessions.clear();
        old.acl = Default::default();
        old.autopilot = None;
        old.config_entries.clear();
        old.prepared_queries.clear();
        let v1 = StateSnapshotV1 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v1)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 2).is_err(),
            "a version-1 body is not a valid version-2 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
        let mut file = encode_file(&old, 42, 3, 1);
        // The same state as a version-1 file: header version 1, the v1 body, a fresh checksum.
        file.truncate(HEADER_BYTES);
        file[8..12].copy_from_slice(&1u32.to_le_bytes());
        file[36..44].copy_from_slice(&(body.len() as u64).to_le_bytes());
        file.extend_from_slice(&body);
        let crc = crc32c::crc32c(&file);
        file.extend_from_slice(&crc.to_le_bytes());
        let (meta, snap) = decode_file(&file).unwrap();
        assert_eq!((meta.version, snap), (1, old));
    }

    #[test]
    fn a_version_2_body_is_still_read() {
        let mut old = sample();
        old.sessions.clear();
        old.acl = Default::default();
        old.autopilot = None;
        old.config_entries.clear();
        old.prepared_queries.clear();
        let v2 = StateSnapshotV2 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
            coordinates: old.coordinates.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v2)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 3).is_err(),
            "a version-2 body is not a valid version-3 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
    }

    #[test]
    fn a_version_3_body_is_still_read() {
        let mut old = sample();
        old.acl = Default::default();
        old.autopilot = None;
        old.config_entries.clear();
        old.prepared_queries.clear();
        let v3 = StateSnapshotV3 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
            coordinates: old.coordinates.clone(),
            sessions: old.sessions.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v3)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 4).is_err(),
            "a version-3 body is not a valid version-4 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
    }

    #[test]
    fn a_version_4_body_is_still_read() {
        let mut old = sample();
        old.autopilot = None;
        old.config_entries.clear();
        old.prepared_queries.clear();
        let v4 = StateSnapshotV4 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
            coordinates: old.coordinates.clone(),
            sessions: old.sessions.clone(),
            acl: old.acl.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v4)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 5).is_err(),
            "a version-4 body is not a valid version-5 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
    }

    #[test]
    fn a_version_5_body_is_still_read() {
        let mut old = sample();
        old.config_entries.clear();
        old.prepared_queries.clear();
        let v5 = StateSnapshotV5 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
            coordinates: old.coordinates.clone(),
            sessions: old.sessions.clone(),
            acl: old.acl.clone(),
            autopilot: old.autopilot.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v5)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 6).is_err(),
            "a version-5 body is not a valid version-6 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
    }

    #[test]
    fn a_version_6_body_is_still_read() {
        let mut old = sample();
        old.prepared_queries.clear();
        let v6 = StateSnapshotV6 {
            kv: old.kv.clone(),
            tombstones: old.tombstones.clone(),
            nodes: old.nodes.clone(),
            services: old.services.clone(),
            checks: old.checks.clone(),
            coordinates: old.coordinates.clone(),
            sessions: old.sessions.clone(),
            acl: old.acl.clone(),
            autopilot: old.autopilot.clone(),
            config_entries: old.config_entries.clone(),
        };
        let body = rkyv::to_bytes::<rkyv::rancor::Error>(&v6)
            .unwrap()
            .into_vec();
        assert!(
            StateSnapshot::decode_body_of_version(&body, 7).is_err(),
            "a version-6 body is not a valid version-7 one"
        );
        assert_eq!(StateSnapshot::decode_body(&body).unwrap(), old);
    }

    proptest! {
        #[test]
        fn truncated_or_flipped_files_are_refused(cut in any::<usize>(), at in any::<usize>(), bit in 0u8..8) {
            let file = encode_file(&sample(), 42, 3, 1);
            let cut = cut % file.len();
            prop_assert!(decode_file(&file[..cut]).is_err());
            let mut flipped = file.clone();
            let i = at % flipped.len();
            flipped[i] ^= 1 << bit;
            prop_assert!(decode_file(&flipped).is_err());
        }
    }
}
