//! Segment files of the Raft log, written through io_uring with group commit.
//!
//! Hand-written rather than a crate: the log's framing and its one-fdatasync-per-batch
//! contract are the core of our write throughput, and no crate offers both over io_uring.
//!
//! Layout: `<dir>/<seq:020>.seg`, sequence numbers increasing. Every `append` writes one
//! contiguous buffer of frames at the end of the newest segment and makes it durable with
//! one fdatasync, however many records the buffer holds (group commit).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::config::LOG_SEGMENT_BYTES_MAX;
use crate::raft::record::{self, LogRecord};

/// How appends reach the disk.
enum Writer {
    /// One ring per log; write and fdatasync are linked and submitted together.
    Uring(Box<io_uring::IoUring>),
    /// `pwrite` + `fdatasync`, when io_uring is unavailable (seccomp, sysctl).
    Plain,
}

/// The open log: newest segment and where its valid data ends.
pub struct LogFiles {
    dir: PathBuf,
    file: File,
    seq: u64,
    len: u64,
    /// Bytes appended since the last rewrite (the snapshot heading the log not counted: it is
    /// the state, not the log's growth). After a restart: every live segment's bytes.
    appended: u64,
    writer: Writer,
}

/// A segment whose head (a snapshot record: nearly all of its bytes) was written and synced by
/// `LogFiles::prepare_segment`, off the Raft core's thread; `LogFiles::adopt` finishes it.
pub struct PreparedSegment {
    path: PathBuf,
    file: File,
    len: u64,
    /// The snapshot record's bytes: the rest counts as log written since the compaction.
    head_len: u64,
}

