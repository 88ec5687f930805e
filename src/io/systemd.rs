//! systemd's readiness protocol (`Type=notify`): one datagram per state change to the unix
//! socket named by `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Written
//! by hand: it is a datagram send, and without `NOTIFY_SOCKET` nothing happens.

use std::os::unix::net::UnixDatagram;

/// `READY=1`: the agent serves (sent once the HTTP API answers).
pub const READY: &str = "READY=1";
/// `STOPPING=1`: shutdown has begun.
pub const STOPPING: &str = "STOPPING=1";
/// `RELOADING=1`: a reload has begun (followed by `READY=1` when done).
pub const RELOADING: &str = "RELOADING=1";

/// Sends `state` to the service manager, if there is one. Errors are returned for the log; an
/// agent without systemd (no `NOTIFY_SOCKET`) gets `Ok(false)`.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), std::path::Path::new(&target))?;
    }
    Ok(true)
}
