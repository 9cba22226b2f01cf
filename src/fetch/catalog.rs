//! The sources `trm-tui data fetch` knows: where each comes from (a Hugging Face dataset, or a
//! GitHub repository's archive at a pinned commit), which files it yields, and what those files
//! must hold.
//!
//! The Hub datasets are the ones the official builders download (`dataset/build_sudoku_dataset.py`
//! and `dataset/build_maze_dataset.py`, `hf_hub_download(config.source_repo, f"{set_name}.csv")`).
//! The Hub publishes the SHA-256 and size of each large file (`X-Linked-Etag`, `X-Linked-Size`);
//! the download is checked against those. The ARC sets come from their repositories at the commits
//! the reference data was taken from; GitHub publishes no checksum of its archives (they are made
//! on request), so the task files inside are checked instead: their count per subset and one
//! SHA-256 over every task file's path and SHA-256 (see [`super::archive::content_digest`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A fetchable source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceId {
    SudokuExtreme,
    MazeHard,
    Arc1,
    Arc2,
    ConceptArc,
}

/// Where a source comes from.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// A Hugging Face dataset repository: `{HF_ENDPOINT}/datasets/{repo}/resolve/{revision}/{file}`.
    Hub {
        repo: &'static str,
        revision: &'static str,
        files: &'static [&'static str],
    },
    /// A GitHub repository's `.tar.gz` archive at a commit, whose task files are combined into
    /// one `{task_id: task}` JSON file per subset.
    GithubArchive {
        owner: &'static str,
        repo: &'static str,
        commit: &'static str,
        subsets: &'static [Subset],
        /// [`super::archive::content_digest`] of the selected task files at `commit`.
        digest: &'static str,
    },
}

/// A folder of ARC task files inside an archive and the combined file it becomes.
#[derive(Debug, Clone, Copy)]
pub struct Subset {
    /// Folder inside the archive (below its top-level folder), e.g. `data/training`; task files
    /// are every `.json` below it, in sub-folders too.
    pub dir: &'static str,
    /// Combined file written in the source's folder, e.g. `training.json`.
    pub out: &'static str,
    /// Number of tasks at the pinned commit.
    pub tasks: usize,
}

/// A source: its name on the command line, what it is, where it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub id: SourceId,
    pub name: &'static str,
    pub about: &'static str,
    pub licence: &'static str,
    pub origin: Origin,
}

pub const SOURCES: &[Source] = &[
    Source {
        id: SourceId::SudokuExtreme,
        name: "sudoku-extreme",
        about: "Sudoku-Extreme: 3.8M train and 423k test 9x9 puzzles (train.csv, test.csv)",
        licence: "see the dataset card",
        origin: Origin::Hub {
            repo: "sapientinc/sudoku-extreme",
            revision: "main",
            files: &["train.csv", "test.csv"],
        },
    },
    Source {
        id: SourceId::MazeHard,
        name: "maze-hard",
        about: "Maze-Hard: 1000 train and 1000 test 30x30 mazes (train.csv, test.csv)",
        licence: "see the dataset card",
        origin: Origin::Hub {
            repo: "sapientinc/maze-30x30-hard-1k",
            revision: "main",
            files: &["train.csv", "test.csv"],
        },
    },
    Source {
        id: SourceId::Arc1,
        name: "arc1",
        about: "ARC-AGI-1: 400 training and 400 evaluation tasks",
        licence: "Apache-2.0",
        origin: Origin::GithubArchive {
            owner: "fchollet",
            repo: "ARC-AGI",
            commit: "399030444e0ab0cc8b4e199870fb20b863846f34",
            subsets: &[
                Subset {
                    dir: "data/training",
                    out: "training.json",
                    tasks: 400,
                },
                Subset {
                    dir: "data/evaluation",
                    out: "evaluation.json",
                    tasks: 400,
                },
            ],
            digest: "bf64e6847345aa14d8ff769836b491e26a0e984847311fe319301da1444cad2d",
        },
    },
    Source {
        id: SourceId::Arc2,
        name: "arc2",
        about: "ARC-AGI-2: 1000 training and 120 evaluation tasks",
        licence: "Apache-2.0",
        origin: Origin::GithubArchive {
            owner: "arcprize",
            repo: "ARC-AGI-2",
            commit: "f3283f727488ad98fe575ea6a5ac981e4a188e49",
            subsets: &[
                Subset {
                    dir: "data/training",
                    out: "training.json",
                    tasks: 1000,
                },
                Subset {
                    dir: "data/evaluation",
                    out: "evaluation.json",
                    tasks: 120,
                },
            ],
            digest: "c96f67f78d09aaaec9301427d3f60e9de28fe3b11d309d7caa9f73dfc8ebc546",
        },
    },
    Source {
        id: SourceId::ConceptArc,
        name: "conceptarc",
        about: "ConceptARC: 16 concepts x 10 tasks",
        licence: "MIT",
        origin: Origin::GithubArchive {
            owner: "victorvikram",
            repo: "ConceptARC",
            commit: "b22ef526b4656679816b7811e78f55cc24d736d7",
            subsets: &[Subset {
                dir: "corpus",
                out: "corpus.json",
                tasks: 160,
            }],
            digest: "5cc9ae2c892b9a7c5c99c7f4a881febe9cc1a92bb3f03b3170b972c1e6319210",
        },
    },
];

impl SourceId {
    pub fn source(self) -> &'static Source {
        SOURCES
            .iter()
            .find(|s| s.id == self)
            .expect("every SourceId has an entry in SOURCES")
    }

    pub fn name(self) -> &'static str {
        self.source().name
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        SOURCES
            .iter()
            .find(|x| x.name == s)
            .map(|x| x.id)
            .ok_or_else(|| {
                format!(
                    "unknown source `{s}` (known: {})",
                    SOURCES
                        .iter()
                        .map(|x| x.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl Source {
    /// The source's folder under the data root: `<root>/sources/<name>`.
    pub fn dir(&self, root: &Path) -> PathBuf {
        root.join("sources").join(self.name)
    }

    /// The files a fetch leaves in [`Source::dir`], by name.
    pub fn files(&self) -> Vec<&'static str> {
        match self.origin {
            Origin::Hub { files, .. } => files.to_vec(),
            Origin::GithubArchive { subsets, .. } => subsets.iter().map(|s| s.out).collect(),
        }
    }

    /// The files of [`Source::files`] not present under `root`.
    pub fn missing(&self, root: &Path) -> Vec<PathBuf> {
        let dir = self.dir(root);
        self.files()
            .into_iter()
            .map(|f| dir.join(f))
            .filter(|p| !p.is_file())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for s in SOURCES {
            assert_eq!(s.name.parse::<SourceId>(), Ok(s.id));
            assert_eq!(s.id.source().name, s.name);
        }
        let err = "arc3".parse::<SourceId>().unwrap_err();
        assert!(err.contains("arc3") && err.contains("conceptarc"), "{err}");
    }

    #[test]
    fn pinned_commits_and_digests_are_full_hex() {
        for s in SOURCES {
            if let Origin::GithubArchive { commit, digest, .. } = s.origin {
                assert_eq!(commit.len(), 40, "{}", s.name);
                assert_eq!(digest.len(), 64, "{}", s.name);
                assert!(commit
                    .chars()
                    .chain(digest.chars())
                    .all(|c| c.is_ascii_hexdigit()));
            }
        }
    }
}
