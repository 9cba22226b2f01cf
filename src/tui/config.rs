//! Where the workbench reads and writes: the config dir (`config.toml` with the theme, the
//! smoothing and the key remapping; `themes/`), the data dir
//! (exports), the runs root, the shipped puzzles and checkpoints. Directories come from
//! `directories::ProjectDirs`, with environment overrides so tests are hermetic:
//! `TRM_TUI_CONFIG`, `TRM_TUI_DATA`, `TRM_RUNS_DIR` (default `./runs`), `TRM_PUZZLES_DIR`
//! (default `./puzzles`), `TRM_CHECKPOINTS_DIR` (default `./checkpoints`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The directories the workbench uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// `config.toml` and `themes/*.toml` live here.
    pub config_dir: Option<PathBuf>,
    /// Exports (CSV, step traces) go here.
    pub data_dir: PathBuf,
    pub runs_dir: PathBuf,
    pub puzzles_dir: PathBuf,
    pub checkpoints_dir: PathBuf,
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl Paths {
    /// Resolve from the environment and the platform's project directories.
    pub fn from_env() -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "trm-tui");
        let config_dir = env_path("TRM_TUI_CONFIG")
            .or_else(|| dirs.as_ref().map(|d| d.config_dir().to_path_buf()));
        let data_dir = env_path("TRM_TUI_DATA")
            .or_else(|| dirs.as_ref().map(|d| d.data_dir().to_path_buf()))
            .unwrap_or_else(|| PathBuf::from(".trm-tui"));
        Paths {
            config_dir,
            data_dir,
            runs_dir: env_path("TRM_RUNS_DIR").unwrap_or_else(|| PathBuf::from("runs")),
            puzzles_dir: env_path("TRM_PUZZLES_DIR").unwrap_or_else(|| PathBuf::from("puzzles")),
            checkpoints_dir: env_path("TRM_CHECKPOINTS_DIR")
                .unwrap_or_else(|| PathBuf::from("checkpoints")),
        }
    }

    /// Everything under one root (tests, benches): `root/{config,data,runs,puzzles,checkpoints}`.
    pub fn under(root: &Path) -> Paths {
        Paths {
            config_dir: Some(root.join("config")),
            data_dir: root.join("data"),
            runs_dir: root.join("runs"),
            puzzles_dir: root.join("puzzles"),
            checkpoints_dir: root.join("checkpoints"),
        }
    }

    pub fn config_file(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("config.toml"))
    }

    pub fn themes_dir(&self) -> Option<PathBuf> {
        self.config_dir.as_ref().map(|d| d.join("themes"))
    }

    /// A path shown to the user: relative to the current directory when below it.
    pub fn display(p: &Path) -> String {
        if let Ok(cwd) = std::env::current_dir() {
            if let Ok(rel) = p.strip_prefix(&cwd) {
                return rel.display().to_string();
            }
        }
        p.display().to_string()
    }
}

/// `config.toml`: user preferences. Unknown keys are errors (shown in the UI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// Theme name (a built-in one or a file in `<config dir>/themes/`).
    pub theme: Option<String>,
    /// Curves smoothing weight in [0, 1).
    pub smoothing: Option<f64>,
    /// Key remapping: `[keys.<table>] <action> = ["x", "Ctrl-x"]` (tables: global, help,
    /// quit, picker, train, train_edit, curves, solver, solver_edit, runs, logs, experiments;
    /// the help lists every action with its keys).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub keys: crate::tui::keys::KeyOverrides,
}

impl UserConfig {
    /// Read the config file; a missing file is the default, a bad one an error message.
    pub fn load(path: Option<&Path>) -> (UserConfig, Option<String>) {
        let Some(path) = path else {
            return (UserConfig::default(), None);
        };
        match std::fs::read_to_string(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (UserConfig::default(), None),
            Err(e) => (
                UserConfig::default(),
                Some(format!("{}: cannot read: {e}", path.display())),
            ),
            Ok(text) => match toml::from_str::<UserConfig>(&text) {
                Ok(c) => (c, None),
                Err(e) => (
                    UserConfig::default(),
                    Some(format!(
                        "{}: {}; using defaults",
                        path.display(),
                        e.message().replace('\n', " ")
                    )),
                ),
            },
        }
    }

    /// Write the config file (creating its folder).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/config.toml");
        let (c, err) = UserConfig::load(Some(&p));
        assert_eq!(c, UserConfig::default());
        assert!(err.is_none());
        let mut c = UserConfig {
            theme: Some("light".into()),
            smoothing: Some(0.8),
            ..UserConfig::default()
        };
        c.keys.entry("solver".into()).or_default().insert(
            "step_forward".into(),
            crate::tui::keys::KeyList::Many(vec!["Right".into(), "f".into()]),
        );
        c.save(&p).unwrap();
        assert_eq!(UserConfig::load(Some(&p)).0, c);
        std::fs::write(&p, "[keys.solver]\nplay = \"Ctrl-p\"\n").unwrap();
        assert_eq!(
            UserConfig::load(Some(&p)).0.keys["solver"]["play"],
            crate::tui::keys::KeyList::One("Ctrl-p".into())
        );
        std::fs::write(&p, "theme = 3").unwrap();
        let (c, err) = UserConfig::load(Some(&p));
        assert_eq!(c, UserConfig::default());
        assert!(err.unwrap().contains("config.toml"));
    }

    #[test]
    fn under_root() {
        let p = Paths::under(Path::new("/x"));
        assert_eq!(p.runs_dir, Path::new("/x/runs"));
        assert_eq!(p.themes_dir().unwrap(), Path::new("/x/config/themes"));
    }
}
