//! The only module that makes syscalls for the Raft log and the listeners.
#![allow(unsafe_code)]

pub mod host;
pub mod http1;
pub mod https;
pub mod listen;
pub mod log_files;
pub mod logging;
pub mod rpc_tls;
pub mod snapshot_archive;
pub mod systemd;
pub mod udp_batch;

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, never a
/// torn one (the gossip keyring: a torn file would lock the agent out of its pool). The file
/// is the owner's alone (0600): what goes through here holds secrets (keys, ACL tokens).
pub fn write_file_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp); // a leftover could carry wider permissions
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
