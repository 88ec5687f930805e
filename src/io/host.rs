//! What the agent reads of its host: its name, the cores it may use, its clock.

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Cores this process may run on (respects `taskset`).
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The host name (`/proc/sys/kernel/hostname`), as Consul names a node by default.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// This process's resident memory (bytes) and thread count, from `/proc/self/stat`
/// (zeros where it cannot be read).
pub fn process_usage() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0, 0);
    };
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let page = 4096; // sysconf(_SC_PAGESIZE) on the platforms we run on
    (field(24) * page, field(20))
}

/// A random (version-4 style) UUID from the OS's generator: node IDs, session IDs.
pub fn random_uuid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// Sends SIGTERM to a child process we started (`tribune lock`'s graceful kill).
pub fn terminate(pid: u32) {
    // SAFETY: kill(2) takes plain integers; a pid of ours that already exited is ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

static TERMINATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_termination(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    TERMINATING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// From now on SIGINT and SIGTERM only raise a flag (`terminating`), so a command that holds
/// something (`tribune lock`) can stop its child and let go before it exits.
pub fn catch_termination() {
    let handler = on_termination as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// True once SIGINT or SIGTERM arrived after `catch_termination`.
pub fn terminating() -> bool {
    TERMINATING.load(std::sync::atomic::Ordering::SeqCst)
}
