//! Batched UDP datagrams for the DNS server: `recvmmsg` takes every queued query up to a batch
//! in one system call, and `sendmmsg` sends the batch's replies in one. Written by hand over
//! libc because it makes the hot path cheaper and no crate fits: tokio has no batched UDP, and
//! quinn-udp batches sends only towards one peer (QUIC's case), while DNS replies go to many.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams received together; a slot's bytes stay valid until the next `recv`.
/// The system call's arrays are kept between calls, so receiving allocates nothing.
pub struct RecvBatch {
    slots: Vec<Box<[u8]>>,
    peers: Vec<libc::sockaddr_storage>,
    lens: Vec<usize>,
    peer_lens: Vec<libc::socklen_t>,
    truncated: Vec<bool>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    /// `slots` datagrams of at most `slot_bytes` each; a longer one is marked truncated.
    pub fn new(slots: usize, slot_bytes: usize) -> Self {
        RecvBatch {
            slots: (0..slots).map(|_| vec![0u8; slot_bytes].into()).collect(),
            // SAFETY: all-zero bytes are a valid (empty, AF_UNSPEC) sockaddr_storage.
            peers: vec![unsafe { std::mem::zeroed() }; slots],
            lens: vec![0; slots],
            peer_lens: vec![0; slots],
            truncated: vec![false; slots],
            iovecs: Vec::with_capacity(slots),
            // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
            headers: vec![unsafe { std::mem::zeroed() }; slots],
        }
    }

    /// Waits for at least one datagram and takes as many as are queued (up to the batch).
    pub async fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        socket
            .async_io(Interest::READABLE, || self.recv_now(socket.as_raw_fd()))
            .await
    }

    fn recv_now(&mut self, fd: i32) -> io::Result<usize> {
        let count = self.slots.len();
        self.iovecs.clear();
        self.iovecs
            .extend(self.slots.iter_mut().map(|slot| libc::iovec {
                iov_base: slot.as_mut_ptr().cast(),
                iov_len: slot.len(),
            }));
        // The pointers are set again on every call: they point into `self`, alive and not
        // moved for the duration of the call.
        let (peers, iovecs) = (self.peers.as_mut_ptr(), self.iovecs.as_mut_ptr());
        for (i, header) in self.headers.iter_mut().enumerate() {
            // SAFETY: `i` is below the length of both vectors (one entry per slot).
            header.msg_hdr.msg_name = unsafe { peers.add(i) }.cast();
            header.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as _;
            header.msg_hdr.msg_iov = unsafe { iovecs.add(i) };
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_flags = 0;
        }
        // SAFETY: `headers` holds `count` entries set as described above.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                count as _,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, header) in self.headers.iter().take(n).enumerate() {
            self.lens[i] = header.msg_len as usize;
            self.peer_lens[i] = header.msg_hdr.msg_namelen;
            self.truncated[i] = header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        }
        Ok(n)
    }

    /// Datagram `i` of the last `recv` and who sent it; `None` when it did not fit its slot
    /// (dropped: no DNS query is that long) or came from no IP address.
    pub fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if self.truncated[i] {
            return None;
        }
        // SAFETY: the kernel wrote a sockaddr of `peer_lens[i]` bytes into `peers[i]`.
        let peer = unsafe { SockAddr::new(self.peers[i], self.peer_lens[i]) }.as_socket()?;
        Some((&self.slots[i][..self.lens[i]], peer))
    }
}

/// Replies gathered during a batch, sent together by `flush`; buffers and the system call's
/// arrays are kept, so a batch allocates nothing once warm.
pub struct SendBatch {
    replies: Vec<Vec<u8>>,
    peers: Vec<SockAddr>,
    queued: usize,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl SendBatch {
    pub fn new(slots: usize) -> Self {
        SendBatch {
            replies: (0..slots).map(|_| Vec::new()).collect(),
            peers: Vec::with_capacity(slots),
            queued: 0,
            iovecs: Vec::with_capacity(slots),
            headers: Vec::with_capacity(slots),
        }
    }

    /// The buffer of the next reply, to be written and then queued with `push` (or left
    /// unqueued: the next call hands it out again). `None` when the batch is full.
    pub fn next_buffer(&mut self) -> Option<&mut Vec<u8>> {
        self.replies.get_mut(self.queued)
    }

    /// Queues the reply just written to `next_buffer` for `peer`.
    pub fn push(&mut self, peer: SocketAddr) {
        debug_assert!(self.queued < self.replies.len());
        self.peers.push(SockAddr::from(peer));
        self.queued += 1;
    }

    /// Sends every queued reply. A reply the kernel refuses (say, an unreachable peer) is
    /// dropped, as a failed `send_to` was; the others still go.
    pub async fn flush(&mut self, socket: &UdpSocket) {
        let mut sent = 0;
        while sent < self.queued {
            let from = sent;
            match socket
                .async_io(Interest::WRITABLE, || {
                    self.send_now(socket.as_raw_fd(), from)
                })
                .await
            {
                Ok(n) => sent += n.max(1),
                Err(_) => sent += 1,
            }
        }
        self.queued = 0;
        self.peers.clear();
    }

    fn send_now(&mut self, fd: i32, from: usize) -> io::Result<usize> {
        self.iovecs.clear();
        self.iovecs.extend(
            self.replies[from..self.queued]
                .iter()
                .map(|reply| libc::iovec {
                    iov_base: reply.as_ptr() as *mut _,
                    iov_len: reply.len(),
                }),
        );
        self.headers.clear();
        let iovecs = self.iovecs.as_mut_ptr();
        for (i, peer) in self.peers[from..self.queued].iter().enumerate() {
            // SAFETY: an all-zero mmsghdr is valid; the pointers set point at `self`'s
            // buffers, which the kernel only reads during the call.
            let mut header: libc::mmsghdr = unsafe { std::mem::zeroed() };
            header.msg_hdr.msg_name = peer.as_ptr() as *mut _;
            header.msg_hdr.msg_namelen = peer.len();
            // SAFETY: `i` is below `iovecs`' length (one per queued reply from `from`).
            header.msg_hdr.msg_iov = unsafe { iovecs.add(i) };
            header.msg_hdr.msg_iovlen = 1;
            self.headers.push(header);
        }
        // SAFETY: `headers` holds initialized entries pointing at live buffers.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as _,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}
