//! Listening sockets shared by every shard through SO_REUSEPORT.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// A non-blocking TCP listener with SO_REUSEPORT, so each shard can own one on the same port
/// and the kernel spreads connections across them.
pub fn reuseport_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A non-blocking UDP socket with SO_REUSEPORT, one per shard on the DNS port.
pub fn reuseport_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Connects from `local` (port 0): traffic between agents leaves from the agent's `bind`
/// address, as Consul's does, so that a multi-homed host (or a test partitioning 127.0.0.x
/// addresses) sees the address the agent advertises.
pub async fn connect_from(
    local: std::net::IpAddr,
    to: SocketAddr,
) -> io::Result<tokio::net::TcpStream> {
    let socket = if to.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    if local.is_ipv4() == to.is_ipv4() && !local.is_unspecified() {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    socket.connect(to).await
}
