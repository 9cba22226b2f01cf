//! Files of a Hugging Face dataset repository, as the Hub's own clients get them
//! (`huggingface_hub.file_download`, `get_hf_file_metadata` then the download): a `HEAD` of
//! `{endpoint}/datasets/{repo}/resolve/{revision}/{file}` without following redirects gives the
//! commit (`X-Repo-Commit`), and for large (LFS/Xet) files the published size and SHA-256
//! (`X-Linked-Size`, `X-Linked-Etag`) and the storage URL (`Location`); the bytes then come
//! from there through [`super::http::download`].
//!
//! Files already in the Hub's cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`; `datasets--{owner}--{name}/snapshots/{commit}/{file}`, as the
//! official builders' `hf_hub_download` leaves them) are copied from there instead, checked
//! against the SHA-256 their blob is named by.

use std::path::{Path, PathBuf};

use super::http::{self, Downloaded, Expected};
use super::{
    part_path, write_manifest, FetchError, FetchOptions, Fetched, Manifest, ManifestFile, Result,
    Source,
};

/// The Hub cache folder of the Hub's clients, when one can be named.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| {
            directories::BaseDirs::new().map(|b| b.home_dir().join(".cache/huggingface/hub"))
        })
}

/// `{endpoint}/datasets/{repo}/resolve/{revision}/{file}`.
pub fn resolve_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    format!("{endpoint}/datasets/{repo}/resolve/{revision}/{file}")
}

/// What the Hub says about a file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileMeta {
    pub commit: Option<String>,
    pub expected: Expected,
    /// Where the bytes are (the `Location` of a redirect, resolved), else the resolve URL.
    pub download_url: String,
}

/// An ETag value without quotes or the weak marker.
fn bare_etag(v: &str) -> &str {
    v.trim().trim_start_matches("W/").trim_matches('"')
}

fn is_sha256(v: &str) -> bool {
    v.len() == 64 && v.chars().all(|c| c.is_ascii_hexdigit())
}

