//! Named training configurations: the paper's (official hyperparameters of `config/arch/trm.yaml`,
//! `config/cfg_pretrain.yaml` and the official README's commands;
//! they need a GPU and a dataset built with `trm-tui data build`), CPU-sized ones that learn
//! something real on a laptop in minutes, and `smoke` for tests.

use super::config::{DataConfig, TrainConfig};
use crate::model::{PosEncoding, TrmConfig};

/// A preset: name, one-line description, and its configuration.
pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub build: fn() -> TrainConfig,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "smoke",
        about: "tiny model on generated 4x4 Sudoku; 200 steps in seconds on 2 cores (tests)",
        build: smoke,
    },
    Preset {
        name: "sudoku4-cpu",
        about: "4x4 Sudoku, small attention TRM; 1500 steps, about 0.25 s/step on 2 cores",
        build: sudoku4_cpu,
    },
    Preset {
        name: "sudoku6-cpu",
        about: "6x6 Sudoku (easy), MLP-t TRM, hidden 64; 1200 steps, about 1 s/step on 1 core (97.5% exact held-out)",
        build: sudoku6_cpu,
    },
    Preset {
        name: "sudoku9-cpu",
        about: "medium 9x9 Sudoku, MLP-t TRM, hidden 128, 8 steps; 10000 steps, about 4 CPU-hours (1.4 s/step on one core)",
        build: sudoku9_cpu,
    },
    Preset {
        name: "maze9-cpu",
        about: "9x9 mazes, MLP-t TRM (81 cells <= hidden 128), 8 steps; 10000 steps, about 4 CPU-hours (1.5 s/step on one core)",
        build: maze9_cpu,
    },
    Preset {
        name: "maze-small-cpu",
        about: "7x7 mazes, attention TRM, hidden 64; 4000 steps, about 0.75 s/step on 1 core (35% valid paths held-out)",
        build: maze_small_cpu,
    },
    Preset {
        name: "sudoku-extreme-mlp",
        about: "paper: Sudoku-Extreme, TRM-MLP (5M), official recipe; GPU",
        build: sudoku_extreme_mlp,
    },
    Preset {
        name: "sudoku-extreme-att",
        about: "paper: Sudoku-Extreme, TRM-Att (7M), official recipe; GPU",
        build: sudoku_extreme_att,
    },
    Preset {
        name: "maze-hard",
        about: "paper: Maze-Hard 30x30, TRM-Att, n=4; GPU",
        build: maze_hard,
    },
    Preset {
        name: "arc1",
        about: "paper: ARC-AGI-1, TRM-Att, n=4, embedding lr 1e-2; 4 GPUs",
        build: arc1,
    },
    Preset {
        name: "arc2",
        about: "paper: ARC-AGI-2, TRM-Att, n=4, embedding lr 1e-2; 4 GPUs",
        build: arc2,
    },
];

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

pub fn get(name: &str) -> Option<TrainConfig> {
    PRESETS.iter().find(|p| p.name == name).map(|p| (p.build)())
}

pub fn about(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|p| p.name == name).map(|p| p.about)
}

/// For a paper preset, point `cfg.data.path` at its dataset: the preset's `data/<dataset>`
/// (the official commands' layout) when it exists, else the folder `trm-tui data build
/// --preset NAME` writes under the data root ([`crate::fetch::paper`]). `Err` says what is
/// missing and the commands that make it. Other presets are left as they are.
pub fn locate_data(name: &str, cfg: &mut TrainConfig) -> Result<(), String> {
    match crate::fetch::paper::locate(name, &cfg.data.path, &crate::fetch::data_root()) {
        Some(Ok(dir)) => {
            cfg.data.path = dir.display().to_string();
            Ok(())
        }
        Some(Err(message)) => Err(message),
        None => Ok(()),
    }
}

/// A small CPU recipe: higher learning rate and lighter weight decay than the paper's
/// (batch 768, lr 1e-4, wd 1.0 assume 65k steps), EMA on, constant lr after warmup.
fn cpu_recipe(arch: TrmConfig, data: DataConfig, batch: usize, steps: u64) -> TrainConfig {
    TrainConfig {
        arch,
        data,
        global_batch_size: batch,
        max_steps: steps,
        epochs: 100_000,
        eval_interval: 100,
        lr: 1e-3,
        lr_warmup_steps: (steps / 20).max(10),
        weight_decay: 0.1,
        puzzle_emb_lr: 1e-3,
        puzzle_emb_weight_decay: 0.1,
        ema: true,
        ema_rate: 0.995,
        checkpoint_every: (steps / 5).max(50),
        log_every: 1,
        ..TrainConfig::default()
    }
}

fn small_arch(vocab: usize, seq: usize, hidden: usize, mlp_t: bool) -> TrmConfig {
    TrmConfig {
        hidden_size: hidden,
        num_heads: (hidden / 32).max(1),
        expansion: 4.0,
        l_layers: 2,
        h_cycles: 2,
        l_cycles: 3,
        halt_max_steps: 6,
        halt_exploration_prob: 0.1,
        puzzle_emb_ndim: hidden,
        puzzle_emb_len: 1,
        pos_encodings: if mlp_t {
            PosEncoding::None
        } else {
            PosEncoding::Rope
        },
        mlp_t,
        vocab_size: vocab,
        seq_len: seq,
        num_puzzle_identifiers: 1,
        ..TrmConfig::default()
    }
}

