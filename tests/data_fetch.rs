//! `trm-tui data fetch` and `data build --preset` end to end against a small HTTP server on
//! 127.0.0.1 that serves files in the Hugging Face Hub's URL layout (`HEAD`/`GET`
//! `/datasets/{repo}/resolve/{revision}/{file}`, large files as a redirect carrying
//! `X-Linked-Etag`/`X-Linked-Size` to the bytes) and GitHub-style `.tar.gz` archives
//! (`/{owner}/{repo}/archive/{commit}.tar.gz`). It cuts connections, answers 404, and the
//! refused-connection case uses a closed local port: no test touches the internet.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use trm_tui::data::csv::write_hf_csv;
use trm_tui::data::dataset::load_built_dataset;
use trm_tui::data::maze::{self, MazeParams};
use trm_tui::data::sudoku::{self, Difficulty};
use trm_tui::data::Puzzle;
use trm_tui::fetch::paper;

const BIN: &str = env!("CARGO_BIN_EXE_trm-tui");
const SUDOKU_REPO: &str = "sapientinc/sudoku-extreme";
const MAZE_REPO: &str = "sapientinc/maze-30x30-hard-1k";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn sha_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One answer of the server.
#[derive(Clone, Default)]
struct Route {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Cut the connection after this many body bytes on the first GET.
    cut_first_get_at: Option<usize>,
}

/// A request as the server saw it: method, path, `Range` header.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    range: Option<String>,
}

#[derive(Clone)]
struct Server {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server = Server {
            port: listener.local_addr().unwrap().port(),
            routes: Arc::default(),
            seen: Arc::default(),
        };
        let s = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.handle(stream));
            }
        });
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    /// A large Hub file: the resolve URL redirects (an absolute URL, as to the Hub's storage)
    /// to `/blobs/<sha>` with the published SHA-256 and size (`published_sha` may differ from
    /// the bytes', to test the check).
    fn hub_lfs_file(&self, repo: &str, file: &str, body: &[u8], published_sha: &str) -> String {
        let blob = format!("/blobs/{}", sha_hex(body));
        let resolve = format!("/datasets/{repo}/resolve/main/{file}");
        self.route(
            &resolve,
            Route {
                status: 302,
                headers: vec![
                    ("Location".into(), format!("{}{blob}", self.url())),
                    ("X-Repo-Commit".into(), COMMIT.into()),
                    ("X-Linked-Etag".into(), format!("\"{published_sha}\"")),
                    ("X-Linked-Size".into(), body.len().to_string()),
                    (
                        "ETag".into(),
                        "\"0000000000000000000000000000000000000000\"".into(),
                    ),
                ],
                ..Route::default()
            },
        );
        self.route(
            &blob,
            Route {
                status: 200,
                body: body.to_vec(),
                ..Route::default()
            },
        );
        blob
    }

    /// A small Hub file served in place (no LFS: its ETag is a git blob id, no SHA-256).
    fn hub_plain_file(&self, repo: &str, file: &str, body: &[u8]) {
        self.route(
            &format!("/datasets/{repo}/resolve/main/{file}"),
            Route {
                status: 200,
                headers: vec![
                    ("X-Repo-Commit".into(), COMMIT.into()),
                    (
                        "ETag".into(),
                        "\"1111111111111111111111111111111111111111\"".into(),
                    ),
                ],
                body: body.to_vec(),
                ..Route::default()
            },
        );
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn handle(&self, mut stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut range = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("range") {
                    range = Some(v.trim().to_string());
                }
            }
        }
        let first_get = method == "GET"
            && !self
                .seen
                .lock()
                .unwrap()
                .iter()
                .any(|s| s.method == "GET" && s.path == path);
        self.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            range: range.clone(),
        });
        let route = self.routes.lock().unwrap().get(&path).cloned();
        let Some(route) = route else {
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
            );
            return;
        };
        let len = route.body.len();
        let start = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|_| route.status == 200);
        let (status, body) = match start {
            Some(s) if s < len => (206, &route.body[s..]),
            Some(_) => (416, &route.body[..0]),
            None => (route.status, &route.body[..]),
        };
        let reason = match status {
            200 => "OK",
            206 => "Partial Content",
            302 => "Found",
            307 => "Temporary Redirect",
            _ => "Other",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if status == 206 {
            head.push_str(&format!(
                "Content-Range: bytes {}-{}/{len}\r\n",
                start.unwrap_or(0),
                len - 1
            ));
        }
        for (k, v) in &route.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        if method == "HEAD" {
            return;
        }
        match route.cut_first_get_at {
            Some(cut) if first_get && start.is_none() => {
                let _ = stream.write_all(&body[..cut]);
                let _ = stream.flush();
                let _ = stream.shutdown(Shutdown::Both);
            }
            _ => {
                let _ = stream.write_all(body);
            }
        }
    }
}

