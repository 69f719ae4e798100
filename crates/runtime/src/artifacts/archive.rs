//! Archives: proving a downloaded archive reads to the end, unpacking a source archive, and
//! packing a folder into a deterministic `.tar.gz` — the same files always give the same
//! bytes (for one build of herd), so an assembled distribution has a stable SHA-256.
//!
//! Determinism: entries sorted by path; one top-level folder; every mtime
//! [`FIXED_MTIME`]; uid/gid 0 and no user or group names; mode 0755 for folders, for files
//! under a `bin/` or `sbin/` folder and for files already executable, 0644 for the rest;
//! the gzip header carries mtime 0 and no file name. All of this is blocking IO: call it from
//! `spawn_blocking`.

use super::download::{Fetched, Hasher};
use flate2::Compression;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mtime of every entry of a packed archive: 2000-01-01T00:00:00Z (GNU tar warns about
/// "implausibly old" 1970 timestamps).
pub const FIXED_MTIME: u64 = 946_684_800;

/// Archive formats herd can check and unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArchiveKind {
    /// `.tar.gz` / `.tgz`.
    TarGz,
    /// `.tar`.
    Tar,
    /// `.zip`.
    Zip,
}

impl ArchiveKind {
    /// The format a file name implies (as the Mesos fetcher decides it).
    pub(crate) fn of(file_name: &str) -> Option<Self> {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(Self::TarGz)
        } else if lower.ends_with(".tar") {
            Some(Self::Tar)
        } else if lower.ends_with(".zip") {
            Some(Self::Zip)
        } else {
            None
        }
    }
}

/// Reads every entry of the archive at `path` to its end; the error says what is wrong.
pub(crate) fn check(path: &Path, kind: ArchiveKind) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let read_tar = |reader: Box<dyn Read>| -> Result<u64, String> {
        let mut archive = tar::Archive::new(reader);
        let mut entries = 0;
        for entry in archive.entries().map_err(|e| e.to_string())? {
            let mut entry = entry.map_err(|e| format!("entry {entries}: {e}"))?;
            let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
            io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
            entries += 1;
        }
        if entries == 0 {
            return Err("the archive has no entries".to_owned());
        }
        Ok(entries)
    };
    match kind {
        ArchiveKind::TarGz => {
            let mut decoder = flate2::read::GzDecoder::new(BufReader::new(file));
            let entries = read_tar(Box::new(&mut decoder))?;
            // Whatever follows the tar's end blocks must still be valid gzip.
            io::copy(&mut decoder, &mut io::sink()).map_err(|e| e.to_string())?;
            Ok(entries)
        }
        ArchiveKind::Tar => read_tar(Box::new(BufReader::new(file))),
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| format!("entry {i}: {e}"))?;
                let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {i}"));
                io::copy(&mut entry, &mut io::sink()).map_err(|e| format!("{name}: {e}"))?;
            }
            if zip.is_empty() {
                return Err("the archive has no entries".to_owned());
            }
            Ok(zip.len() as u64)
        }
    }
}

/// Unpacks an archive into `dest` (which must exist). Entries that would land outside
/// `dest` are refused by the readers.
pub(crate) fn unpack(path: &Path, kind: ArchiveKind, dest: &Path) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    match kind {
        ArchiveKind::TarGz | ArchiveKind::Tar => {
            let reader: Box<dyn Read> = if kind == ArchiveKind::TarGz {
                Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
            } else {
                Box::new(BufReader::new(file))
            };
            let mut archive = tar::Archive::new(reader);
            archive.set_preserve_permissions(true);
            archive.set_overwrite(true);
            archive.unpack(dest).map_err(|e| e.to_string())
        }
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
            zip.extract(dest).map_err(|e| e.to_string())
        }
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What goes in the archive at a relative path.
enum Item {
    Dir,
    File { executable: bool },
    Symlink(PathBuf),
}

/// Every file, folder and symlink under `root`, by relative path (`/`-separated), sorted.
fn walk(root: &Path) -> io::Result<Vec<(String, PathBuf, Item)>> {
    let mut items = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let rel_path = rel.join(entry.file_name());
            let name = rel_path.to_str().map(str::to_owned).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("{} is not UTF-8", rel_path.display()))
            })?;
            let meta = fs::symlink_metadata(entry.path())?;
            let item = if meta.is_dir() {
                pending.push(rel_path.clone());
                Item::Dir
            } else if meta.file_type().is_symlink() {
                Item::Symlink(fs::read_link(entry.path())?)
            } else {
                Item::File { executable: meta.permissions().mode() & 0o100 != 0 }
            };
            items.push((name, entry.path(), item));
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(items)
}

/// Whether a file at `rel` (relative, `/`-separated) is under a `bin/` or `sbin/` folder.
fn in_bin_dir(rel: &str) -> bool {
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    parts.iter().any(|p| *p == "bin" || *p == "sbin")
}

