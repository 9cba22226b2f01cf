//! ARC sources from a GitHub repository's `.tar.gz` archive at a pinned commit
//! (`{github}/{owner}/{repo}/archive/{commit}.tar.gz`): the archive is downloaded (resumable)
//! next to the source's files, its task files are read, checked (count per subset, and at the
//! pinned commit the [`content_digest`]), and written as one combined `{task_id: task}` JSON file
//! per subset, the layout of `/shared/data` and of the other ARC readers. The archive is removed
//! once the combined files are in place. An archive put there by hand is used as is, offline too.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::catalog::{Origin, Source, Subset};
use super::http::{self, hex, Expected};
use super::{
    part_path, write_manifest, FetchError, FetchOptions, Fetched, Manifest, ManifestFile, Result,
};
use crate::data::arc::{parse_task, write_combined, ArcTask};

/// `{github}/{owner}/{repo}/archive/{commit}.tar.gz`.
pub fn archive_url(github: &str, owner: &str, repo: &str, commit: &str) -> String {
    format!("{github}/{owner}/{repo}/archive/{commit}.tar.gz")
}

/// SHA-256 over `"{path}\0{sha256 hex of the file}\n"` for each task file, sorted by path
/// (paths below the archive's top-level folder, e.g. `data/training/007bbfb7.json`).
pub fn content_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for (path, bytes) in files {
        h.update(path.as_bytes());
        h.update([0u8]);
        h.update(hex(&Sha256::digest(bytes)).as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Whether `path` (below the top-level folder) is a task file of `subset`.
fn in_subset(path: &str, subset: &Subset) -> bool {
    path.strip_prefix(subset.dir)
        .is_some_and(|rest| rest.starts_with('/'))
        && path.ends_with(".json")
}

/// Read the task files of `subsets` from a `.tar.gz` archive: path below the top-level folder
/// -> bytes.
pub fn read_task_files(archive: &Path, subsets: &[Subset]) -> Result<BTreeMap<String, Vec<u8>>> {
    let file = std::fs::File::open(archive).map_err(|e| FetchError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let bad = |e: std::io::Error| FetchError::Content {
        path: archive.to_path_buf(),
        message: format!("not a readable .tar.gz archive: {e}"),
    };
    let mut out = BTreeMap::new();
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(bad)?.to_string_lossy().to_string();
        // Below the top-level folder (`{repo}-{commit}/`).
        let Some((_, inner)) = path.split_once('/') else {
            continue;
        };
        if !subsets.iter().any(|s| in_subset(inner, s)) {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(bad)?;
        out.insert(inner.to_string(), bytes);
    }
    Ok(out)
}

/// Parse the task files of one subset (task id = file stem), checking ids are unique.
fn subset_tasks(
    archive: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    subset: &Subset,
) -> Result<Vec<ArcTask>> {
    let mut tasks: Vec<ArcTask> = Vec::new();
    for (path, bytes) in files.iter().filter(|(p, _)| in_subset(p, subset)) {
        let inner = archive.join(path);
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| FetchError::Content {
                path: inner.clone(),
                message: format!("not JSON: {e}"),
            })?;
        let id = Path::new(path)
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().to_string());
        let task = parse_task(&inner, &id, &value).map_err(|e| FetchError::Content {
            path: inner.clone(),
            message: e.to_string(),
        })?;
        if tasks.iter().any(|t| t.id == task.id) {
            return Err(FetchError::Content {
                path: inner,
                message: format!("task id {id} appears twice in {}", subset.dir),
            });
        }
        tasks.push(task);
    }
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(tasks)
}

/// Fetch an ARC source (see the module header).
pub fn fetch(source: &Source, dir: &Path, opts: &FetchOptions) -> Result<Fetched> {
    let Origin::GithubArchive {
        owner,
        repo,
        commit,
        subsets,
        digest,
    } = source.origin
    else {
        unreachable!("archive::fetch is called for GithubArchive sources only");
    };
    let outs: Vec<PathBuf> = subsets.iter().map(|s| dir.join(s.out)).collect();
    let mut fetched = Fetched {
        dir: dir.to_path_buf(),
        written: Vec::new(),
        present: Vec::new(),
    };
    if outs.iter().all(|p| p.is_file()) {
        fetched.present = outs;
        return Ok(fetched);
    }
    // Another revision than the pinned commit (`--revision`) is parsed but not checked against
    // the pin's digest and task counts.
    let revision = opts.revision.as_deref().unwrap_or(commit);
    let pinned = revision == commit;
    let url = archive_url(&opts.github_endpoint, owner, repo, revision);
    let archive = dir.join(format!("{repo}-{}.tar.gz", revision.replace('/', "-")));
    let how = format!(
        "To fetch by hand, download\n  {url}\n    to {}\nthen run `trm-tui data fetch {}` \
         again (with --offline if need be): it unpacks the archive from there.",
        archive.display(),
        source.name
    );
    let verified_archive = if archive.is_file() {
        None
    } else if opts.offline {
        return Err(FetchError::Offline {
            source_name: source.name.to_string(),
            missing: outs.into_iter().filter(|p| !p.is_file()).collect(),
            how,
        });
    } else {
        let agent = super::agent();
        let label = format!("{}/{}", source.name, file_name(&archive));
        Some(http::download(
            &agent,
            &url,
            &archive,
            &Expected::default(),
            opts.reporter,
            &label,
            &how,
        )?)
    };

    let files = read_task_files(&archive, subsets)?;
    let actual = content_digest(&files);
    let wrong = |message: String| {
        // A later attempt downloads the archive again.
        let _ = std::fs::remove_file(&archive);
        FetchError::Content {
            path: archive.clone(),
            message,
        }
    };
    if pinned && actual != digest {
        return Err(wrong(format!(
            "the task files differ from {owner}/{repo} at commit {commit} (content digest \
             {actual}, expected {digest}); the archive was removed"
        )));
    }
    let mut manifest_files = Vec::new();
    let mut written = Vec::new();
    for (subset, out) in subsets.iter().zip(&outs) {
        let tasks = subset_tasks(&archive, &files, subset)?;
        if tasks.is_empty() || (pinned && tasks.len() != subset.tasks) {
            return Err(wrong(format!(
                "{} holds {} tasks, expected {}",
                subset.dir,
                tasks.len(),
                if pinned {
                    subset.tasks.to_string()
                } else {
                    "at least one".into()
                }
            )));
        }
        let part = part_path(out);
        write_combined(&part, &tasks).map_err(|e| FetchError::Content {
            path: part.clone(),
            message: e.to_string(),
        })?;
        written.push((part, out.clone()));
    }
    // Every subset checked and written: now move them into place.
    for (part, out) in written {
        std::fs::rename(&part, &out).map_err(|e| FetchError::io(&out, e))?;
        let (size, sha256) = http::hash_file(&out)?;
        manifest_files.push(ManifestFile {
            name: file_name(&out),
            size,
            sha256,
            verified: pinned,
        });
        fetched.written.push(out);
    }
    let (asize, asha) = match verified_archive {
        Some(d) => (d.size, d.sha256),
        None => http::hash_file(&archive)?,
    };
    manifest_files.push(ManifestFile {
        name: file_name(&archive),
        size: asize,
        sha256: asha,
        verified: false,
    });
    write_manifest(
        dir,
        &Manifest {
            source: source.name.to_string(),
            urls: vec![url],
            commit: Some(revision.to_string()),
            files: manifest_files,
        },
    )?;
    std::fs::remove_file(&archive).map_err(|e| FetchError::io(&archive, e))?;
    Ok(fetched)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_membership_needs_a_folder_boundary_and_json() {
        let s = Subset {
            dir: "data/training",
            out: "training.json",
            tasks: 1,
        };
        assert!(in_subset("data/training/007bbfb7.json", &s));
        assert!(in_subset("data/training/sub/x.json", &s));
        assert!(!in_subset("data/training2/x.json", &s));
        assert!(!in_subset("data/training.txt", &s));
        assert!(!in_subset("data/training/readme.md", &s));
    }

    #[test]
    fn the_digest_covers_paths_and_contents() {
        let mut a = BTreeMap::new();
        a.insert("d/x.json".to_string(), b"{}".to_vec());
        // Computed independently: sha256("d/x.json\0" + sha256("{}") + "\n").
        let inner = hex(&Sha256::digest(b"{}"));
        let expected = hex(&Sha256::digest(format!("d/x.json\0{inner}\n").as_bytes()));
        assert_eq!(content_digest(&a), expected);
        let mut b = a.clone();
        b.insert("d/x.json".to_string(), b"{ }".to_vec());
        assert_ne!(content_digest(&a), content_digest(&b));
        let mut c = BTreeMap::new();
        c.insert("d/y.json".to_string(), b"{}".to_vec());
        assert_ne!(content_digest(&a), content_digest(&c));
    }
}
