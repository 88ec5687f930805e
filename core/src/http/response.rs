//! Responses as Consul writes them: JSON encoded like Go's `encoding/json`, plain-text errors,
//! and the `X-Consul-*` query metadata headers.

use bytes::Bytes;
use serde::Serialize;

/// A response before it meets hyper.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
    /// A body written over time after `body` (`/v1/agent/monitor`), sent chunked until it
    /// ends or the client goes. Never forwarded over RPC: such routes are answered locally.
    pub stream: Option<BodyStream>,
}

/// The source of a streamed body, polled by the HTTP shell. Only std's task types appear
/// here, so the cores stay free of any runtime.
pub struct BodyStream(pub Box<PollChunk>);

/// Polled for the next chunk of a streamed body; `Ready(None)` ends it.
pub type PollChunk =
    dyn FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<Bytes>> + Send;

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyStream")
    }
}

/// How JSON bodies are laid out for this request.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonStyle {
    /// 4-space indentation (`?pretty`, or dev mode as Consul does it).
    pub indent: bool,
    /// Trailing newline (only `?pretty`).
    pub newline: bool,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn json<T: Serialize + ?Sized>(value: &T, style: JsonStyle) -> Reply {
        Reply::json_status(200, value, style)
    }

    /// A JSON body with another status (409 for failed transactions).
    pub fn json_status<T: Serialize + ?Sized>(status: u16, value: &T, style: JsonStyle) -> Reply {
        Reply {
            status,
            content_type: Some("application/json"),
            headers: Vec::new(),
            body: Bytes::from(encode_json(value, style)),
            stream: None,
        }
    }

    /// An error, with Consul's status and text (`error::ApiError`).
    pub fn error(error: &crate::error::ApiError) -> Reply {
        Reply::text(error.status(), error.to_string())
    }

    /// A plain-text body (errors, and handlers that write text).
    pub fn text(status: u16, text: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body: Bytes::from(text.into()),
            stream: None,
        }
    }

    /// Status with an empty body (Go then labels it text/plain).
    pub fn empty(status: u16) -> Reply {
        Reply::text(status, "")
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds `X-Consul-Index`, `-KnownLeader`, `-LastContact` and `-Query-Backend`, always
    /// together: the Go client stops parsing headers when LastContact is missing.
    pub fn with_query_meta(self, index: u64, known_leader: bool, last_contact_ms: u64) -> Reply {
        self.with("X-Consul-Index", index.max(1).to_string())
            .with("X-Consul-KnownLeader", known_leader.to_string())
            .with("X-Consul-LastContact", last_contact_ms.to_string())
            .with("X-Consul-Query-Backend", "blocking-query")
    }
}

/// Serialises like Go's `json.Marshal`/`MarshalIndent(v, "", "    ")`, including Go's
/// escaping of `<`, `>`, `&`, U+2028 and U+2029 inside strings.
pub fn encode_json<T: Serialize + ?Sized>(value: &T, style: JsonStyle) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    if style.indent {
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
        value.serialize(&mut ser).expect("JSON into memory");
    } else {
        serde_json::to_writer(&mut out, value).expect("JSON into memory");
    }
    if style.newline {
        out.push(b'\n');
    }
    go_escape(out)
}

fn go_escape(json: Vec<u8>) -> Vec<u8> {
    let needs = json.iter().any(|&b| matches!(b, b'<' | b'>' | b'&' | 0xE2));
    if !needs {
        return json;
    }
    // Outside strings JSON never contains these bytes, so a byte-level rewrite is exact.
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8 | 0xA9)) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}