/// A scratch data root, Hub cache and working directory for the binary.
struct Env {
    dir: tempfile::TempDir,
    hub: String,
    github: String,
}

impl Env {
    fn new(server: &Server) -> Env {
        Env::with_endpoint(&server.url())
    }

    fn with_endpoint(url: &str) -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            hub: url.to_string(),
            github: url.to_string(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn source(&self, name: &str) -> PathBuf {
        self.root().join("sources").join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("TRM_TUI_DATA", self.root())
            .env("HF_ENDPOINT", &self.hub)
            .env("TRM_TUI_GITHUB_ENDPOINT", &self.github)
            .env("HF_HUB_CACHE", self.dir.path().join("hf-cache"))
            .env_remove("HF_HUB_OFFLINE");
        // Everything goes straight to 127.0.0.1, never through a proxy.
        for k in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(k);
        }
        cmd.output().unwrap()
    }
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn csv_bytes(puzzles: &[Puzzle]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    write_hf_csv(&path, puzzles).unwrap();
    std::fs::read(path).unwrap()
}

/// Easy 9x9 Sudokus in the Hub's CSV layout.
fn sudoku_csv(count: usize, seed: u64) -> Vec<u8> {
    let puzzles: Vec<Puzzle> = sudoku::generate_many(9, Difficulty::Easy, count, seed)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, g)| g.into_puzzle(format!("s{i}")))
        .collect();
    csv_bytes(&puzzles)
}

/// 30x30 mazes in the Hub's CSV layout.
fn maze_csv(count: usize, seed: u64) -> Vec<u8> {
    let puzzles: Vec<Puzzle> = maze::generate_many(&MazeParams::square(30, 20), count, seed)
        .unwrap()
        .into_iter()
        .enumerate()
        .map(|(i, g)| g.into_puzzle(format!("m{i}")))
        .collect();
    csv_bytes(&puzzles)
}

