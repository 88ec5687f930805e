//! Consul's snapshot archive around our snapshot file: a gzip-compressed tar holding
//! `meta.json` (Raft's `SnapshotMeta`), `state.bin` and `SHA256SUMS`, in that order, as
//! Consul's `snapshot/archive.go` writes it. Clients and tools that look at the container
//! (the gzip magic, the three names, the checksums, the meta's index and term) see what they
//! expect from Consul; `state.bin` is our own file (`crate::snapshot`), not Consul's msgpack
//! FSM stream, so only Tribune can restore it.
//!
//! Reading accepts the archive and, for files saved before it, a bare Tribune snapshot.

use std::borrow::Cow;
use std::io::Read;

use crate::config::SNAPSHOT_BYTES_MAX;
use crate::snapshot::SnapshotMeta;

const META: &str = "meta.json";
const STATE: &str = "state.bin";
const SUMS: &str = "SHA256SUMS";

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `file` (an encoded Tribune snapshot described by `meta`) as Consul's archive.
pub fn wrap(file: &[u8], meta: &SnapshotMeta) -> Vec<u8> {
    let meta_json = serde_json::json!({
        "Version": 1,
        "ID": meta.id(),
        "Index": meta.index,
        "Term": meta.term,
        "Peers": null,
        "Configuration": {"Servers": []},
        "ConfigurationIndex": 0,
        "Size": file.len(),
    })
    .to_string()
    .into_bytes();
    let sums = format!(
        "{}  {META}\n{}  {STATE}\n",
        sha256_hex(&meta_json),
        sha256_hex(file)
    );
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mtime = meta.created_ms / 1000;
    for (name, bytes) in [
        (META, &meta_json[..]),
        (STATE, file),
        (SUMS, sums.as_bytes()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_cksum();
        // Writing into memory cannot fail.
        tar.append_data(&mut header, name, bytes)
            .expect("tar into memory");
    }
    let gz = tar.into_inner().expect("tar into memory");
    gz.finish().expect("gzip into memory")
}

/// The Tribune snapshot file inside `bytes`: an archive's `state.bin` once every checksum in
/// `SHA256SUMS` matches, or `bytes` itself when it is a bare Tribune snapshot. Decompression
/// stops past `SNAPSHOT_BYTES_MAX` (a gzip bomb costs no more than a large snapshot).
pub fn unwrap(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(bytes));
    }
    let limit = (SNAPSHOT_BYTES_MAX as u64) * 2;
    let gz = flate2::read::GzDecoder::new(bytes).take(limit);
    let mut archive = tar::Archive::new(gz);
    let (mut meta, mut state, mut sums) = (None, None, None);
    let entries = archive
        .entries()
        .map_err(|e| format!("failed to read snapshot archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("failed to read snapshot archive: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| format!("failed to read snapshot archive: {e}"))?
            .to_string_lossy()
            .into_owned();
        let mut content = Vec::new();
        entry
            .read_to_end(&mut content)
            .map_err(|e| format!("failed to read snapshot archive: {e}"))?;
        match name.as_str() {
            META => meta = Some(content),
            STATE => state = Some(content),
            SUMS => sums = Some(content),
            // Consul: "unexpected file %q in snapshot".
            other => return Err(format!("unexpected file {other:?} in snapshot")),
        }
    }
    // Read to the gzip trailer, so that its CRC and length are checked too (a cut archive
    // whose tar ends early is still refused). A stream that used up the whole budget was
    // cut short by it, trailer unread: too large.
    let mut rest = Vec::new();
    let mut gz = archive.into_inner();
    gz.read_to_end(&mut rest)
        .map_err(|e| format!("failed to read snapshot archive: {e}"))?;
    if gz.limit() == 0 {
        return Err("snapshot archive is too large".into());
    }
    let (Some(meta), Some(state), Some(sums)) = (meta, state, sums) else {
        return Err("snapshot archive is missing a file".into());
    };
    let sums = String::from_utf8_lossy(&sums);
    for (name, bytes) in [(META, &meta), (STATE, &state)] {
        let listed = sums.lines().find_map(|line| {
            let (hash, file) = line.split_once("  ")?;
            (file == name).then_some(hash)
        });
        match listed {
            None => return Err(format!("missing hash for {name:?}")),
            Some(hash) if hash != sha256_hex(bytes) => {
                return Err(format!("hash check failed for {name:?}"))
            }
            Some(_) => {}
        }
    }
    Ok(Cow::Owned(state))
}

