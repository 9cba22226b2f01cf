//! Fetching the paper datasets' sources (`trm-tui data fetch NAME`) into the user's data
//! directory, and where `trm-tui data build --preset NAME` and `train --preset NAME` find them.
//!
//! Layout under the data root ([`data_root`]: `$TRM_TUI_DATA`, else the platform's data
//! directory for trm-tui):
//!
//! ```text
//! sources/<name>/<file>          fetched files (train.csv, training.json, ...)
//! sources/<name>/<file>.part     a download in progress; the next fetch resumes it
//! sources/<name>/fetch.json      where the files came from (URL, commit, size, SHA-256)
//! datasets/<dataset>/            built datasets (see [`paper`])
//! ```
//!
//! A file appears under its final name only once complete and checked (a rename of its `.part`).
//!
//! Modules: [`catalog`] (the sources), [`http`] (resumable, checked downloads), [`hub`] (the
//! Hugging Face Hub's metadata and cache), [`archive`] (GitHub archives to combined ARC files),
//! [`progress`] (bars or plain lines), [`paper`] (the paper presets' datasets).
//!
//! Why not the `hf-hub` crate: its current release (1.0) downloads through reqwest, tokio and
//! hf-xet (a large dependency tree for two CSV files), truncates an interrupted download
//! instead of resuming it (`.incomplete` files are recreated), and renames a file into place
//! without checking it against the SHA-256 the Hub publishes. [`hub`] therefore reads the
//! Hub's URL layout directly, `{HF_ENDPOINT}/datasets/{repo}/resolve/{revision}/{file}`, with
//! the same environment (`HF_ENDPOINT`, `HF_HUB_OFFLINE`) and the same cache
//! (`HF_HUB_CACHE`, `HF_HOME/hub`, `~/.cache/huggingface/hub`) as the Hub's own clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub mod archive;
pub mod catalog;
pub mod http;
pub mod hub;
pub mod paper;
pub mod progress;

pub use catalog::{Origin, Source, SourceId, SOURCES};

/// Errors of a fetch. Each names the URL or file concerned and, where a user can act by hand,
/// what to download and where to put it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Offline (`--offline` or `HF_HUB_OFFLINE=1`) and files are missing.
    #[error(
        "{source_name}: offline and not fetched; missing {}.\n{how}",
        list(missing)
    )]
    Offline {
        source_name: String,
        missing: Vec<PathBuf>,
        how: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("{url}: {message}\n{how}")]
    Network {
        url: String,
        message: String,
        how: String,
    },
    /// The server answered with an error status.
    #[error("{url}: the server answered {status}{}\n{how}", if *status == 404 { " (not found)" } else { "" })]
    Status {
        url: String,
        status: u16,
        how: String,
    },
    /// A downloaded file is not the published one; the partial file has been removed.
    #[error("{url}: downloaded {what} {actual}, expected {expected}; the download was discarded ({})", path.display())]
    Mismatch {
        url: String,
        path: PathBuf,
        what: &'static str,
        expected: String,
        actual: String,
    },
    /// The content of an archive is not what the pinned commit holds.
    #[error("{}: {message}", path.display())]
    Content { path: PathBuf, message: String },
    /// The OS error is part of the message (not a chained source), so that it prints once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FetchError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        FetchError::Io {
            path: path.to_path_buf(),
            error: source,
        }
    }
}

pub type Result<T, E = FetchError> = std::result::Result<T, E>;

/// The data root: `$TRM_TUI_DATA`, else the platform's data directory for trm-tui (the same
/// directory the workbench exports to).
pub fn data_root() -> PathBuf {
    crate::tui::config::Paths::from_env().data_dir
}

/// Options of a fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub root: PathBuf,
    /// Never touch the network: use what is on disk and the Hugging Face cache.
    pub offline: bool,
    /// A revision (branch, tag, commit) other than the catalogue's; files of an ARC archive at
    /// another commit than the pinned one are not checked against the pin.
    pub revision: Option<String>,
    /// Base URL of the Hub (`$HF_ENDPOINT`, default `https://huggingface.co`).
    pub hub_endpoint: String,
    /// Base URL of GitHub archives (`$TRM_TUI_GITHUB_ENDPOINT`, default `https://github.com`).
    pub github_endpoint: String,
    /// The Hugging Face cache to reuse files from (`None`: no lookup).
    pub hf_cache: Option<PathBuf>,
    pub reporter: progress::Reporter,
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl FetchOptions {
    /// Options from the environment: the data root, `HF_ENDPOINT`, `HF_HUB_OFFLINE`,
    /// `TRM_TUI_GITHUB_ENDPOINT`, the Hugging Face cache; a bar on a terminal.
    pub fn from_env() -> FetchOptions {
        let offline = env_nonempty("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
        });
        FetchOptions {
            root: data_root(),
            offline,
            revision: None,
            hub_endpoint: env_nonempty("HF_ENDPOINT")
                .unwrap_or_else(|| "https://huggingface.co".into())
                .trim_end_matches('/')
                .to_string(),
            github_endpoint: env_nonempty("TRM_TUI_GITHUB_ENDPOINT")
                .unwrap_or_else(|| "https://github.com".into())
                .trim_end_matches('/')
                .to_string(),
            hf_cache: hub::cache_dir(),
            reporter: progress::Reporter::auto(),
        }
    }
}

/// What a fetch did for one source.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub dir: PathBuf,
    /// Files written by this fetch (empty when everything was already there).
    pub written: Vec<PathBuf>,
    /// Files that were already complete.
    pub present: Vec<PathBuf>,
}

/// `sources/<name>/fetch.json`: provenance of the fetched files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub source: String,
    /// The URL of each file or archive.
    pub urls: Vec<String>,
    /// The commit the files were taken at (`X-Repo-Commit` on the Hub), when known.
    pub commit: Option<String>,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Whether the SHA-256 was checked against one the source publishes or pins.
    pub verified: bool,
}

/// The HTTP agent of every fetch: no status-as-error (statuses become [`FetchError::Status`]),
/// bounded connect and read waits, the crate's user agent. Proxies come from the environment.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .user_agent(concat!("trm-tui/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// Fetch one source: files already complete are kept, the rest are taken from the Hugging
/// Face cache when there, else downloaded (unless offline).
pub fn fetch(id: SourceId, opts: &FetchOptions) -> Result<Fetched> {
    let source = id.source();
    let dir = source.dir(&opts.root);
    std::fs::create_dir_all(&dir).map_err(|e| FetchError::io(&dir, e))?;
    match source.origin {
        Origin::Hub {
            repo,
            revision,
            files,
        } => hub::fetch(source, repo, revision, files, &dir, opts),
        Origin::GithubArchive { .. } => archive::fetch(source, &dir, opts),
    }
}

/// Write `sources/<name>/fetch.json` through a `.part` file and a rename.
pub(crate) fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join("fetch.json");
    let text = serde_json::to_string_pretty(manifest).map_err(|e| {
        FetchError::io(
            &path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    write_atomic(&path, text.as_bytes())
}

/// Write a file through `<path>.part` and a rename, so that the final name only ever holds
/// a complete file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let part = part_path(path);
    std::fs::write(&part, bytes).map_err(|e| FetchError::io(&part, e))?;
    std::fs::rename(&part, path).map_err(|e| FetchError::io(path, e))
}

/// `<path>.part`: where a file is written before it is complete.
pub fn part_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".part");
    PathBuf::from(s)
}
