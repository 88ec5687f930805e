//! The HTTP/1.1 fast path's wire format: request heads parsed in place with `httparse`, and
//! response heads written into one buffer byte for byte as hyper writes them (status line,
//! title-cased headers, `Content-Length`, `Date`), so the body can follow in the same write.
//!
//! Written by hand because it makes the read path cheaper (issue 20: hyper's header maps and
//! response builder were most of our userspace cost per request) and no crate does only this.
//! It takes only the plain case: a complete HTTP/1.1 head in origin form, with no body, no
//! upgrade and no `Expect`. Anything else is `Parse::Hyper`: the connection, with every byte
//! read so far (`Rewind`), goes to hyper for the rest of its life, so hyper's answers to
//! unusual or malformed requests (400, 413, 431, chunked bodies, `100 Continue`) stay its own.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::{HTTP_HEADERS_MAX, HTTP_HEAD_BYTES_MAX};

/// hyper's own bound on a request target (`MAX_URI_LEN`): longer ones get its 414.
const TARGET_BYTES_MAX: usize = (u16::MAX - 1) as usize;

/// What the bytes read so far hold.
pub enum Parse<'b> {
    /// The head is not complete yet (and still under `HTTP_HEAD_BYTES_MAX`).
    Partial,
    /// Not a request the fast path takes: hyper answers it.
    Hyper,
    /// A plain request; its head is the first `head_len` bytes.
    Plain(PlainRequest<'b>),
}

/// A complete HTTP/1.1 request without a body.
pub struct PlainRequest<'b> {
    pub method: &'b str,
    /// The request target as sent (for the debug log line).
    pub target: &'b str,
    pub path: &'b str,
    pub query: &'b str,
    pub headers: &'b [httparse::Header<'b>],
    /// False when the client sent `Connection: close`.
    pub keep_alive: bool,
    pub head_len: usize,
}

impl<'b> PlainRequest<'b> {
    /// Headers whose values are visible ASCII (hyper's `HeaderValue::to_str`); others are
    /// skipped, as the hyper path skips them.
    pub fn text_headers(&self) -> impl Iterator<Item = (&'b str, &'b str)> + 'b {
        let headers: &'b [httparse::Header<'b>] = self.headers;
        headers
            .iter()
            .filter_map(|h| Some((h.name, visible_ascii(h.value)?)))
    }
}

/// Header slots for `parse`, on the caller's stack, left uninitialised: writing 100 empty
/// headers before every parse cost more than the parse.
pub type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; HTTP_HEADERS_MAX];

pub const fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; HTTP_HEADERS_MAX]
}

/// Classifies the bytes at the front of a connection's read buffer.
pub fn parse<'b>(buf: &'b [u8], slots: &'b mut HeaderSlots<'b>) -> Parse<'b> {
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() < HTTP_HEAD_BYTES_MAX => return Parse::Partial,
        // Too long, too many headers or malformed: hyper's 431 or 400.
        _ => return Parse::Hyper,
    };
    let (Some(method), Some(target), Some(1)) = (req.method, req.path, req.version) else {
        // HTTP/1.0 keeps hyper: its keep-alive and version rules differ.
        return Parse::Hyper;
    };
    if method == "CONNECT" || target.len() > TARGET_BYTES_MAX || !plain_target(target) {
        return Parse::Hyper;
    }
    let mut keep_alive = true;
    let mut content_length_seen = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            // Only a single `Content-Length: 0` is a bodiless request we take.
            if content_length_seen || header.value != b"0" {
                return Parse::Hyper;
            }
            content_length_seen = true;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return Parse::Hyper;
        } else if name.eq_ignore_ascii_case("connection") {
            // hyper reads only a visible-ASCII value's tokens.
            let Some(value) = visible_ascii(header.value) else {
                continue;
            };
            for token in value.split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return Parse::Hyper;
                }
            }
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Parse::Plain(PlainRequest {
        method,
        target,
        path,
        query,
        headers: req.headers,
        keep_alive,
        head_len,
    })
}

/// Whether `buf` may hold a whole head: a blank line (`\r\n\r\n`, or `\n\n` as httparse
/// also takes) ending after `scanned`, the bytes already searched without finding one. Also
/// true once the buffer reached the head limit, so that hyper answers it.
pub fn head_may_be_complete(buf: &[u8], scanned: usize) -> bool {
    // A blank line ends in `\n\r\n` or `\n\n`: two bytes of overlap with what was searched.
    let new = &buf[scanned.saturating_sub(2).min(buf.len())..];
    buf.len() >= HTTP_HEAD_BYTES_MAX
        || new.windows(2).any(|w| w == b"\n\n")
        || new.windows(3).any(|w| w == b"\n\r\n")
}