/// Builds an archive by hand, for tests that need a malformed one.
#[cfg(test)]
fn archive_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, name, *bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{decode_file, encode_file, StateSnapshot};

    fn sample_file() -> (Vec<u8>, SnapshotMeta) {
        let file = encode_file(&StateSnapshot::default(), 42, 3, 1_700_000_000_000);
        let (meta, _) = decode_file(&file).unwrap();
        (file, meta)
    }

    #[test]
    fn an_archive_is_consuls_container_and_round_trips() {
        let (file, meta) = sample_file();
        let archive = wrap(&file, &meta);
        assert_eq!(&archive[..2], &[0x1f, 0x8b], "gzip magic");
        let mut names = Vec::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&archive[..]));
        let mut meta_json = String::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            if name == META {
                entry.read_to_string(&mut meta_json).unwrap();
            }
            names.push(name);
        }
        assert_eq!(names, [META, STATE, SUMS]);
        let meta_json: serde_json::Value = serde_json::from_str(&meta_json).unwrap();
        assert_eq!(
            (meta_json["Index"].clone(), meta_json["Term"].clone()),
            (serde_json::json!(42), serde_json::json!(3))
        );
        assert_eq!(meta_json["ID"], meta.id());
        assert_eq!(unwrap(&archive).unwrap().as_ref(), &file[..]);
        // A bare file (saved before archives) is read as it is.
        assert_eq!(unwrap(&file).unwrap().as_ref(), &file[..]);
    }

    #[test]
    fn a_tampered_incomplete_or_foreign_archive_is_refused() {
        let (file, meta) = sample_file();
        let good_sums = format!(
            "{}  {STATE}\n{}  {META}\n",
            sha256_hex(&file),
            sha256_hex(b"{}")
        );
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                archive_of(&[
                    (META, b"{}"),
                    (STATE, &file[..file.len() - 1]),
                    (SUMS, good_sums.as_bytes()),
                ]),
                "hash check failed for \"state.bin\"",
            ),
            (
                archive_of(&[(META, b"{}"), (STATE, &file)]),
                "snapshot archive is missing a file",
            ),
            (
                archive_of(&[(META, b"{}"), (STATE, &file), (SUMS, b"")]),
                "missing hash for \"meta.json\"",
            ),
            (
                archive_of(&[("evil.sh", b"x")]),
                "unexpected file \"evil.sh\" in snapshot",
            ),
        ];
        for (archive, text) in cases {
            assert_eq!(unwrap(&archive).unwrap_err(), text);
        }
        let mut cut = wrap(&file, &meta);
        cut.truncate(cut.len() / 2);
        assert!(unwrap(&cut).is_err(), "a truncated archive");
    }

    proptest::proptest! {
        /// Restore bodies come from the network: a flipped bit or a cut anywhere is refused
        /// or yields exactly the file, never a panic.
        #[test]
        fn damaged_archives_never_panic(at in 0usize..4096, bit in 0u8..8, cut in 0usize..4096) {
            let (file, meta) = sample_file();
            let mut archive = wrap(&file, &meta);
            let at = at % archive.len();
            archive[at] ^= 1 << bit;
            archive.truncate(archive.len() - cut % archive.len());
            if let Ok(got) = unwrap(&archive) {
                proptest::prop_assert!(got.as_ref() == &file[..] || !got.starts_with(b"TRIBSNAP"));
            }
        }
    }
}
