//! Server RPC between our own agents on `ports.server` (8300): the frames, sans IO.
//!
//! A connection starts with a `Hello` each way (version, datacenter, node); a peer speaking
//! another version gets an `Error` and is closed. After that a connection carries either
//! one-way Raft messages (the Raft transport's connections) or request/answer pairs, one at a
//! time (shards' forwarding connections, pooled). A frame is `[len u32][kind u8][body]`.
//! Decoding is bounds-checked (`rpc::tests` feeds it random and mutated bytes; the
//! `rpc_frame` fuzz target runs it).

use crate::codec::{put_bytes, put_str, Reader, WireError};
use crate::config::{RPC_FRAME_BYTES_MAX, RPC_HEADERS_MAX, RPC_RAFT_FRAME_BYTES_MAX};

#[cfg(test)]
mod tests;

/// Bumped on any incompatible change.
pub const RPC_VERSION: u8 = 1;

/// An HTTP request forwarded to a server (a client agent's reads and writes, a follower's
/// default/consistent reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The server's answer, as the forwarding agent returns it to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Outcome of a forwarded catalog write (a client agent's anti-entropy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeOutcome {
    Done(bool),
    /// Refused or failed, with the status and text the proposer's client gets.
    Failed {
        status: u16,
        text: String,
    },
}

