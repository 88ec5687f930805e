//! The gossip wire format: our own, compact and bounds-checked.
//!
//! A UDP packet is `[magic "TG"][version][count]` followed by `count` messages, each
//! `[kind][len u16][body]`. The first message is the one the packet is for (a ping, an ack...);
//! the rest are piggybacked broadcasts. A push-pull stream frame is `[len u32][body]` where the
//! body is a `PushPull`. Every read is checked: a short, long or malformed input is an `Err`,
//! never a panic (property-tested in `gossip::tests`, fuzzed by `fuzz_targets/gossip_packet.rs`).

use std::net::SocketAddr;

pub use crate::codec::WireError;
use crate::codec::{put_addr, put_str, Reader};
use crate::gossip::vivaldi::{Coordinate, COMPONENTS};

use crate::config::{
    GOSSIP_NAME_BYTES_MAX, GOSSIP_QUERY_PAYLOAD_MAX, GOSSIP_TAGS_MAX, GOSSIP_TAG_BYTES_MAX,
    USER_EVENT_FILTER_BYTES_MAX, USER_EVENT_PAYLOAD_MAX,
};

const MAGIC: [u8; 2] = *b"TG";
// The wire (and the log's `CoordinateUpdate`) hold exactly 11 components: a change of
// dimensions is a format change.
const _: () = assert!(
    COMPONENTS == 11,
    "WireCoordinate holds the vector and 3 scalars"
);
/// Bumped on any incompatible change; a packet of another version is dropped and counted.
/// Not bumped for `LeaveIntent` (kind 12) and the `Leaving` state (4), which are additions:
/// a node from before them drops only the rare packet or push-pull that carries one (around
/// a `force-leave`), where a bump would cut a mixed cluster in two during a rolling upgrade.
pub const WIRE_VERSION: u8 = 1;

/// A member's lifecycle state, as gossiped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    Alive,
    Suspect,
    Dead,
    Left,
    /// Force-left while alive (serf's `StatusLeaving`): a leave intent reached us and the
    /// member has not refuted it yet. Probed like an alive member; a death from here is a
    /// leave.
    Leaving,
}

impl MemberState {
    fn code(self) -> u8 {
        match self {
            MemberState::Alive => 0,
            MemberState::Suspect => 1,
            MemberState::Dead => 2,
            MemberState::Left => 3,
            MemberState::Leaving => 4,
        }
    }
    fn from_code(c: u8) -> Result<MemberState, WireError> {
        Ok(match c {
            0 => MemberState::Alive,
            1 => MemberState::Suspect,
            2 => MemberState::Dead,
            3 => MemberState::Left,
            4 => MemberState::Leaving,
            _ => return Err(WireError("unknown member state")),
        })
    }
}

/// A network coordinate on the wire: the vector, error, adjustment and height as `f32` bits
/// (44 bytes on every direct ack rather than 88; the estimate does not need more precision).
/// Decoded values may be NaN or infinite: `VivaldiClient::update` refuses those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireCoordinate(pub [u32; 11]);

impl WireCoordinate {
    pub fn from_coordinate(c: &Coordinate) -> WireCoordinate {
        WireCoordinate(c.components().map(|f| (f as f32).to_bits()))
    }

    pub fn to_coordinate(self) -> Coordinate {
        Coordinate::from_components(self.0.map(|b| f32::from_bits(b) as f64))
    }
}

