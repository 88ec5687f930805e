//! The on-disk log record and its framing. Pure code: encode into a buffer, scan a buffer.
//!
//! A frame is `[len: u32 LE][crc32c(len ‖ payload): u32 LE][8 zero bytes][payload][pad to 16]`.
//! Frames start at 16-byte offsets and the payload starts 16 bytes in, so a segment read
//! whole into a 16-aligned buffer gives every payload the alignment rkyv needs for validated
//! zero-copy access (`rkyv::access`), with no copy per record.
//!
//! Replay rule: an `Entry` record at index `i` supersedes every entry at `i` or later that an
//! earlier record wrote. Raft's log truncation on conflict is thus an append, never an
//! in-place rewrite, and a torn write can only damage the tail.

use rkyv::{Archive, Deserialize, Serialize};

use crate::config::LOG_RECORD_BYTES_MAX;

/// Frame header length; also the alignment of frames and payloads.
pub const FRAME_HEADER_BYTES: usize = 16;

/// One durable fact about the Raft node.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// A log entry (`entry_type` is raft-rs's `EntryType` as an integer).
    Entry {
        index: u64,
        term: u64,
        entry_type: u8,
        data: Vec<u8>,
        context: Vec<u8>,
    },
    /// Raft hard state (term, vote, commit).
    HardState { term: u64, vote: u64, commit: u64 },
    /// Voter and learner set (written at bootstrap and on configuration change).
    ConfState {
        voters: Vec<u64>,
        learners: Vec<u64>,
    },
    /// Who the voters are and where to reach them (written at bootstrap and on configuration
    /// change), so a restarted server can reach its peers before gossip has rejoined.
    Peers { peers: Vec<PeerRecord> },
    /// A snapshot of the state machine at `index` (term `term`, configuration `voters` and
    /// `learners`, address book `peers`): every entry up to `index` is superseded by it.
    /// `data` is a snapshot file (`crate::snapshot`). Written at bootstrap (index 1, empty
    /// state), when the log is compacted, and when a snapshot from the leader is installed;
    /// always as the first record of a fresh segment, so that older segments can be deleted.
    Snapshot {
        index: u64,
        term: u64,
        voters: Vec<u64>,
        learners: Vec<u64>,
        peers: Vec<PeerRecord>,
        data: Vec<u8>,
    },
}

/// One voter's identity and RPC address.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    pub raft_id: u64,
    pub name: String,
    pub node_id: String,
    pub rpc_addr: String,
}

/// A peer as it rides in a configuration change's context (`AddNode`).
pub fn encode_peer(peer: &PeerRecord) -> Vec<u8> {
    rkyv::to_bytes::<rkyv::rancor::Error>(peer)
        .expect("in-memory serialisation")
        .to_vec()
}

/// Decodes what `encode_peer` made (validated: it was replicated from another server).
pub fn decode_peer(bytes: &[u8]) -> Result<PeerRecord, String> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<PeerRecord, rkyv::rancor::Error>(&aligned).map_err(|e| e.to_string())
}

fn checksum(len: u32, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len.to_le_bytes()), payload)
}

fn padded(n: usize) -> usize {
    n.div_ceil(FRAME_HEADER_BYTES) * FRAME_HEADER_BYTES
}

/// Appends one framed record to `out` (whose length must be a multiple of 16).
pub fn encode_into(record: &LogRecord, out: &mut Vec<u8>) {
    assert_eq!(
        out.len() % FRAME_HEADER_BYTES,
        0,
        "frames must start 16-aligned"
    );
    let payload = rkyv::to_bytes::<rkyv::rancor::Error>(record).expect("in-memory serialisation");
    assert!(!payload.is_empty() && payload.len() <= LOG_RECORD_BYTES_MAX);
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(len, &payload).to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    out.extend_from_slice(&payload);
    out.resize(out.len() + padded(payload.len()) - payload.len(), 0);
}

/// Result of scanning a segment.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<LogRecord>,
    /// Length of the valid prefix; anything after it is a torn or corrupt tail.
    pub valid_bytes: usize,
    /// Why the scan stopped early, if it did.
    pub stopped: Option<String>,
}

/// Reads frames from the start of `buf` (which must be 16-aligned in memory) until the end
/// or the first frame that is short, has a bad length, a bad checksum or an invalid payload.
pub fn scan(buf: &[u8]) -> Scan {
    assert!(
        buf.is_empty() || (buf.as_ptr() as usize).is_multiple_of(FRAME_HEADER_BYTES),
        "scan buffer must be 16-aligned"
    );
    let mut scan = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        let rest = &buf[at..];
        let stop = |why: &str| Some(format!("{why} at byte {at}"));
        if rest.len() < FRAME_HEADER_BYTES {
            scan.stopped = stop("short header");
            break;
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().unwrap());
        let crc = u32::from_le_bytes(rest[4..8].try_into().unwrap());
        if len == 0 || len as usize > LOG_RECORD_BYTES_MAX || rest[8..16] != [0u8; 8] {
            scan.stopped = stop("bad frame header");
            break;
        }
        let frame_len = FRAME_HEADER_BYTES + padded(len as usize);
        if rest.len() < frame_len {
            scan.stopped = stop("short frame");
            break;
        }
        let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len as usize];
        if checksum(len, payload) != crc {
            scan.stopped = stop("checksum mismatch");
            break;
        }
        // Zero-copy validated access; deserialising here copies only what the in-memory
        // log keeps (entries are handed to raft-rs as owned protobuf values).
        match rkyv::from_bytes::<LogRecord, rkyv::rancor::Error>(payload) {
            Ok(record) => scan.records.push(record),
            Err(e) => {
                scan.stopped = Some(format!("invalid record at byte {at}: {e}"));
                break;
            }
        }
        at += frame_len;
        scan.valid_bytes = at;
    }
    scan
}
