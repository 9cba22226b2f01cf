//! Atomic file writes through a small writer abstraction: the bytes go to a temporary file
//! beside the target, which is renamed over the target only once it is complete, so a reader
//! sees the old file or the new one, never part of one. A failed write removes its temporary
//! file and says which stage failed, how many bytes were being written, and whether the disk
//! was full. The [`Writer`] is the file system in the program; tests give one that fails.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the bytes of a file go.
pub trait Writer: std::fmt::Debug + Send + Sync {
    /// Create (or truncate) `path`, write `bytes` and flush them to the disk.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()>;
}

/// The file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fs;

impl Writer for Fs {
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    }
}

/// Which part of an atomic write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Writing the temporary file.
    Write,
    /// Renaming the complete temporary file over the target.
    Rename,
}

/// Why an atomic write failed. The target is untouched and the temporary file is gone.
#[derive(Debug)]
pub struct WriteError {
    pub path: PathBuf,
    pub stage: Stage,
    /// The size of the file that was being written.
    pub bytes: usize,
    pub source: std::io::Error,
}

impl WriteError {
    /// Whether the disk (or the quota) was full.
    pub fn disk_full(&self) -> bool {
        is_disk_full(&self.source)
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.path.display();
        let n = self.bytes;
        match (self.stage, self.disk_full()) {
            (_, true) => write!(
                f,
                "{p}: cannot write: the disk is full ({n} bytes needed); the previous file is kept"
            ),
            (Stage::Write, false) => write!(
                f,
                "{p}: cannot write {n} bytes: {}; the previous file is kept",
                self.source
            ),
            (Stage::Rename, false) => write!(
                f,
                "{p}: cannot replace it with the written file ({n} bytes): {}; the previous file is kept",
                self.source
            ),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The temporary file a write of `path` goes through: `.<name>.<pid>.tmp` beside it.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().to_string());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Whether a file name is one of [`temp_path`]'s.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.len() > 5
}

/// Write `bytes` to `path` atomically through `writer`; on failure remove the temporary
/// file and leave `path` as it was.
pub fn write_atomic(path: &Path, bytes: &[u8], writer: &dyn Writer) -> Result<(), WriteError> {
    let tmp = temp_path(path);
    let fail = |stage, source| {
        let _ = std::fs::remove_file(&tmp);
        WriteError {
            path: path.to_path_buf(),
            stage,
            bytes: bytes.len(),
            source,
        }
    };
    writer
        .write_file(&tmp, bytes)
        .map_err(|e| fail(Stage::Write, e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(Stage::Rename, e))
}

/// A writer that writes at most `limit` bytes of each file, then fails as a full disk does
/// (tests of what a failed write leaves behind).
#[derive(Debug, Clone, Copy)]
pub struct DiskFullAfter {
    pub limit: usize,
}

impl Writer for DiskFullAfter {
    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(&bytes[..bytes.len().min(self.limit)])?;
        if bytes.len() > self.limit {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        f.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_keeps_the_old_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latest");
        write_atomic(&p, b"old", &Fs).unwrap();
        let e = write_atomic(
            &p,
            b"a much longer new content",
            &DiskFullAfter { limit: 4 },
        )
        .unwrap_err();
        assert!(e.disk_full());
        assert_eq!(e.stage, Stage::Write);
        let msg = e.to_string();
        assert!(
            msg.contains("disk is full") && msg.contains("25 bytes needed"),
            "{msg}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("latest")]);
    }

    #[test]
    fn writes_replace_and_temp_names_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.safetensors");
        write_atomic(&p, b"1", &Fs).unwrap();
        write_atomic(&p, b"22", &DiskFullAfter { limit: 2 }).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"22");
        let t = temp_path(&p);
        assert!(is_temp_name(t.file_name().unwrap().to_str().unwrap()));
        assert!(!is_temp_name("f.safetensors"));
        let e = write_atomic(&dir.path().join("no/such/dir/f"), b"x", &Fs).unwrap_err();
        assert!(!e.disk_full());
        assert!(e.to_string().contains("cannot write 1 bytes"), "{e}");
    }
}