/// One gossip message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Are you alive? `target` names who the sender thinks it is talking to.
    Ping { seq: u32, target: String },
    /// Please ping `target` for me and relay its ack (SWIM's indirect probe).
    IndirectPing {
        seq: u32,
        target: String,
        target_addr: SocketAddr,
        /// Lifeguard: answer with a `Nack` if the target does not answer in time.
        nack: bool,
    },
    /// The answer to a ping; a direct answer carries the answerer's network coordinate
    /// (memberlist's ack payload, which serf fills with its coordinate).
    Ack {
        seq: u32,
        coord: Option<WireCoordinate>,
    },
    /// Lifeguard: the relay is alive but the target did not answer.
    Nack { seq: u32 },
    /// `name` is alive at `incarnation`.
    Alive {
        incarnation: u32,
        name: String,
        addr: SocketAddr,
        tags: Vec<(String, String)>,
    },
    /// `from` suspects `name`.
    Suspect {
        incarnation: u32,
        name: String,
        from: String,
    },
    /// `from` declares `name` dead; `from == name` means `name` left.
    Dead {
        incarnation: u32,
        name: String,
        from: String,
    },
    /// `force-leave` of `name` at `incarnation` (serf's leave intent): an alive member goes to
    /// `Leaving` (and refutes it, if it is alive), a dead one to `Left`; `prune` forgets it.
    LeaveIntent {
        incarnation: u32,
        name: String,
        prune: bool,
    },
    /// A user event (`/v1/event/fire`), flooded to every member once.
    UserEvent(UserEvent),
    /// A query (serf's internal `_serf_*` queries: the keyring operations), flooded to every
    /// member once; each answers the origin directly.
    Query(Query),
    /// One member's answer to query `id`, sent straight to the query's origin.
    QueryResponse {
        id: u64,
        from: String,
        payload: Vec<u8>,
    },
}

/// A gossip query as flooded. `name` says what to do (`_serf_install-key`...); `payload` its
/// argument (a key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub id: u64,
    pub origin: String,
    pub origin_addr: SocketAddr,
    pub name: String,
    pub payload: Vec<u8>,
}

/// A user event as gossiped; filters are regular expressions each receiver applies to itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEvent {
    pub id: String,
    pub name: String,
    pub payload: Vec<u8>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub ltime: u64,
}

/// One member's entry in a push-pull exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushState {
    pub name: String,
    pub addr: SocketAddr,
    pub incarnation: u32,
    pub state: MemberState,
    pub tags: Vec<(String, String)>,
}

/// A full-state exchange over a stream (periodic anti-entropy, and how a join starts).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPull {
    pub join: bool,
    pub states: Vec<PushState>,
}

// ---- encoding ----

fn put_tags(out: &mut Vec<u8>, tags: &[(String, String)]) {
    out.push(tags.len().min(GOSSIP_TAGS_MAX) as u8);
    for (k, v) in tags.iter().take(GOSSIP_TAGS_MAX) {
        put_str(out, k);
        put_str(out, v);
    }
}

/// Appends one message (kind, length, body) to `out`.
pub fn encode_msg(msg: &Msg, out: &mut Vec<u8>) {
    let kind_at = out.len();
    out.extend_from_slice(&[0, 0, 0]);
    let body_at = out.len();
    let kind = match msg {
        Msg::Ping { seq, target } => {
            out.extend_from_slice(&seq.to_le_bytes());
            put_str(out, target);
            1
        }
        Msg::IndirectPing {
            seq,
            target,
            target_addr,
            nack,
        } => {
            out.extend_from_slice(&seq.to_le_bytes());
            put_str(out, target);
            put_addr(out, target_addr);
            out.push(*nack as u8);
            2
        }
        Msg::Ack { seq, coord: None } => {
            out.extend_from_slice(&seq.to_le_bytes());
            3
        }
        Msg::Ack {
            seq,
            coord: Some(c),
        } => {
            out.extend_from_slice(&seq.to_le_bytes());
            for bits in c.0 {
                out.extend_from_slice(&bits.to_le_bytes());
            }
            11
        }
        Msg::Nack { seq } => {
            out.extend_from_slice(&seq.to_le_bytes());
            4
        }
        Msg::Alive {
            incarnation,
            name,
            addr,
            tags,
        } => {
            out.extend_from_slice(&incarnation.to_le_bytes());
            put_str(out, name);
            put_addr(out, addr);
            put_tags(out, tags);
            5
        }
        Msg::Suspect {
            incarnation,
            name,
            from,
        } => {
            out.extend_from_slice(&incarnation.to_le_bytes());
            put_str(out, name);
            put_str(out, from);
            6
        }
        Msg::Dead {
            incarnation,
            name,
            from,
        } => {
            out.extend_from_slice(&incarnation.to_le_bytes());
            put_str(out, name);
            put_str(out, from);
            7
        }
        Msg::LeaveIntent {
            incarnation,
            name,
            prune,
        } => {
            out.extend_from_slice(&incarnation.to_le_bytes());
            put_str(out, name);
            out.push(*prune as u8);
            12
        }
        Msg::UserEvent(e) => {
            out.extend_from_slice(&e.ltime.to_le_bytes());
            put_str(out, &e.id);
            put_str(out, &e.name);
            put_str(out, &e.node_filter);
            put_str(out, &e.service_filter);
            put_str(out, &e.tag_filter);
            let n = e.payload.len().min(USER_EVENT_PAYLOAD_MAX);
            out.extend_from_slice(&(n as u16).to_le_bytes());
            out.extend_from_slice(&e.payload[..n]);
            8
        }
        Msg::Query(q) => {
            out.extend_from_slice(&q.id.to_le_bytes());
            put_str(out, &q.origin);
            put_addr(out, &q.origin_addr);
            put_str(out, &q.name);
            put_payload(out, &q.payload);
            9
        }
        Msg::QueryResponse { id, from, payload } => {
            out.extend_from_slice(&id.to_le_bytes());
            put_str(out, from);
            put_payload(out, payload);
            10
        }
    };
    let len = (out.len() - body_at) as u16;
    out[kind_at] = kind;
    out[kind_at + 1..kind_at + 3].copy_from_slice(&len.to_le_bytes());
}