/// A prepared segment that is not adopted (a newer snapshot overtook it, a write failed, the
/// core stopped) is removed, so failed attempts do not fill the disk.
impl Drop for PreparedSegment {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl PreparedSegment {
    /// Appends whole frames after what is written (not yet durable: see `sync`).
    pub fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        self.file.write_all_at(frames, self.len)?;
        self.len += frames.len() as u64;
        Ok(())
    }

    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

/// Suffix of a prepared segment not yet adopted: never replayed, removed by `open`.
const PREPARED_SUFFIX: &str = ".prepared";

/// What recovery found.
pub struct Recovered {
    pub files: LogFiles,
    pub records: Vec<LogRecord>,
    /// Human-readable notes (torn tail truncated, segments dropped), logged by the caller.
    pub notes: Vec<String>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads `path` whole into a 16-aligned buffer, so that payloads are rkyv-aligned.
fn read_aligned(path: &Path) -> io::Result<rkyv::util::AlignedVec<16>> {
    let file = File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut buf = rkyv::util::AlignedVec::<16>::with_capacity(len);
    buf.resize(len, 0);
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

impl LogFiles {
    /// Opens (creating if needed) the log in `dir` and replays it. A torn or corrupt tail
    /// is cut off at the last good record; segments after a damaged one are removed, since
    /// records after a hole cannot be trusted to follow it.
    pub fn open(dir: &Path) -> io::Result<Recovered> {
        fs::create_dir_all(dir)?;
        let mut notes = Vec::new();
        // A prepared segment a crash left before `adopt`: the log it was to replace is whole.
        for entry in fs::read_dir(dir)?.filter_map(|e| e.ok()) {
            if entry
                .file_name()
                .to_string_lossy()
                .ends_with(PREPARED_SUFFIX)
            {
                notes.push(format!(
                    "{} was never adopted; removed",
                    entry.path().display()
                ));
                fs::remove_file(entry.path())?;
            }
        }
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let mut records = Vec::new();
        let mut last = None;
        let mut appended = 0;
        // Segments read since the newest compaction's (see below).
        let mut stale = Vec::new();
        let mut snapshot_bytes = 0;
        for (i, &seq) in seqs.iter().enumerate() {
            let path = segment_path(dir, seq);
            let buf = read_aligned(&path)?;
            let scan = record::scan(&buf);
            if matches!(scan.records.first(), Some(LogRecord::Snapshot { .. })) {
                // A compaction's segment supersedes every older one. Older segments still
                // here are what a crash left while deleting them, in any subset (the
                // deletions are not ordered on disk): replayed, a partial old log would
                // start mid-way and could not follow on. Drop them.
                for old in std::mem::take(&mut stale) {
                    notes.push(format!(
                        "log segment {old} precedes a compaction's; removed"
                    ));
                    fs::remove_file(segment_path(dir, old))?;
                }
                records.clear();
                appended = 0;
                // The snapshot is the state, not the log's growth (`bytes_since_compaction`).
                if let Some(LogRecord::Snapshot { data, .. }) = scan.records.first() {
                    snapshot_bytes = data.len() as u64;
                }
            }
            stale.push(seq);
            records.extend(scan.records);
            last = Some((seq, scan.valid_bytes as u64));
            appended += scan.valid_bytes as u64;
            if let Some(why) = scan.stopped {
                notes.push(format!(
                    "log segment {}: {why}; truncated to {} bytes",
                    path.display(),
                    scan.valid_bytes
                ));
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(scan.valid_bytes as u64)?;
                for &later in &seqs[i + 1..] {
                    notes.push(format!(
                        "log segment {later} follows a damaged one; removed"
                    ));
                    fs::remove_file(segment_path(dir, later))?;
                }
                break;
            }
        }
        let appended = appended.saturating_sub(snapshot_bytes);
        let (seq, len) = last.unwrap_or((1, 0));
        // Never truncate: recovery has already cut the file to its valid length.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(segment_path(dir, seq))?;
        file.sync_all()?;
        sync_dir(dir)?;
        let writer = match io_uring::IoUring::new(8) {
            Ok(ring) => Writer::Uring(Box::new(ring)),
            Err(e) => {
                notes.push(format!(
                    "io_uring unavailable ({e}); using pwrite + fdatasync"
                ));
                Writer::Plain
            }
        };
        Ok(Recovered {
            files: LogFiles {
                dir: dir.to_path_buf(),
                file,
                seq,
                len,
                appended,
                writer,
            },
            records,
            notes,
        })
    }

    /// True when appends go through io_uring.
    pub fn uses_io_uring(&self) -> bool {
        matches!(self.writer, Writer::Uring(_))
    }

    /// Writes `frames` (a whole number of frames) at the end of the log and makes them
    /// durable with a single fdatasync. Returns only once they are on disk.
    pub fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        if frames.is_empty() {
            return Ok(());
        }
        if self.len > 0 && self.len + frames.len() as u64 > LOG_SEGMENT_BYTES_MAX {
            self.rotate()?;
        }
        let offset = self.len;
        match &mut self.writer {
            Writer::Uring(ring) => uring_write_sync(ring, &self.file, frames, offset)?,
            Writer::Plain => {
                self.file.write_all_at(frames, offset)?;
                self.file.sync_data()?;
            }
        }
        self.len += frames.len() as u64;
        self.appended += frames.len() as u64;
        Ok(())
    }

    /// Bytes of entries (and state records) written since the last compaction or install;
    /// the snapshot at the head of the log is not counted.
    pub fn bytes_since_compaction(&self) -> u64 {
        self.appended
    }

    /// Starts a fresh segment holding exactly `frames` (a snapshot and what follows it, see
    /// `LogStore::compact`), makes it durable, then deletes every older segment. A crash
    /// before the deletion leaves old segments that replay harmlessly: the snapshot record
    /// supersedes everything before it.
    pub fn replace(&mut self, frames: &[u8]) -> io::Result<()> {
        let old_last = self.seq;
        self.rotate()?;
        self.file.write_all_at(frames, 0)?;
        self.file.sync_all()?;
        self.len = frames.len() as u64;
        // Nearly all of it the snapshot: the log starts again from nothing.
        self.appended = 0;
        self.remove_segments_through(old_last)
    }

    /// Where the segments live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `head` (the framed snapshot record of a compaction) to a new file in `dir` and
    /// makes it durable. Runs on any thread: the Raft core keeps appending meanwhile, and only
    /// `adopt` (a small write) happens on its thread.
    pub fn prepare_segment(dir: &Path, head: &[u8]) -> io::Result<PreparedSegment> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}{PREPARED_SUFFIX}", std::process::id()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        // Owned from here: a failed write below removes the file (`Drop`).
        let prepared = PreparedSegment {
            path,
            file,
            len: head.len() as u64,
            head_len: head.len() as u64,
        };
        prepared.file.write_all_at(head, 0)?;
        prepared.file.sync_all()?;
        Ok(prepared)
    }