/// An origin-form target made only of bytes that `http::Uri` takes in both path and query
/// without question (no fragment, no quotes or braces), so hyper would see the same path
/// and query; anything rarer is left to hyper.
fn plain_target(target: &str) -> bool {
    target.starts_with('/')
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%?=&:+,;@!$'()*".contains(&b))
}

fn visible_ascii(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (32..127).contains(&b))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// How the body after a response head is framed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    /// A whole body of this many bytes.
    Length(usize),
    /// A body streamed in chunks (`chunk`, then `LAST_CHUNK`).
    Chunked,
}

/// Whether a response to this method with this status carries a body at all (hyper's
/// `can_have_body`): never for HEAD, 1xx, 204 or 304.
pub fn has_body(head_request: bool, status: u16) -> bool {
    !head_request && may_have_length(status)
}

/// Whether a response with this status may say its length (hyper's `can_have_content_length`
/// outside CONNECT): not for 1xx, 204 or 304.
fn may_have_length(status: u16) -> bool {
    !(100..200).contains(&status) && status != 204 && status != 304
}

/// Writes a response head as hyper's HTTP/1.1 server with `title_case_headers` does: headers
/// in first-appearance order with repeats of a name grouped at its first place, then
/// `Connection: close` when the client asked for it, the framing header, and `Date` last.
pub fn write_head(
    dst: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    framing: Framing,
    head_request: bool,
    close: bool,
) {
    if status == 200 {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        dst.extend_from_slice(b"HTTP/1.1 ");
        dst.extend_from_slice(itoa::Buffer::new().format(status).as_bytes());
        dst.push(b' ');
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("<none>");
        dst.extend_from_slice(reason.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    for (i, &(name, _)) in headers.iter().enumerate() {
        let same = |h: &&(&str, &str)| h.0.len() == name.len() && h.0.eq_ignore_ascii_case(name);
        if headers[..i].iter().any(|h| same(&h)) {
            continue; // written with the first of its name
        }
        for (_, value) in headers[i..].iter().filter(same) {
            title_case(dst, name);
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value.as_bytes());
            dst.extend_from_slice(b"\r\n");
        }
    }
    if close {
        dst.extend_from_slice(b"Connection: close\r\n");
    }
    let may_have_length = may_have_length(status);
    match framing {
        Framing::Length(0) => {
            if may_have_length && !head_request {
                dst.extend_from_slice(b"Content-Length: 0\r\n");
            }
        }
        Framing::Length(n) => {
            if may_have_length {
                dst.extend_from_slice(b"Content-Length: ");
                dst.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                dst.extend_from_slice(b"\r\n");
            }
        }
        Framing::Chunked => {
            if has_body(head_request, status) {
                dst.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            }
        }
    }
    dst.extend_from_slice(b"Date: ");
    http_date(dst);
    dst.extend_from_slice(b"\r\n\r\n");
}

/// hyper's title case of a (lower-cased) header name: a letter is upper case at the start and
/// after `-`, lower case elsewhere. `X-Consul-KnownLeader` goes out as `X-Consul-Knownleader`,
/// as from hyper and from Go's canonical header keys.
fn title_case(dst: &mut Vec<u8>, name: &str) {
    let mut prev = b'-';
    for &c in name.as_bytes() {
        let c = if prev == b'-' {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        };
        dst.push(c);
        prev = c;
    }
}

/// One chunk of a chunked body, as hyper frames it (size in upper-case hex).
pub fn write_chunk(dst: &mut Vec<u8>, data: &[u8]) {
    use std::io::Write;
    let _ = write!(dst, "{:X}\r\n", data.len());
    dst.extend_from_slice(data);
    dst.extend_from_slice(b"\r\n");
}

/// The end of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The `Date` value (IMF-fixdate), formatted once per second per thread as hyper does.
fn http_date(dst: &mut Vec<u8>) {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        static CACHED: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|(at, text)| {
        if *at != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = second;
            }
        }
        dst.extend_from_slice(text);
    });
}

/// A connection handed to hyper with the bytes already read from it put back in front.
pub struct Rewind<IO> {
    read_first: Bytes,
    io: IO,
}

impl<IO> Rewind<IO> {
    pub fn new(read_first: Bytes, io: IO) -> Self {
        Rewind { read_first, io }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Rewind<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read_first.has_remaining() {
            let n = this.read_first.len().min(out.remaining());
            out.put_slice(&this.read_first[..n]);
            this.read_first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, out)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Rewind<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, b)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
