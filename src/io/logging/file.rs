//! `log_file` as Consul's `logging.LogFile` keeps it: the active file carries the configured
//! name (`consul.log` when `log_file` names a directory); a rotation renames it to
//! `<name>-<unix nanoseconds><ext>` and opens a fresh one. It rotates when
//! `log_rotate_duration` has passed since the file was opened or when `log_rotate_bytes` (if
//! set) were written; `log_rotate_max_files` keeps that many rotated files (0 keeps all, -1
//! keeps none).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How `log_file` and the rotation keys configure the file.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFileConfig {
    /// `log_file` as given: a directory (ends with `/` or exists as one) or a file path.
    pub path: PathBuf,
    pub rotate_duration: Duration,
    /// 0: no size limit.
    pub rotate_bytes: u64,
    /// 0: keep every rotated file; -1: keep none.
    pub rotate_max_files: i64,
}

pub struct RotatingFile {
    dir: PathBuf,
    /// `consul` of `consul.log`.
    stem: String,
    /// `.log` (or empty).
    ext: String,
    file: File,
    opened: Instant,
    written: u64,
    config: LogFileConfig,
}

impl RotatingFile {
    /// Opens (appending to) the active file, creating its directory. The error names the path.
    pub fn open(config: LogFileConfig) -> Result<RotatingFile, String> {
        let given = config.path.to_string_lossy();
        let is_dir = given.ends_with('/') || config.path.is_dir();
        let (dir, name) = if is_dir {
            (config.path.clone(), "consul.log".to_string())
        } else {
            let dir = config
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            let name = config
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "consul.log".into());
            (dir, name)
        };
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
            _ => (name.clone(), String::new()),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("Failed to setup logging: {}: {e}", dir.display()))?;
        let file = open_active(&dir.join(&name))?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            dir,
            stem,
            ext,
            file,
            opened: Instant::now(),
            written,
            config,
        })
    }

    fn active(&self) -> PathBuf {
        self.dir.join(format!("{}{}", self.stem, self.ext))
    }

    /// Appends one line, rotating first when the file is due.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let by_size = self.config.rotate_bytes > 0
            && self.written + line.len() as u64 > self.config.rotate_bytes
            && self.written > 0;
        if by_size || self.opened.elapsed() >= self.config.rotate_duration {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.written += line.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let archived = self.dir.join(format!("{}-{now_ns}{}", self.stem, self.ext));
        std::fs::rename(self.active(), archived)?;
        self.file = open_active(&self.active()).map_err(std::io::Error::other)?;
        self.opened = Instant::now();
        self.written = 0;
        self.prune()
    }

    /// Deletes the oldest rotated files beyond `rotate_max_files`.
    fn prune(&self) -> std::io::Result<()> {
        let keep = match self.config.rotate_max_files {
            0 => return Ok(()),
            n if n < 0 => 0,
            n => n as usize,
        };
        let prefix = format!("{}-", self.stem);
        let mut rotated: Vec<(u128, PathBuf)> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let stamp = name.strip_prefix(&prefix)?.strip_suffix(&self.ext)?;
                Some((stamp.parse().ok()?, e.path()))
            })
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(keep);
        for (_, path) in &rotated[..excess] {
            std::fs::remove_file(path)?;
        }
        Ok(())
    }
}

fn open_active(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(|e| format!("Failed to setup logging: {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = RotatingFile::open(LogFileConfig {
            path: dir.path().join("agent.log"),
            rotate_duration: Duration::from_secs(3600),
            rotate_bytes: 10,
            rotate_max_files: 2,
        })
        .unwrap();
        for i in 0..5 {
            f.write_line(format!("line {i}\n").as_bytes()).unwrap();
        }
        let listed = names(dir.path());
        assert_eq!(listed.len(), 3, "active + 2 kept: {listed:?}");
        assert!(listed.contains(&"agent.log".to_string()));
        assert!(listed
            .iter()
            .filter(|n| *n != "agent.log")
            .all(|n| n.starts_with("agent-") && n.ends_with(".log")));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("agent.log")).unwrap(),
            "line 4\n"
        );
    }

    #[test]
    fn a_directory_gets_consul_log_and_an_elapsed_duration_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs/");
        let mut f = RotatingFile::open(LogFileConfig {
            path: PathBuf::from(format!("{}/", logs.display())),
            rotate_duration: Duration::ZERO,
            rotate_bytes: 0,
            rotate_max_files: -1,
        })
        .unwrap();
        f.write_line(b"a\n").unwrap();
        f.write_line(b"b\n").unwrap();
        assert_eq!(names(&logs), vec!["consul.log"]);
        assert_eq!(
            std::fs::read_to_string(logs.join("consul.log")).unwrap(),
            "b\n"
        );
    }

    #[test]
    fn an_unwritable_directory_is_a_clear_error() {
        let err = RotatingFile::open(LogFileConfig {
            path: PathBuf::from("/proc/tribune-nope/consul.log"),
            rotate_duration: Duration::from_secs(1),
            rotate_bytes: 0,
            rotate_max_files: 0,
        })
        .err()
        .unwrap();
        assert!(
            err.starts_with("Failed to setup logging: /proc/tribune-nope"),
            "{err}"
        );
    }
}
