//! One resumable, checked download: bytes go to `<dest>.part`; an existing `.part` is resumed
//! with a `Range: bytes=N-` request (a server that answers 200 instead of 206 restarts it from
//! zero); the complete file is checked against the expected size and SHA-256 when known, then
//! renamed to `<dest>`. A mismatch removes the `.part`, so the next attempt starts clean.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::progress::Reporter;
use super::{part_path, FetchError, Result};

/// What the source says the file is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub size: Option<u64>,
    /// Lowercase hex.
    pub sha256: Option<String>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size: u64,
    pub sha256: String,
    /// Bytes that were already in the `.part` file and kept.
    pub resumed_from: u64,
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The message of a ureq error, with the underlying I/O error's kind in words
/// ("connection refused", "timed out", ...).
pub fn describe(err: &ureq::Error) -> String {
    match err {
        ureq::Error::Io(e) => format!("cannot connect or read: {e}"),
        ureq::Error::HostNotFound => "host not found (no network, or a wrong endpoint)".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}

/// Hash the first `len` bytes of a file.
fn hash_prefix(path: &Path, len: u64) -> Result<Sha256> {
    let mut hasher = Sha256::new();
    let file = File::open(path).map_err(|e| FetchError::io(path, e))?;
    let mut reader = file.take(len);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| FetchError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher)
}

/// The start offset of a `Content-Range: bytes START-END/TOTAL` header.
fn range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes ")?;
    rest.split('-').next()?.trim().parse().ok()
}

/// Download `url` into `dest` (see the module header). `how` is the by-hand advice appended
/// to network errors.
pub fn download(
    agent: &ureq::Agent,
    url: &str,
    dest: &Path,
    expected: &Expected,
    reporter: Reporter,
    label: &str,
    how: &str,
) -> Result<Downloaded> {
    let part = part_path(dest);
    let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    if expected.size.is_some_and(|s| have > s) {
        // Longer than the published file: not a prefix of it.
        remove(&part)?;
        have = 0;
    }
    let network = |message: String| FetchError::Network {
        url: url.to_string(),
        message,
        how: how.to_string(),
    };

    let complete_already = have > 0 && expected.size == Some(have);
    let (mut hasher, resumed_from) = if complete_already {
        (hash_prefix(&part, have)?, have)
    } else {
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let mut resp = req.call().map_err(|e| network(describe(&e)))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let start = match status {
            206 if header("content-range").as_deref().and_then(range_start) == Some(have) => have,
            200 => 0,
            // Range not satisfiable (or a 206 at another offset): start over on the next call.
            206 | 416 => {
                remove(&part)?;
                return Err(network(format!(
                    "the server did not resume at byte {have} (status {status}); the partial \
                     file was discarded, run the command again"
                )));
            }
            s => {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: s,
                    how: how.to_string(),
                })
            }
        };
        let body_len: Option<u64> = header("content-length").and_then(|v| v.trim().parse().ok());
        let total = body_len.map(|n| n + start).or(expected.size);
        if let (Some(t), Some(s)) = (total, expected.size) {
            if t != s {
                remove(&part)?;
                return Err(FetchError::Mismatch {
                    url: url.to_string(),
                    path: dest.to_path_buf(),
                    what: "size",
                    expected: s.to_string(),
                    actual: t.to_string(),
                });
            }
        }
        let mut file = if start == 0 {
            File::create(&part)
        } else {
            OpenOptions::new().append(true).open(&part)
        }
        .map_err(|e| FetchError::io(&part, e))?;
        let mut hasher = if start == 0 {
            Sha256::new()
        } else {
            hash_prefix(&part, start)?
        };
        let mut transfer = reporter.start(label, total, start);
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = start;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = file.flush();
                    transfer.finish("interrupted");
                    return Err(network(format!(
                        "connection lost after {got} bytes{} ({e}); {} holds them: run the \
                         command again to resume",
                        total.map_or(String::new(), |t| format!(" of {t}")),
                        part.display()
                    )));
                }
            };
            file.write_all(&buf[..n])
                .map_err(|e| FetchError::io(&part, e))?;
            hasher.update(&buf[..n]);
            got += n as u64;
            transfer.advance(n as u64);
        }
        file.sync_all().map_err(|e| FetchError::io(&part, e))?;
        if let Some(t) = total {
            if got < t {
                transfer.finish("interrupted");
                return Err(network(format!(
                    "connection closed after {got} of {t} bytes; {} holds them: run the \
                     command again to resume",
                    part.display()
                )));
            }
        }
        transfer.finish("done");
        (hasher, start)
    };

    let size = std::fs::metadata(&part)
        .map_err(|e| FetchError::io(&part, e))?
        .len();
    let sha256 = hex(&hasher.finalize_reset());
    let mismatch = |what: &'static str, expected: String, actual: String| FetchError::Mismatch {
        url: url.to_string(),
        path: dest.to_path_buf(),
        what,
        expected,
        actual,
    };
    if let Some(s) = expected.size.filter(|&s| s != size) {
        remove(&part)?;
        return Err(mismatch("size", s.to_string(), size.to_string()));
    }
    if let Some(s) = expected.sha256.as_ref().filter(|s| **s != sha256) {
        remove(&part)?;
        return Err(mismatch("SHA-256", s.clone(), sha256));
    }
    std::fs::rename(&part, dest).map_err(|e| FetchError::io(dest, e))?;
    Ok(Downloaded {
        size,
        sha256,
        resumed_from,
    })
}

fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::io(path, e)),
    }
}

/// Hash a whole file: (size, lowercase hex SHA-256).
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let len = std::fs::metadata(path)
        .map_err(|e| FetchError::io(path, e))?
        .len();
    Ok((len, hex(&hash_prefix(path, len)?.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start_is_parsed() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_start("items 1-2/3"), None);
    }
}