#[test]
fn sudoku_extreme_fetches_builds_and_is_found_by_its_presets() {
    let server = Server::start();
    let (train, test) = (sudoku_csv(4, 1), sudoku_csv(2, 2));
    server.hub_lfs_file(SUDOKU_REPO, "train.csv", &train, &sha_hex(&train));
    server.hub_lfs_file(SUDOKU_REPO, "test.csv", &test, &sha_hex(&test));
    let env = Env::new(&server);

    let out = env.run(&["data", "fetch", "sudoku-extreme"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = env.source("sudoku-extreme");
    assert_eq!(std::fs::read(dir.join("train.csv")).unwrap(), train);
    assert_eq!(std::fs::read(dir.join("test.csv")).unwrap(), test);
    assert_eq!(files_in(&dir), ["fetch.json", "test.csv", "train.csv"]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fetch.json")).unwrap()).unwrap();
    assert_eq!(manifest["commit"], COMMIT);
    assert_eq!(manifest["files"][0]["sha256"], sha_hex(&train));
    assert_eq!(manifest["files"][0]["verified"], true);

    // A second fetch finds everything in place and asks the server nothing.
    let before = server.seen().len();
    let out = env.run(&["data", "fetch", "sudoku-extreme"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already fetched"));
    assert_eq!(server.seen().len(), before);

    // Before the build, `train --preset` says what is missing and how to make it.
    let out = env.run(&["train", "--preset", "sudoku-extreme-mlp"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trm-tui data fetch sudoku-extreme"), "{err}");
    assert!(
        err.contains("trm-tui data build --preset sudoku-extreme-mlp"),
        "{err}"
    );

    let out = env.run(&["data", "build", "--preset", "sudoku-extreme-mlp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let built = env.root().join("datasets/sudoku-extreme-1k-aug-1000");
    let b = load_built_dataset(&built).unwrap();
    // 4 train puzzles (fewer than the 1000 subsample), each with 1000 shuffles; 2 test puzzles.
    assert_eq!(b.train.0.total_groups, 4);
    assert_eq!(b.train.1.puzzle_identifiers.len(), 4 * 1001);
    assert_eq!(b.test.0.total_groups, 2);
    assert!(!env
        .root()
        .join("datasets/sudoku-extreme-1k-aug-1000.building")
        .exists());

    for preset in ["sudoku-extreme-mlp", "sudoku-extreme-att"] {
        let found = paper::locate(preset, "data/sudoku-extreme-1k-aug-1000", &env.root());
        assert_eq!(found, Some(Ok(built.clone())), "{preset}");
    }
}

#[test]
fn maze_hard_fetches_plain_hub_files_and_builds_without_augmentation() {
    let server = Server::start();
    let (train, test) = (maze_csv(3, 3), maze_csv(2, 4));
    server.hub_plain_file(MAZE_REPO, "train.csv", &train);
    // test.csv through a relative redirect, as the Hub answers for a renamed repository.
    server.hub_plain_file("sapientinc/renamed", "test.csv", &test);
    server.route(
        &format!("/datasets/{MAZE_REPO}/resolve/main/test.csv"),
        Route {
            status: 307,
            headers: vec![(
                "Location".into(),
                "/datasets/sapientinc/renamed/resolve/main/test.csv".into(),
            )],
            ..Route::default()
        },
    );
    let env = Env::new(&server);
    let out = env.run(&["data", "fetch", "maze-hard"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dir = env.source("maze-hard");
    assert_eq!(std::fs::read(dir.join("train.csv")).unwrap(), train);
    assert_eq!(std::fs::read(dir.join("test.csv")).unwrap(), test);
    let manifest = std::fs::read_to_string(dir.join("fetch.json")).unwrap();
    assert!(manifest.contains("\"verified\": false"), "{manifest}");

    let out = env.run(&["data", "build", "--preset", "maze-hard"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let b = load_built_dataset(&env.root().join("datasets/maze-30x30-hard-1k")).unwrap();
    assert_eq!((b.train.0.seq_len, b.train.0.total_groups), (900, 3));
    assert_eq!(b.train.1.puzzle_identifiers.len(), 3);
}

#[test]
fn a_download_cut_mid_file_resumes_from_its_part_file() {
    let server = Server::start();
    let (train, test) = (sudoku_csv(6, 5), sudoku_csv(1, 6));
    let blob = server.hub_lfs_file(SUDOKU_REPO, "train.csv", &train, &sha_hex(&train));
    server.hub_lfs_file(SUDOKU_REPO, "test.csv", &test, &sha_hex(&test));
    let cut = train.len() / 2;
    let mut route = server.routes.lock().unwrap().get(&blob).cloned().unwrap();
    route.cut_first_get_at = Some(cut);
    server.route(&blob, route);
    let env = Env::new(&server);
    let dir = env.source("sudoku-extreme");

    let out = env.run(&["data", "fetch", "sudoku-extreme"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run the command again to resume"), "{err}");
    assert!(!dir.join("train.csv").exists());
    assert_eq!(
        std::fs::metadata(dir.join("train.csv.part")).unwrap().len(),
        cut as u64
    );

    let out = env.run(&["data", "fetch", "sudoku-extreme"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read(dir.join("train.csv")).unwrap(), train);
    assert!(!dir.join("train.csv.part").exists());
    let gets: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path == blob)
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(gets[1].range, Some(format!("bytes={cut}-")));
}

#[test]
fn a_checksum_mismatch_is_an_error_and_leaves_no_file() {
    let server = Server::start();
    let train = sudoku_csv(2, 7);
    let published = sha_hex(b"what the Hub says the file is");
    server.hub_lfs_file(SUDOKU_REPO, "train.csv", &train, &published);
    let env = Env::new(&server);
    let out = env.run(&["data", "fetch", "sudoku-extreme"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SHA-256"), "{err}");
    assert!(
        err.contains(&published) && err.contains(&sha_hex(&train)),
        "{err}"
    );
    let dir = env.source("sudoku-extreme");
    assert!(!dir.join("train.csv").exists());
    assert!(!dir.join("train.csv.part").exists());
}

#[test]
fn not_found_and_refused_connections_are_clear_errors_with_status_2() {
    let server = Server::start();
    let env = Env::new(&server);
    let out = env.run(&["data", "fetch", "maze-hard"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404"), "{err}");
    assert!(
        err.contains(&format!(
            "{}/datasets/{MAZE_REPO}/resolve/main/train.csv",
            server.url()
        )),
        "{err}"
    );
    assert!(err.contains("To fetch by hand"), "{err}");

    // A port nothing listens on (bound, then closed).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::with_endpoint(&format!("http://127.0.0.1:{port}"));
    for name in ["maze-hard", "conceptarc"] {
        let out = env.run(&["data", "fetch", name]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains("To fetch by hand"), "{err}");
        assert!(files_in(&env.source(name)).is_empty(), "{name}");
    }
}

#[test]
fn offline_names_what_is_missing_and_reuses_the_hub_cache() {
    let env = Env::with_endpoint("http://127.0.0.1:9");
    let out = env.run(&["data", "fetch", "sudoku-extreme", "--offline"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let dir = env.source("sudoku-extreme");
    assert!(err.contains("offline"), "{err}");
    assert!(
        err.contains(&dir.join("train.csv").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains(&format!("datasets/{SUDOKU_REPO}/resolve/main/test.csv")),
        "{err}"
    );

    // The layout `hf_hub_download` leaves: refs/main -> snapshot -> blob named by SHA-256.
    let train = sudoku_csv(2, 8);
    let test = sudoku_csv(1, 9);
    let cache = env
        .dir
        .path()
        .join("hf-cache/datasets--sapientinc--sudoku-extreme");
    std::fs::create_dir_all(cache.join("refs")).unwrap();
    std::fs::create_dir_all(cache.join("blobs")).unwrap();
    std::fs::create_dir_all(cache.join("snapshots").join(COMMIT)).unwrap();
    std::fs::write(cache.join("refs/main"), COMMIT).unwrap();
    for (name, body) in [("train.csv", &train), ("test.csv", &test)] {
        let sha = sha_hex(body);
        std::fs::write(cache.join("blobs").join(&sha), body).unwrap();
        std::os::unix::fs::symlink(
            format!("../../blobs/{sha}"),
            cache.join("snapshots").join(COMMIT).join(name),
        )
        .unwrap();
    }
    let out = env.run(&["data", "fetch", "sudoku-extreme", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read(dir.join("train.csv")).unwrap(), train);
    assert_eq!(std::fs::read(dir.join("test.csv")).unwrap(), test);
}

/// A small ARC task whose grids depend on `n`.
fn task_json(n: u8) -> Vec<u8> {
    let g = |k: u8| {
        serde_json::json!([
            [k % 10, (k + 1) % 10, 0],
            [0, (k + 2) % 10, 1],
            [3, 4, (k + 5) % 10]
        ])
    };
    serde_json::to_vec(&serde_json::json!({
        "train": [{"input": g(n), "output": g(n + 1)}, {"input": g(n + 2), "output": g(n + 3)}],
        "test": [{"input": g(n + 4), "output": g(n + 5)}]
    }))
    .unwrap()
}

/// A `.tar.gz` whose files sit under `top/`, as GitHub's archives.
fn tar_gz(top: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{path}"), bytes.as_slice())
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn serve_archive(
    server: &Server,
    owner: &str,
    repo: &str,
    rev: &str,
    files: &BTreeMap<String, Vec<u8>>,
) {
    server.route(
        &format!("/{owner}/{repo}/archive/{rev}.tar.gz"),
        Route {
            status: 200,
            body: tar_gz(&format!("{repo}-{rev}"), files),
            ..Route::default()
        },
    );
}

#[test]
fn arc_archives_become_combined_files_and_build_the_arc1_dataset() {
    let server = Server::start();
    let rev = "feedfacefeedfacefeedfacefeedfacefeedface";
    let mut arc = BTreeMap::new();
    arc.insert("data/training/aaaa0001.json".to_string(), task_json(1));
    arc.insert("data/training/aaaa0002.json".to_string(), task_json(2));
    arc.insert("data/evaluation/bbbb0001.json".to_string(), task_json(3));
    arc.insert(
        "data/training.txt".to_string(),
        b"aaaa0001\naaaa0002\n".to_vec(),
    );
    arc.insert("README.md".to_string(), b"# ARC".to_vec());
    serve_archive(&server, "fchollet", "ARC-AGI", rev, &arc);
    let mut concept = BTreeMap::new();
    concept.insert("corpus/Copy/Copy1.json".to_string(), task_json(4));
    concept.insert("corpus/Count/Count1.json".to_string(), task_json(5));
    concept.insert("MinimalTasks/Copy1.json".to_string(), task_json(6));
    serve_archive(&server, "victorvikram", "ConceptARC", rev, &concept);
    let env = Env::new(&server);

    let out = env.run(&["data", "fetch", "arc1", "conceptarc", "--revision", rev]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let arc1 = env.source("arc1");
    assert_eq!(
        files_in(&arc1),
        ["evaluation.json", "fetch.json", "training.json"]
    );
    let training: serde_json::Value =
        serde_json::from_slice(&std::fs::read(arc1.join("training.json")).unwrap()).unwrap();
    let ids: Vec<&String> = training.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["aaaa0001", "aaaa0002"]);
    let corpus: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.source("conceptarc").join("corpus.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&String> = corpus.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["Copy1", "Count1"]);

    let out = env.run(&["data", "build", "--preset", "arc1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let b = load_built_dataset(&env.root().join("datasets/arc1concept-aug-1000")).unwrap();
    // Every task (2 training, 1 evaluation, 2 concept) has a train group; only the
    // evaluation task's test pair is in the test split.
    assert_eq!(b.train.0.total_groups, 5);
    assert_eq!(b.test.0.total_groups, 1);
}

#[test]
fn an_archive_that_is_not_the_pinned_commit_is_refused_and_removed() {
    let server = Server::start();
    let pinned = "399030444e0ab0cc8b4e199870fb20b863846f34";
    let mut arc = BTreeMap::new();
    arc.insert("data/training/aaaa0001.json".to_string(), task_json(1));
    arc.insert("data/evaluation/bbbb0001.json".to_string(), task_json(3));
    serve_archive(&server, "fchollet", "ARC-AGI", pinned, &arc);
    let env = Env::new(&server);
    let out = env.run(&["data", "fetch", "arc1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("differ from fchollet/ARC-AGI at commit"),
        "{err}"
    );
    assert!(files_in(&env.source("arc1")).is_empty());
}

#[test]
fn unknown_names_and_presets_are_input_errors() {
    let env = Env::with_endpoint("http://127.0.0.1:9");
    let out = env.run(&["data", "fetch", "arc3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conceptarc"));
    let out = env.run(&["data", "build", "--preset", "smoke"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sudoku-extreme-mlp"));
    let out = env.run(&["data", "build", "--preset", "maze-hard"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trm-tui data fetch maze-hard"));
}