impl ProposeOutcome {
    /// The outcome carrying `error` as the server rendered it.
    pub fn failed(error: &crate::error::ApiError) -> ProposeOutcome {
        ProposeOutcome::Failed {
            status: error.status(),
            text: error.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Hello {
        version: u8,
        datacenter: String,
        node: String,
    },
    /// A raft-rs message (protobuf bytes), one way.
    Raft(Vec<u8>),
    Http(HttpRequest),
    HttpAnswer(HttpResponse),
    /// An encoded `state::Command::Catalog` to commit.
    Propose(Vec<u8>),
    ProposeAnswer(ProposeOutcome),
    /// What the catalog holds for a node (a client agent's anti-entropy diff).
    NodeView(String),
    /// rkyv-encoded `catalog::NodeView`.
    NodeViewAnswer(Vec<u8>),
    /// A DNS query a client agent received; answered with the wire answer.
    Dns(Vec<u8>),
    DnsAnswer(Vec<u8>),
    Error(String),
    /// `Propose` on behalf of an ACL token (a client agent's own catalog writes): the server
    /// checks the token before it proposes. Added after `Error`, so older frames keep their
    /// kinds.
    ProposeAs {
        token: String,
        command: Vec<u8>,
    },
}

const STR_MAX: usize = 64 * 1024;

fn put_headers(out: &mut Vec<u8>, headers: &[(String, String)]) {
    let n = headers.len().min(RPC_HEADERS_MAX);
    out.push(n as u8);
    for (k, v) in &headers[..n] {
        put_str(out, k);
        put_str(out, v);
    }
}

fn headers(r: &mut Reader) -> Result<Vec<(String, String)>, WireError> {
    let n = r.u8()? as usize;
    if n > RPC_HEADERS_MAX {
        return Err(WireError("too many headers"));
    }
    (0..n)
        .map(|_| Ok((r.str(STR_MAX)?, r.str(STR_MAX)?)))
        .collect()
}

impl Frame {
    /// Appends the whole frame, length prefix included.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match self {
            Frame::Hello {
                version,
                datacenter,
                node,
            } => {
                out.push(1);
                out.push(*version);
                put_str(out, datacenter);
                put_str(out, node);
            }
            Frame::Raft(b) => {
                out.push(2);
                put_bytes(out, b);
            }
            Frame::Http(h) => {
                out.push(3);
                put_str(out, &h.method);
                put_str(out, &h.path);
                put_str(out, &h.query);
                put_headers(out, &h.headers);
                put_bytes(out, &h.body);
            }
            Frame::HttpAnswer(h) => {
                out.push(4);
                out.extend_from_slice(&h.status.to_le_bytes());
                put_str(out, &h.content_type);
                put_headers(out, &h.headers);
                put_bytes(out, &h.body);
            }
            Frame::Propose(b) => {
                out.push(5);
                put_bytes(out, b);
            }
            Frame::ProposeAnswer(o) => {
                out.push(6);
                match o {
                    ProposeOutcome::Done(b) => {
                        out.push(0);
                        out.push(*b as u8);
                    }
                    ProposeOutcome::Failed { status, text } => {
                        out.push(2);
                        out.extend_from_slice(&status.to_le_bytes());
                        put_str(out, text);
                    }
                }
            }
            Frame::NodeView(n) => {
                out.push(7);
                put_str(out, n);
            }
            Frame::NodeViewAnswer(b) => {
                out.push(8);
                put_bytes(out, b);
            }
            Frame::Dns(b) => {
                out.push(9);
                put_bytes(out, b);
            }
            Frame::DnsAnswer(b) => {
                out.push(10);
                put_bytes(out, b);
            }
            Frame::Error(t) => {
                out.push(11);
                put_str(out, t);
            }
            Frame::ProposeAs { token, command } => {
                out.push(12);
                put_str(out, token);
                put_bytes(out, command);
            }
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Decodes one frame body (after the length prefix).
    pub fn decode(body: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader::new(body);
        let max = RPC_FRAME_BYTES_MAX;
        let frame = match r.u8()? {
            1 => Frame::Hello {
                version: r.u8()?,
                datacenter: r.str(STR_MAX)?,
                node: r.str(STR_MAX)?,
            },
            2 => Frame::Raft(r.bytes(RPC_RAFT_FRAME_BYTES_MAX)?.to_vec()),
            3 => Frame::Http(HttpRequest {
                method: r.str(STR_MAX)?,
                path: r.str(STR_MAX)?,
                query: r.str(STR_MAX)?,
                headers: headers(&mut r)?,
                body: r.bytes(max)?.to_vec(),
            }),
            4 => Frame::HttpAnswer(HttpResponse {
                status: r.u16()?,
                content_type: r.str(STR_MAX)?,
                headers: headers(&mut r)?,
                body: r.bytes(max)?.to_vec(),
            }),
            5 => Frame::Propose(r.bytes(max)?.to_vec()),
            6 => Frame::ProposeAnswer(match r.u8()? {
                0 => ProposeOutcome::Done(r.u8()? != 0),
                // 1: a text alone, from a version that did not send the status.
                1 => ProposeOutcome::Failed {
                    status: 500,
                    text: r.str(STR_MAX)?,
                },
                2 => ProposeOutcome::Failed {
                    status: r.u16()?,
                    text: r.str(STR_MAX)?,
                },
                _ => return Err(WireError("unknown outcome")),
            }),
            7 => Frame::NodeView(r.str(STR_MAX)?),
            8 => Frame::NodeViewAnswer(r.bytes(max)?.to_vec()),
            9 => Frame::Dns(r.bytes(max)?.to_vec()),
            10 => Frame::DnsAnswer(r.bytes(max)?.to_vec()),
            11 => Frame::Error(r.str(STR_MAX)?),
            12 => Frame::ProposeAs {
                token: r.str(STR_MAX)?,
                command: r.bytes(max)?.to_vec(),
            },
            _ => return Err(WireError("unknown frame kind")),
        };
        r.end()?;
        Ok(frame)
    }
}

/// Splits a frame off the front of `buf`: `Ok(None)` until a whole frame is there. Frames
/// are at most `RPC_FRAME_BYTES_MAX`.
pub fn split_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, WireError> {
    split_frame_within(buf, false)
}

/// `split_frame`, where a Raft message (kind 2) may also carry a whole snapshot, up to
/// `RPC_RAFT_FRAME_BYTES_MAX`: only on a server's connection past its hello. The kind is
/// known from the frame's first byte, before its body is buffered.
pub fn split_frame_within(
    buf: &[u8],
    raft_snapshots: bool,
) -> Result<Option<(Frame, usize)>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    let limit = match buf.get(4) {
        None if raft_snapshots && len > RPC_FRAME_BYTES_MAX + 64 => return Ok(None),
        Some(2) if raft_snapshots => RPC_RAFT_FRAME_BYTES_MAX + 64,
        _ => RPC_FRAME_BYTES_MAX + 64,
    };
    if len > limit {
        return Err(WireError("frame too large"));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    Ok(Some((Frame::decode(&buf[4..4 + len])?, 4 + len)))
}

/// Fuzz entry (`fuzz/fuzz_targets/rpc_frame.rs`): arbitrary bytes as a stream of frames and as
/// one frame body. Must never panic.
pub fn fuzz_one(data: &[u8]) {
    let mut at = 0;
    while let Ok(Some((_, used))) = split_frame(&data[at..]) {
        at += used;
    }
    let _ = Frame::decode(data);
}