/// `HEAD` the resolve URL (see the module header).
pub fn file_meta(agent: &ureq::Agent, url: &str, how: &str) -> Result<FileMeta> {
    let head = |u: &str| {
        agent
            .head(u)
            .config()
            .max_redirects(0)
            .build()
            .call()
            .map_err(|e| FetchError::Network {
                url: u.to_string(),
                message: http::describe(&e),
                how: how.to_string(),
            })
    };
    // Relative redirects stay on the Hub (a renamed repository) and are followed, as the Hub's
    // clients do; an absolute one leads to the storage and carries the file's metadata.
    let mut url = url.to_string();
    let mut resp = head(&url)?;
    for _ in 0..5 {
        let relative = (300..400)
            .contains(&resp.status().as_u16())
            .then(|| resp.headers().get("location").and_then(|v| v.to_str().ok()))
            .flatten()
            .filter(|loc| loc.starts_with('/'))
            .map(|loc| resolve_location(&url, loc));
        match relative {
            Some(next) => {
                url = next;
                resp = head(&url)?;
            }
            None => break,
        }
    }
    let url = url.as_str();
    let status = resp.status().as_u16();
    if !(200..400).contains(&status) {
        return Err(FetchError::Status {
            url: url.to_string(),
            status,
            how: how.to_string(),
        });
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let linked_sha = header("x-linked-etag")
        .map(|v| bare_etag(&v).to_ascii_lowercase())
        .filter(|v| is_sha256(v));
    // A plain (non-LFS) file's ETag is its git blob id, not a SHA-256 of the bytes; some
    // mirrors give the SHA-256 there: take it only when it has that form.
    let etag_sha = header("etag")
        .map(|v| bare_etag(&v).to_ascii_lowercase())
        .filter(|v| is_sha256(v));
    let size = header("x-linked-size")
        .or_else(|| (status == 200).then(|| header("content-length")).flatten())
        .and_then(|v| v.trim().parse().ok());
    let download_url = match (status, header("location")) {
        (300..=399, Some(loc)) => resolve_location(url, &loc),
        _ => url.to_string(),
    };
    Ok(FileMeta {
        commit: header("x-repo-commit"),
        expected: Expected {
            size,
            sha256: linked_sha.or(etag_sha),
        },
        download_url,
    })
}

/// A `Location` relative to `base` made absolute (absolute ones pass through).
fn resolve_location(base: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let host = rest.split('/').next().unwrap_or(rest);
    if loc.starts_with('/') {
        format!("{scheme}://{host}{loc}")
    } else {
        let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
        format!("{dir}/{loc}")
    }
}

/// A file of `repo` at `revision` in the Hub cache, and the SHA-256 its blob is named by
/// (LFS files' blobs are named by their SHA-256; other files' by their git blob id).
pub fn cached_file(
    cache: &Path,
    repo: &str,
    revision: &str,
    file: &str,
) -> Option<(PathBuf, Option<String>)> {
    let folder = cache.join(format!("datasets--{}", repo.replace('/', "--")));
    let commit = if is_commit(revision) {
        revision.to_string()
    } else {
        std::fs::read_to_string(folder.join("refs").join(revision))
            .ok()?
            .trim()
            .to_string()
    };
    let path = folder.join("snapshots").join(commit).join(file);
    if !path.is_file() {
        return None;
    }
    let sha = std::fs::read_link(&path)
        .ok()
        .and_then(|t| {
            t.file_name()
                .map(|n| n.to_string_lossy().to_ascii_lowercase())
        })
        .filter(|n| is_sha256(n));
    Some((path, sha))
}

fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// Copy a cached file into place through `.part`, checking its SHA-256 when known.
fn copy_cached(src: &Path, dest: &Path, sha: Option<&str>) -> Result<ManifestFile> {
    let part = part_path(dest);
    std::fs::copy(src, &part).map_err(|e| FetchError::io(src, e))?;
    let (size, actual) = http::hash_file(&part)?;
    if let Some(expected) = sha.filter(|s| *s != actual) {
        let _ = std::fs::remove_file(&part);
        return Err(FetchError::Mismatch {
            url: src.display().to_string(),
            path: dest.to_path_buf(),
            what: "SHA-256",
            expected: expected.to_string(),
            actual,
        });
    }
    std::fs::rename(&part, dest).map_err(|e| FetchError::io(dest, e))?;
    Ok(ManifestFile {
        name: file_name(dest),
        size,
        sha256: actual,
        verified: sha.is_some(),
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_string())
}

/// What to do by hand when a download cannot be made.
fn by_hand(source: &Source, urls: &[(String, PathBuf)]) -> String {
    let mut s = String::from("To fetch by hand, download");
    for (url, path) in urls {
        s.push_str(&format!("\n  {url}\n    to {}", path.display()));
    }
    s.push_str(&format!(
        "\nthen run `trm-tui data fetch {}` again (it keeps complete files).",
        source.name
    ));
    s
}

/// Fetch the files of a Hub dataset into `dir`.
pub fn fetch(
    source: &Source,
    repo: &str,
    revision: &str,
    files: &[&str],
    dir: &Path,
    opts: &FetchOptions,
) -> Result<Fetched> {
    let revision = opts.revision.as_deref().unwrap_or(revision);
    let urls: Vec<(String, PathBuf)> = files
        .iter()
        .map(|f| {
            (
                resolve_url(&opts.hub_endpoint, repo, revision, f),
                dir.join(f),
            )
        })
        .collect();
    let how = by_hand(source, &urls);
    let mut out = Fetched {
        dir: dir.to_path_buf(),
        written: Vec::new(),
        present: Vec::new(),
    };
    let previous: Option<Manifest> = std::fs::read_to_string(dir.join("fetch.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let mut manifest = Manifest {
        source: source.name.to_string(),
        urls: urls.iter().map(|(u, _)| u.clone()).collect(),
        commit: previous.as_ref().and_then(|m| m.commit.clone()),
        files: Vec::new(),
    };
    let keep = |name: &str| {
        previous
            .as_ref()
            .and_then(|m| m.files.iter().find(|f| f.name == name).cloned())
    };

    // Each file: on disk already, else in the Hub cache, else downloaded unless offline.
    let mut missing = Vec::new();
    let agent = super::agent();
    for (file, (url, dest)) in files.iter().zip(&urls) {
        if dest.is_file() {
            out.present.push(dest.clone());
            match keep(file) {
                Some(m) => manifest.files.push(m),
                None => {
                    let (size, sha256) = http::hash_file(dest)?;
                    manifest.files.push(ManifestFile {
                        name: file.to_string(),
                        size,
                        sha256,
                        verified: false,
                    });
                }
            }
            continue;
        }
        if let Some((cached, sha)) = opts
            .hf_cache
            .as_deref()
            .and_then(|c| cached_file(c, repo, revision, file))
        {
            eprintln!(
                "{}/{file}: from the Hugging Face cache {}",
                source.name,
                cached.display()
            );
            manifest
                .files
                .push(copy_cached(&cached, dest, sha.as_deref())?);
            out.written.push(dest.clone());
            continue;
        }
        if opts.offline {
            missing.push(dest.clone());
            continue;
        }
        let meta = file_meta(&agent, url, &how)?;
        if meta.commit.is_some() {
            manifest.commit = meta.commit.clone();
        }
        let label = format!("{}/{file}", source.name);
        let Downloaded { size, sha256, .. } = http::download(
            &agent,
            &meta.download_url,
            dest,
            &meta.expected,
            opts.reporter,
            &label,
            &how,
        )?;
        manifest.files.push(ManifestFile {
            name: file.to_string(),
            size,
            sha256,
            verified: meta.expected.sha256.is_some(),
        });
        out.written.push(dest.clone());
    }
    if !missing.is_empty() {
        return Err(FetchError::Offline {
            source_name: source.name.to_string(),
            missing,
            how,
        });
    }
    if !out.written.is_empty() || previous.is_none() {
        write_manifest(dir, &manifest)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let base = "http://127.0.0.1:9/datasets/a/b/resolve/main/train.csv";
        assert_eq!(
            resolve_location(base, "/blobs/x"),
            "http://127.0.0.1:9/blobs/x"
        );
        assert_eq!(
            resolve_location(base, "other.csv"),
            "http://127.0.0.1:9/datasets/a/b/resolve/main/other.csv"
        );
        assert_eq!(resolve_location(base, "https://cdn/x"), "https://cdn/x");
    }

    #[cfg(unix)]
    #[test]
    fn cached_files_are_found_by_ref_and_named_blob() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("datasets--o--n");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let sha = "ab".repeat(32);
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        std::fs::write(repo.join("refs/main"), commit).unwrap();
        std::fs::write(repo.join("blobs").join(&sha), b"x").unwrap();
        let link = repo.join("snapshots").join(commit).join("train.csv");
        std::os::unix::fs::symlink(format!("../../blobs/{sha}"), &link).unwrap();
        let (p, s) = cached_file(dir.path(), "o/n", "main", "train.csv").unwrap();
        assert_eq!((p, s), (link, Some(sha)));
        assert!(cached_file(dir.path(), "o/n", "main", "test.csv").is_none());
        assert!(cached_file(dir.path(), "o/n", "dev", "train.csv").is_none());
    }
}