/// Packs everything under `root` into `dest` as a deterministic `.tar.gz` whose entries all
/// live under the folder `top/`. Returns the archive's digests and size.
pub(crate) fn pack(root: &Path, top: &str, dest: &Path) -> io::Result<Fetched> {
    let file = File::create(dest)?;
    let hashing = HashingWriter { inner: BufWriter::new(file), hasher: Hasher::new(false) };
    let gz = flate2::GzBuilder::new().mtime(0).write(hashing, Compression::default());
    let mut tar = tar::Builder::new(gz);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(FIXED_MTIME);
        h
    };
    tar.append_data(&mut header(tar::EntryType::Directory, 0o755, 0), format!("{top}/"), io::empty())?;
    for (rel, path, item) in walk(root)? {
        let name = format!("{top}/{rel}");
        match item {
            Item::Dir => tar.append_data(
                &mut header(tar::EntryType::Directory, 0o755, 0),
                format!("{name}/"),
                io::empty(),
            )?,
            Item::File { executable } => {
                let source = File::open(&path)?;
                let size = source.metadata()?.len();
                let mode = if executable || in_bin_dir(&rel) { 0o755 } else { 0o644 };
                // Exactly `size` bytes: a file that grows meanwhile must not corrupt the tar.
                tar.append_data(&mut header(tar::EntryType::Regular, mode, size), &name, source.take(size))?;
            }
            Item::Symlink(target) => {
                tar.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), &name, target)?;
            }
        }
    }
    let gz = tar.into_inner()?;
    let mut hashing = gz.finish()?;
    hashing.flush()?;
    let HashingWriter { inner, hasher } = hashing;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(hasher.finish())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("libs")).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::write(root.join("libs/b.jar"), b"bbb").unwrap();
        fs::write(root.join("libs/a.jar"), b"aaaa").unwrap();
        fs::write(root.join("bin/start"), b"#!/bin/sh\n").unwrap();
        fs::write(root.join("README"), b"hi").unwrap();
        std::os::unix::fs::symlink("libs/a.jar", root.join("current.jar")).unwrap();
    }

    #[test]
    fn packing_the_same_files_twice_gives_the_same_bytes() {
        let work = tempfile::tempdir().unwrap();
        let (one, two) = (work.path().join("one"), work.path().join("two"));
        tree(&one);
        std::thread::sleep(std::time::Duration::from_millis(20));
        tree(&two);
        // Different on-disk modes and times must not matter.
        fs::set_permissions(two.join("README"), fs::Permissions::from_mode(0o600)).unwrap();
        let a = pack(&one, "demo-1.0", &work.path().join("a.tar.gz")).unwrap();
        let b = pack(&two, "demo-1.0", &work.path().join("b.tar.gz")).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(
            fs::read(work.path().join("a.tar.gz")).unwrap(),
            fs::read(work.path().join("b.tar.gz")).unwrap()
        );
        let c = pack(&one, "demo-1.1", &work.path().join("c.tar.gz")).unwrap();
        assert_ne!(a.sha256, c.sha256, "the top folder is part of the archive");
    }

    #[test]
    fn a_packed_archive_has_one_sorted_top_folder_fixed_times_and_modes() {
        let work = tempfile::tempdir().unwrap();
        tree(&work.path().join("src"));
        let dest = work.path().join("demo.tar.gz");
        let fetched = pack(&work.path().join("src"), "demo-1.0", &dest).unwrap();
        assert_eq!(fetched.size, fs::metadata(&dest).unwrap().len());
        let gz = fs::read(&dest).unwrap();
        assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip header mtime is 0");
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (FIXED_MTIME, 0, 0));
            seen.push((entry.path().unwrap().display().to_string(), h.mode().unwrap()));
        }
        let expected = [
            ("demo-1.0/", 0o755),
            ("demo-1.0/README", 0o644),
            ("demo-1.0/bin", 0o755),
            ("demo-1.0/bin/start", 0o755),
            ("demo-1.0/current.jar", 0o777),
            ("demo-1.0/empty", 0o755),
            ("demo-1.0/libs", 0o755),
            ("demo-1.0/libs/a.jar", 0o644),
            ("demo-1.0/libs/b.jar", 0o644),
        ];
        let seen: Vec<(&str, u32)> = seen.iter().map(|(p, m)| (p.trim_end_matches('/'), *m)).collect();
        let expected: Vec<(&str, u32)> =
            expected.iter().map(|(p, m)| (p.trim_end_matches('/'), *m)).collect();
        assert_eq!(seen, expected);
        assert_eq!(check(&dest, ArchiveKind::TarGz), Ok(9));
    }

    #[test]
    fn a_cut_or_garbled_archive_fails_the_check() {
        let work = tempfile::tempdir().unwrap();
        tree(&work.path().join("src"));
        let good = work.path().join("good.tar.gz");
        pack(&work.path().join("src"), "demo", &good).unwrap();
        let bytes = fs::read(&good).unwrap();
        let cut = work.path().join("cut.tar.gz");
        fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(check(&cut, ArchiveKind::TarGz).is_err());
        let garbage = work.path().join("garbage.zip");
        fs::write(&garbage, b"<html>not found</html>").unwrap();
        assert!(check(&garbage, ArchiveKind::Zip).is_err());
        assert!(check(&garbage, ArchiveKind::TarGz).is_err());
        let empty = work.path().join("empty.tar");
        fs::write(&empty, [0u8; 1024]).unwrap();
        assert_eq!(check(&empty, ArchiveKind::Tar), Err("the archive has no entries".to_owned()));
    }

    #[test]
    fn archive_kinds_follow_the_file_name() {
        assert_eq!(ArchiveKind::of("a.tar.gz"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::of("A.TGZ"), Some(ArchiveKind::TarGz));
        assert_eq!(ArchiveKind::of("a.tar"), Some(ArchiveKind::Tar));
        assert_eq!(ArchiveKind::of("a.zip"), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::of("a.jar"), None);
        assert!(
            in_bin_dir("bin/x") && in_bin_dir("deps/sbin/x") && !in_bin_dir("bin") && !in_bin_dir("binx/y")
        );
    }
}