fn gen(
    task: &str,
    size: usize,
    difficulty: &str,
    train: usize,
    test: usize,
    aug: usize,
) -> DataConfig {
    DataConfig {
        generate: task.into(),
        size,
        difficulty: difficulty.into(),
        train_count: train,
        test_count: test,
        augmentations: aug,
        ..DataConfig::default()
    }
}

fn smoke() -> TrainConfig {
    let mut arch = small_arch(6, 16, 32, false);
    arch.l_cycles = 2;
    arch.halt_max_steps = 3;
    TrainConfig {
        eval_interval: 50,
        eval_limit: 64,
        lr: 3e-3,
        lr_warmup_steps: 10,
        checkpoint_every: 0,
        ..cpu_recipe(arch, gen("sudoku", 4, "easy", 256, 64, 0), 32, 200)
    }
}

fn sudoku4_cpu() -> TrainConfig {
    cpu_recipe(
        small_arch(6, 16, 64, false),
        gen("sudoku", 4, "easy", 2000, 200, 4),
        64,
        1500,
    )
}

fn sudoku6_cpu() -> TrainConfig {
    // The shipped `checkpoints/sudoku6-cpu` run: 1200 steps, warm-up as a 4000-step recipe.
    TrainConfig {
        lr_warmup_steps: 200,
        ..cpu_recipe(
            small_arch(8, 36, 64, true),
            gen("sudoku", 6, "easy", 3000, 200, 8),
            64,
            1200,
        )
    }
}

/// The shipped 9x9 models' recipe: hidden 128, so that the 81 cells take the MLP over the
/// sequence by the paper's rule (`seq_len <= hidden_size`); 8 supervision steps, so that the
/// solver has room to show refinement; 10,000 generated puzzles x 8 augmentations, so that
/// 10,000 steps of batch 64 see each example about 7 times; 500 held-out test puzzles.
fn grid9_cpu(vocab: usize, data: DataConfig) -> TrainConfig {
    let mut arch = small_arch(vocab, 81, 128, true);
    arch.halt_max_steps = 8;
    TrainConfig {
        eval_interval: 500,
        lr_warmup_steps: 200,
        checkpoint_every: 250,
        ..cpu_recipe(arch, data, 64, 10_000)
    }
}

fn sudoku9_cpu() -> TrainConfig {
    // Medium: solvable by naked and hidden singles, so the answer is built up over steps.
    grid9_cpu(11, gen("sudoku", 9, "medium", 10_000, 500, 8))
}

fn maze9_cpu() -> TrainConfig {
    // Mazes whose shortest path is at least 29 cells (as rare at 9x9 as Maze-Hard's 110 at
    // 30x30), each with up to 7 distinct dihedral variants.
    grid9_cpu(6, gen("maze", 9, "", 10_000, 500, 7))
}

fn maze_small_cpu() -> TrainConfig {
    // The shipped `checkpoints/maze-small-cpu` run: 4000 steps, warm-up as a 5000-step recipe.
    TrainConfig {
        lr_warmup_steps: 250,
        ..cpu_recipe(
            small_arch(6, 49, 64, false),
            gen("maze", 7, "", 3000, 200, 0),
            64,
            4000,
        )
    }
}

fn paper(vocab: usize, seq: usize, mlp_t: bool, l_cycles: usize) -> TrainConfig {
    TrainConfig {
        arch: TrmConfig {
            l_cycles,
            ..TrmConfig::paper(vocab, seq, mlp_t)
        },
        device: "auto".into(),
        ..TrainConfig::default()
    }
}

fn sudoku_extreme_mlp() -> TrainConfig {
    let mut c = paper(11, 81, true, 6);
    c.data.path = "data/sudoku-extreme-1k-aug-1000".into();
    c
}

fn sudoku_extreme_att() -> TrainConfig {
    let mut c = paper(11, 81, false, 6);
    c.data.path = "data/sudoku-extreme-1k-aug-1000".into();
    c
}

fn maze_hard() -> TrainConfig {
    let mut c = paper(6, 900, false, 4);
    c.data.path = "data/maze-30x30-hard-1k".into();
    c
}

fn arc(name: &str) -> TrainConfig {
    let mut c = paper(12, 900, false, 4);
    c.data.path = format!("data/{name}-aug-1000");
    // The identifier table is sized by the built dataset (about 876k for ARC-1).
    c.arch.num_puzzle_identifiers = 1;
    c.epochs = 100_000;
    c.eval_interval = 10_000;
    c.weight_decay = 0.1;
    c.puzzle_emb_lr = 1e-2;
    c.puzzle_emb_weight_decay = 0.1;
    c
}

fn arc1() -> TrainConfig {
    arc("arc1concept")
}

fn arc2() -> TrainConfig {
    arc("arc2concept")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_validates() {
        for p in PRESETS {
            let c = (p.build)();
            c.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        assert!(get("smoke").is_some() && get("nope").is_none());
        assert_eq!(
            get("sudoku-extreme-mlp").unwrap().arch.num_parameters(),
            5_028_866
        );
        assert_eq!(
            get("sudoku-extreme-att").unwrap().arch.num_parameters(),
            6_828_034
        );
    }
}