    /// Makes a prepared segment the log: appends `tail` (the records after its head: the
    /// configuration, the hard state and the entries after the snapshot), makes it durable,
    /// renames it into place as the newest segment, then deletes every older one. A crash
    /// before the rename leaves the old log whole (the prepared file is removed by `open`);
    /// after it, old segments replay harmlessly, as for `replace`.
    pub fn adopt(&mut self, prepared: PreparedSegment, tail: &[u8]) -> io::Result<()> {
        let old_last = self.seq;
        let mut prepared = prepared;
        prepared.file.write_all_at(tail, prepared.len)?;
        prepared.file.sync_all()?;
        let seq = self.seq + 1;
        fs::rename(&prepared.path, segment_path(&self.dir, seq))?;
        // Adopted: `Drop` must not remove it now.
        let (len, head_len) = (prepared.len, prepared.head_len);
        std::mem::take(&mut prepared.path);
        sync_dir(&self.dir)?;
        let file = prepared.file.try_clone()?;
        drop(prepared);
        self.file = file;
        self.seq = seq;
        self.len = len + tail.len() as u64;
        self.appended = self.len - head_len;
        self.remove_segments_through(old_last)
    }

    fn remove_segments_through(&self, last: u64) -> io::Result<()> {
        for entry in fs::read_dir(&self.dir)?.filter_map(|e| e.ok()) {
            let seq: Option<u64> = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse().ok());
            if seq.is_some_and(|s| s <= last) {
                fs::remove_file(entry.path())?;
            }
        }
        sync_dir(&self.dir)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        let seq = self.seq + 1;
        let file = OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(segment_path(&self.dir, seq))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.seq = seq;
        self.len = 0;
        Ok(())
    }
}

/// One submission: a write linked to an fdatasync, so the sync starts only after the write
/// succeeded and both complete before we return. A short write (rare on regular files) is
/// finished with pwrite and synced again.
fn uring_write_sync(
    ring: &mut io_uring::IoUring,
    file: &File,
    buf: &[u8],
    offset: u64,
) -> io::Result<()> {
    use io_uring::{opcode, squeue, types};
    let fd = types::Fd(file.as_raw_fd());
    let write = opcode::Write::new(fd, buf.as_ptr(), buf.len() as u32)
        .offset(offset)
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(1);
    let sync = opcode::Fsync::new(fd)
        .flags(types::FsyncFlags::DATASYNC)
        .build()
        .user_data(2);
    // SAFETY: `buf` and the fd outlive the submission: we wait for both completions below
    // before returning, and nothing else uses this ring.
    unsafe {
        let mut sq = ring.submission();
        sq.push(&write)
            .map_err(|_| io::Error::other("io_uring queue full"))?;
        sq.push(&sync)
            .map_err(|_| io::Error::other("io_uring queue full"))?;
    }
    ring.submit_and_wait(2)?;
    let (mut written, mut synced) = (None, None);
    for cqe in ring.completion() {
        match cqe.user_data() {
            1 => written = Some(cqe.result()),
            _ => synced = Some(cqe.result()),
        }
    }
    let written = written.ok_or_else(|| io::Error::other("io_uring lost the write completion"))?;
    if written < 0 {
        return Err(io::Error::from_raw_os_error(-written));
    }
    let written = written as usize;
    if written < buf.len() {
        file.write_all_at(&buf[written..], offset + written as u64)?;
        return file.sync_data();
    }
    match synced {
        Some(r) if r < 0 => Err(io::Error::from_raw_os_error(-r)),
        Some(_) => Ok(()),
        None => Err(io::Error::other("io_uring lost the fsync completion")),
    }
}

#[cfg(test)]
#[path = "log_files_tests.rs"]
mod tests;