/// A query payload, cut at `GOSSIP_QUERY_PAYLOAD_MAX` (callers never send more).
fn put_payload(out: &mut Vec<u8>, payload: &[u8]) {
    let n = payload.len().min(GOSSIP_QUERY_PAYLOAD_MAX);
    out.extend_from_slice(&(n as u16).to_le_bytes());
    out.extend_from_slice(&payload[..n]);
}

fn payload(r: &mut Reader) -> Result<Vec<u8>, WireError> {
    let n = r.u16()? as usize;
    if n > GOSSIP_QUERY_PAYLOAD_MAX {
        return Err(WireError("query payload too large"));
    }
    Ok(r.take(n)?.to_vec())
}

/// Encoded size of one message, header included.
pub fn encoded_len(msg: &Msg) -> usize {
    let mut v = Vec::new();
    encode_msg(msg, &mut v);
    v.len()
}

/// A packet header for `count` messages.
pub fn packet_header(count: u8) -> [u8; 4] {
    [MAGIC[0], MAGIC[1], WIRE_VERSION, count]
}

/// Encodes a push-pull body (without the stream's length prefix).
pub fn encode_push_pull(pp: &PushPull) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + pp.states.len() * 96);
    out.extend_from_slice(&MAGIC);
    out.push(WIRE_VERSION);
    out.push(pp.join as u8);
    out.extend_from_slice(&(pp.states.len() as u32).to_le_bytes());
    for s in &pp.states {
        put_str(&mut out, &s.name);
        put_addr(&mut out, &s.addr);
        out.extend_from_slice(&s.incarnation.to_le_bytes());
        out.push(s.state.code());
        put_tags(&mut out, &s.tags);
    }
    out
}

// ---- decoding ----

fn name(r: &mut Reader) -> Result<String, WireError> {
    let name = r.str(GOSSIP_NAME_BYTES_MAX)?;
    if name.is_empty() {
        return Err(WireError("empty member name"));
    }
    Ok(name)
}

fn tags(r: &mut Reader) -> Result<Vec<(String, String)>, WireError> {
    let n = r.u8()? as usize;
    if n > GOSSIP_TAGS_MAX {
        return Err(WireError("too many tags"));
    }
    (0..n)
        .map(|_| Ok((r.str(GOSSIP_TAG_BYTES_MAX)?, r.str(GOSSIP_TAG_BYTES_MAX)?)))
        .collect()
}

