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

/// The agent's `pid_file`, removed by whichever path ends the process.
static PID_FILE: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Writes the pid file and remembers it for `remove_pid_file`.
pub fn write_pid_file(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(path, std::process::id().to_string())?;
    *PID_FILE.lock().unwrap_or_else(|p| p.into_inner()) = Some(path.to_path_buf());
    Ok(())
}

/// Removes the pid file, if one was written (before any `process::exit`, and at the end of
/// `run`).
pub fn remove_pid_file() {
    if let Some(path) = PID_FILE.lock().unwrap_or_else(|p| p.into_inner()).take() {
        let _ = std::fs::remove_file(path);
    }
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

/// `/v1/agent/host`: the host as Consul's gopsutil reports it (memory, CPUs, host facts, and
/// the disk holding `data_dir`), from `/proc` and statvfs(3). What cannot be read is left at
/// zero and named in `Errors`.
pub fn host_info(data_dir: Option<&std::path::Path>) -> serde_json::Value {
    use serde_json::json;
    let mut errors: Vec<String> = Vec::new();
    let read = |path: &str, errors: &mut Vec<String>| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            errors.push(format!("{path}: {e}"));
            String::new()
        })
    };
    let meminfo = read("/proc/meminfo", &mut errors);
    let kib = |name: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let (total, available, free) = (kib("MemTotal"), kib("MemAvailable"), kib("MemFree"));
    let used = total.saturating_sub(available);
    let percent = |part: u64, whole: u64| match whole {
        0 => 0.0,
        w => part as f64 * 100.0 / w as f64,
    };
    let cpuinfo = read("/proc/cpuinfo", &mut errors);
    let cpus: Vec<serde_json::Value> = cpuinfo
        .split("\n\n")
        .filter(|block| block.contains("processor"))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        (k.trim() == name).then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            };
            json!({
                "cpu": field("processor").parse::<u64>().unwrap_or(0),
                "vendorId": field("vendor_id"),
                "family": field("cpu family"),
                "model": field("model"),
                "stepping": field("stepping").parse::<u64>().unwrap_or(0),
                "physicalId": field("physical id"),
                "coreId": field("core id"),
                "cores": 1,
                "modelName": field("model name"),
                "mhz": field("cpu MHz").parse::<f64>().unwrap_or(0.0),
                "cacheSize": field("cache size").trim_end_matches(" KB").parse::<u64>().unwrap_or(0),
                "flags": field("flags").split_whitespace().collect::<Vec<_>>(),
                "microcode": field("microcode"),
            })
        })
        .collect();
    let uptime = read("/proc/uptime", &mut errors)
        .split_whitespace()
        .next()
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    let now = unix_ms() / 1000;
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
                .count()
        })
        .unwrap_or(0);
    let kernel = read("/proc/sys/kernel/osrelease", &mut errors)
        .trim()
        .to_string();
    let disk_path = data_dir.unwrap_or(std::path::Path::new("/"));
    let (disk_total, disk_free) = disk_space(disk_path).unwrap_or_else(|e| {
        errors.push(format!("{}: {e}", disk_path.display()));
        (0, 0)
    });
    let disk_used = disk_total.saturating_sub(disk_free);
    json!({
        "Memory": {
            "total": total, "available": available, "used": used,
            "usedPercent": percent(used, total), "free": free,
        },
        "CPU": cpus,
        "Host": {
            "hostname": host_name(), "uptime": uptime, "bootTime": now.saturating_sub(uptime),
            "procs": procs, "os": std::env::consts::OS, "platform": "", "platformFamily": "",
            "platformVersion": "", "kernelVersion": kernel, "kernelArch": std::env::consts::ARCH,
            "virtualizationSystem": "", "virtualizationRole": "", "hostId": "",
        },
        "Disk": {
            "path": disk_path.display().to_string(), "fstype": "", "total": disk_total,
            "free": disk_free, "used": disk_used, "usedPercent": percent(disk_used, disk_total),
        },
        "CollectionTime": unix_ms() as u128 * 1_000_000,
        "Errors": if errors.is_empty() { serde_json::Value::Null } else { json!(errors) },
    })
}

/// (total, free) bytes of the filesystem holding `path`.
#[allow(unsafe_code)]
fn disk_space(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs we own.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = stat.f_frsize;
    Ok((stat.f_blocks * block, stat.f_bavail * block))
}

/// Background work (a snapshot being encoded and written) yields the CPU to the threads that
/// answer: the calling thread's nice value is set to 10 (from the default 0). Where the
/// kernel refuses, nothing changes (the work is still correct, only less polite).
pub fn lower_thread_priority() {
    // SAFETY: gettid and setpriority take no pointers; PRIO_PROCESS with a thread id sets
    // that thread's nice value on Linux.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does at start for
/// every Go program (so for Consul). Failure changes nothing.
pub fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: both calls only read or write the `rlimit` passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