fn decode_msg(kind: u8, body: &[u8]) -> Result<Msg, WireError> {
    let mut r = Reader::new(body);
    let msg = match kind {
        1 => Msg::Ping {
            seq: r.u32()?,
            target: r.str(GOSSIP_NAME_BYTES_MAX)?,
        },
        2 => Msg::IndirectPing {
            seq: r.u32()?,
            target: name(&mut r)?,
            target_addr: r.addr()?,
            nack: r.u8()? != 0,
        },
        3 => Msg::Ack {
            seq: r.u32()?,
            coord: None,
        },
        11 => {
            let seq = r.u32()?;
            let mut bits = [0u32; 11];
            for b in &mut bits {
                *b = r.u32()?;
            }
            Msg::Ack {
                seq,
                coord: Some(WireCoordinate(bits)),
            }
        }
        4 => Msg::Nack { seq: r.u32()? },
        5 => Msg::Alive {
            incarnation: r.u32()?,
            name: name(&mut r)?,
            addr: r.addr()?,
            tags: tags(&mut r)?,
        },
        6 => Msg::Suspect {
            incarnation: r.u32()?,
            name: name(&mut r)?,
            from: name(&mut r)?,
        },
        7 => Msg::Dead {
            incarnation: r.u32()?,
            name: name(&mut r)?,
            from: name(&mut r)?,
        },
        12 => Msg::LeaveIntent {
            incarnation: r.u32()?,
            name: name(&mut r)?,
            prune: r.u8()? != 0,
        },
        8 => {
            let ltime = r.u64()?;
            let id = r.str(64)?;
            let event_name = r.str(GOSSIP_NAME_BYTES_MAX)?;
            let node_filter = r.str(USER_EVENT_FILTER_BYTES_MAX)?;
            let service_filter = r.str(USER_EVENT_FILTER_BYTES_MAX)?;
            let tag_filter = r.str(USER_EVENT_FILTER_BYTES_MAX)?;
            let n = r.u16()? as usize;
            if n > USER_EVENT_PAYLOAD_MAX {
                return Err(WireError("user event payload too large"));
            }
            Msg::UserEvent(UserEvent {
                id,
                name: event_name,
                payload: r.take(n)?.to_vec(),
                node_filter,
                service_filter,
                tag_filter,
                ltime,
            })
        }
        9 => Msg::Query(Query {
            id: r.u64()?,
            origin: name(&mut r)?,
            origin_addr: r.addr()?,
            name: r.str(GOSSIP_NAME_BYTES_MAX)?,
            payload: payload(&mut r)?,
        }),
        10 => Msg::QueryResponse {
            id: r.u64()?,
            from: name(&mut r)?,
            payload: payload(&mut r)?,
        },
        _ => return Err(WireError("unknown message kind")),
    };
    r.end()?;
    Ok(msg)
}

/// Decodes a whole packet into its messages.
pub fn decode_packet(buf: &[u8]) -> Result<Vec<Msg>, WireError> {
    let mut r = Reader::new(buf);
    if r.take(2)? != MAGIC {
        return Err(WireError("bad magic"));
    }
    if r.u8()? != WIRE_VERSION {
        return Err(WireError("unsupported version"));
    }
    let count = r.u8()? as usize;
    if count == 0 {
        return Err(WireError("empty packet"));
    }
    let mut msgs = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = r.u8()?;
        let len = r.u16()? as usize;
        msgs.push(decode_msg(kind, r.take(len)?)?);
    }
    r.end()?;
    Ok(msgs)
}

/// Decodes a push-pull body; `max_states` bounds what one peer may make us hold.
pub fn decode_push_pull(buf: &[u8], max_states: usize) -> Result<PushPull, WireError> {
    let mut r = Reader::new(buf);
    if r.take(2)? != MAGIC {
        return Err(WireError("bad magic"));
    }
    if r.u8()? != WIRE_VERSION {
        return Err(WireError("unsupported version"));
    }
    let join = r.u8()? != 0;
    let n = r.u32()? as usize;
    if n > max_states {
        return Err(WireError("too many member states"));
    }
    let mut states = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        states.push(PushState {
            name: name(&mut r)?,
            addr: r.addr()?,
            incarnation: r.u32()?,
            state: MemberState::from_code(r.u8()?)?,
            tags: tags(&mut r)?,
        });
    }
    r.end()?;
    Ok(PushPull { join, states })
}
