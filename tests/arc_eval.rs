//! The ARC voting evaluator on a small synthetic task set built in memory with the real ARC
//! builder (augmented variants with dihedral transforms and colour permutations).

use std::collections::BTreeMap;

use candle_core::Device;
use trm_tui::data::arc::{self, ArcPair, ArcTask};
use trm_tui::data::augment::ArcAug;
use trm_tui::data::build::{build_arc, ArcBuildConfig, Output};
use trm_tui::data::dataset::{Dataset, IGNORE_LABEL};
use trm_tui::data::Grid;
use trm_tui::model::{TrmConfig, TrmModel};
use trm_tui::train::arc_eval::{
    collect_arc_votes, evaluate_arc, pass_key, ArcEvaluator, ArcSolutions, OFFICIAL_PASS_KS,
};

const NUM_AUG: usize = 6;

fn g(rows: usize, cols: usize, cells: &[u8]) -> Grid {
    Grid::new(rows, cols, cells.to_vec())
}

fn pair(input: Grid, output: Grid) -> ArcPair {
    ArcPair {
        input,
        output: Some(output),
    }
}

/// Every grid of a task uses the same colour set and has its single black cell in a corner,
/// so no non-identity variant leaves a test input unchanged (the inverse augmentation matters
/// for every augmented vote).
fn tasks() -> Vec<ArcTask> {
    vec![
        ArcTask {
            id: "task_a".into(),
            train: vec![
                pair(g(2, 3, &[0, 1, 2, 3, 4, 5]), g(3, 2, &[5, 4, 3, 2, 1, 0])),
                pair(g(2, 3, &[3, 1, 4, 2, 5, 0]), g(3, 2, &[0, 5, 2, 4, 1, 3])),
            ],
            test: vec![
                pair(g(2, 3, &[0, 5, 4, 3, 2, 1]), g(3, 2, &[1, 2, 3, 4, 5, 0])),
                pair(g(2, 3, &[2, 3, 1, 5, 4, 0]), g(3, 2, &[0, 4, 5, 1, 3, 2])),
            ],
        },
        ArcTask {
            id: "task_b".into(),
            train: vec![pair(
                g(2, 3, &[0, 6, 7, 8, 9, 1]),
                g(2, 3, &[1, 9, 8, 7, 6, 0]),
            )],
            test: vec![pair(
                g(2, 3, &[7, 8, 9, 1, 6, 0]),
                g(2, 3, &[0, 6, 1, 9, 8, 7]),
            )],
        },
        ArcTask {
            id: "task_c".into(),
            train: vec![pair(
                g(3, 2, &[0, 2, 4, 6, 8, 9]),
                g(3, 2, &[9, 8, 6, 4, 2, 0]),
            )],
            test: vec![pair(
                g(3, 2, &[2, 0, 9, 8, 6, 4]),
                g(3, 2, &[4, 6, 8, 9, 0, 2]),
            )],
        },
    ]
}

struct Fixture {
    tasks: Vec<ArcTask>,
    identifiers: Vec<String>,
    test: Dataset,
    solutions: ArcSolutions,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eval.json");
    let tasks = tasks();
    arc::write_combined(&path, &tasks).unwrap();
    let cfg = ArcBuildConfig {
        subsets: vec![("eval".into(), path)],
        test_set_name: "eval".into(),
        num_aug: NUM_AUG,
        seed: 3,
    };
    let built = build_arc(&cfg, Output::Memory).unwrap();
    assert_eq!(built.report.short_groups, 0);
    let test = built.test.dataset.unwrap();
    let solutions = ArcSolutions::from_tasks(&tasks);
    Fixture {
        tasks,
        identifiers: built.identifiers,
        test,
        solutions,
    }
}

/// One test sequence: its puzzle identifier, variant, index among its task's variants, index
/// of the test input, and the example index.
#[derive(Debug, Clone)]
struct Seq {
    id: i32,
    task: String,
    aug: ArcAug,
    variant: usize,
    test_index: usize,
    example: usize,
}

fn sequences(f: &Fixture) -> Vec<Seq> {
    let d = &f.test;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for p in 0..d.num_puzzles() {
        let id = d.puzzle_identifiers[p];
        let (task, aug) = ArcAug::parse_name(&f.identifiers[id as usize]).unwrap();
        let n = seen.entry(task.to_string()).or_insert(0);
        let range = d.puzzle_indices[p] as usize..d.puzzle_indices[p + 1] as usize;
        for (k, e) in range.enumerate() {
            out.push(Seq {
                id,
                task: task.to_string(),
                aug,
                variant: *n,
                test_index: k,
                example: e,
            });
        }
        *n += 1;
    }
    out
}

fn label_tokens(d: &Dataset, e: usize) -> Vec<u32> {
    d.example(e)
        .1
        .iter()
        .map(|&t| if t == IGNORE_LABEL { 0 } else { t as u32 })
        .collect()
}

/// `grid` (original frame) as the variant `aug` would predict it.
fn predicted(aug: &ArcAug, grid: &Grid) -> Vec<u32> {
    arc::encode_canvas(&aug.apply(grid), 0, 0)
        .into_iter()
        .map(u32::from)
        .collect()
}

fn expected_output(f: &Fixture, s: &Seq) -> Grid {
    let t = f.tasks.iter().find(|t| t.id == s.task).unwrap();
    t.test[s.test_index].output.clone().unwrap()
}

/// A wrong answer, distinct per task and test input.
fn wrong(s: &Seq) -> Grid {
    let c = 1 + (s.task.len() + s.test_index) as u8 % 9;
    g(2, 2, &[c, c, 0, c])
}

#[test]
fn the_build_has_real_augmentations_in_the_test_split() {
    let f = fixture();
    let seqs = sequences(&f);
    assert_eq!(seqs.len(), 4 * (NUM_AUG + 1));
    assert!(seqs
        .iter()
        .any(|s| matches!(s.aug.trans_id, 1 | 3) && s.aug != ArcAug::IDENTITY));
    assert!(seqs
        .iter()
        .any(|s| s.aug.colour_map != ArcAug::IDENTITY.colour_map));
    assert_eq!(seqs.iter().filter(|s| s.aug == ArcAug::IDENTITY).count(), 4);
    // The solutions recovered from the test split are the tasks' own.
    let from_data = ArcSolutions::from_dataset(&f.test, &f.identifiers).unwrap();
    assert_eq!(from_data, f.solutions);
    assert_eq!(
        (f.solutions.num_tasks(), f.solutions.num_test_inputs()),
        (3, 4)
    );
}

#[test]
fn perfect_predictions_pass_at_every_k() {
    let f = fixture();
    let seqs = sequences(&f);
    let mut ev = ArcEvaluator::new(f.identifiers.clone(), OFFICIAL_PASS_KS.to_vec(), false);
    ev.begin_eval();
    for s in &seqs {
        let x = f.test.example(s.example).0;
        ev.add(s.id, x, &label_tokens(&f.test, s.example), 0.0);
    }
    let r = ev.result(&f.solutions);
    for k in OFFICIAL_PASS_KS {
        assert_eq!(r.pass_at[&k], 1.0, "pass@{k}");
    }
    let c = &r.counts;
    assert_eq!(
        (c.tasks, c.test_inputs, c.test_inputs_voted, c.votes),
        (3, 4, 4, seqs.len())
    );
    assert_eq!(c.variants, 3 * (NUM_AUG + 1));
    assert_eq!(c.unmatched_votes, 0);
    for t in &f.tasks {
        for (i, p) in t.test.iter().enumerate() {
            let out = p.output.clone().unwrap();
            assert_eq!(r.submission[&t.id][i], vec![out.clone(), out]);
            assert_eq!(r.tasks[&t.id][i].label_rank, Some(0));
            assert_eq!(r.tasks[&t.id][i].votes, NUM_AUG + 1);
        }
    }
    let m = r.metrics();
    assert_eq!(m.keys().cloned().collect::<Vec<_>>(), {
        let mut v: Vec<String> = OFFICIAL_PASS_KS.iter().map(|&k| pass_key(k)).collect();
        v.sort();
        v
    });
}

#[test]
fn augmented_votes_only_count_through_the_inverse_augmentation() {
    let f = fixture();
    let augmented: Vec<Seq> = sequences(&f)
        .into_iter()
        .filter(|s| s.aug != ArcAug::IDENTITY)
        .collect();
    // Inverted: the augmented answers alone solve every test input.
    let mut ev = ArcEvaluator::new(f.identifiers.clone(), vec![1], false);
    for s in &augmented {
        ev.add(
            s.id,
            f.test.example(s.example).0,
            &label_tokens(&f.test, s.example),
            0.0,
        );
    }
    let r = ev.result(&f.solutions);
    assert_eq!(r.pass_at[&1], 1.0);
    assert_eq!(r.counts.unmatched_votes, 0);
    // Not inverted (names stripped of their augmentation): nothing matches.
    let stripped: Vec<String> = f
        .identifiers
        .iter()
        .map(|n| n.split("|||").next().unwrap_or(n).to_string())
        .collect();
    let mut raw = ArcEvaluator::new(stripped, vec![1, 1000], false);
    for s in &augmented {
        raw.add(
            s.id,
            f.test.example(s.example).0,
            &label_tokens(&f.test, s.example),
            0.0,
        );
    }
    let r = raw.result(&f.solutions);
    assert_eq!(r.pass_at[&1000], 0.0);
    assert_eq!(r.counts.unmatched_votes, augmented.len());
}

#[test]
fn the_majority_wins_and_pass_at_k_is_averaged_per_task() {
    let f = fixture();
    let seqs = sequences(&f);
    let n = NUM_AUG + 1;
    let majority = n / 2 + 1;
    let mut ev = ArcEvaluator::new(f.identifiers.clone(), vec![1, 2, 5], false);
    ev.begin_eval();
    for s in &seqs {
        // Confidence favours the wrong answers: counts must still decide.
        let correct_votes = match (s.task.as_str(), s.test_index) {
            ("task_a", 0) | ("task_b", 0) => majority,
            ("task_a", 1) => n - majority,
            _ => 0,
        };
        let (grid, q) = if s.variant < correct_votes {
            (expected_output(&f, s), -3.0)
        } else {
            (wrong(s), 3.0)
        };
        ev.add(
            s.id,
            f.test.example(s.example).0,
            &predicted(&s.aug, &grid),
            q,
        );
    }
    let r = ev.result(&f.solutions);
    assert_eq!(r.pass_at[&1], (0.5 + 1.0 + 0.0) / 3.0);
    assert_eq!(r.pass_at[&2], 2.0 / 3.0);
    assert_eq!(r.pass_at[&5], 2.0 / 3.0);
    assert_eq!(r.tasks["task_a"][1].label_rank, Some(1));
    assert_eq!(r.tasks["task_c"][0].label_rank, None);
    assert_eq!(r.tasks["task_c"][0].candidates, 1);
    // The wrong answer comes back in the original frame for every variant: one candidate.
    let w = wrong(&seqs.iter().find(|s| s.task == "task_c").unwrap().clone());
    assert_eq!(r.submission["task_c"][0], vec![w.clone(), w]);
    assert_eq!(r.counts.unmatched_votes, 0);
}

#[test]
fn equal_counts_are_ranked_by_mean_sigmoid_q_halt() {
    let f = fixture();
    let seqs = sequences(&f);
    for (q_right, q_wrong, expect) in [(1.0f32, -1.0f32, 1.0), (-1.0, 1.0, 0.0)] {
        let mut ev = ArcEvaluator::new(f.identifiers.clone(), vec![1, 2], false);
        for s in seqs.iter().filter(|s| s.variant < 6) {
            let (grid, q) = if s.variant % 2 == 0 {
                (expected_output(&f, s), q_right)
            } else {
                (wrong(s), q_wrong)
            };
            ev.add(
                s.id,
                f.test.example(s.example).0,
                &predicted(&s.aug, &grid),
                q,
            );
        }
        let r = ev.result(&f.solutions);
        assert_eq!(r.pass_at[&1], expect, "q {q_right} vs {q_wrong}");
        assert_eq!(r.pass_at[&2], 1.0);
        for results in r.tasks.values() {
            assert!(results.iter().all(|t| t.votes == 6 && t.candidates == 2));
        }
    }
}

#[test]
fn accumulation_adds_the_votes_of_earlier_evals() {
    let f = fixture();
    let seqs = sequences(&f);
    // Eval 1 is all right; eval 2 is all wrong, as many votes, less (or more) confident.
    for (accumulate, q_wrong, expect) in
        [(false, -5.0f32, 0.0), (true, -5.0, 1.0), (true, 5.0, 0.0)]
    {
        let mut ev = ArcEvaluator::new(f.identifiers.clone(), vec![1, 2], accumulate);
        ev.begin_eval();
        for s in &seqs {
            ev.add(
                s.id,
                f.test.example(s.example).0,
                &label_tokens(&f.test, s.example),
                0.0,
            );
        }
        assert_eq!(ev.result(&f.solutions).pass_at[&1], 1.0);
        ev.begin_eval();
        for s in &seqs {
            ev.add(
                s.id,
                f.test.example(s.example).0,
                &predicted(&s.aug, &wrong(s)),
                q_wrong,
            );
        }
        let r = ev.result(&f.solutions);
        assert_eq!(
            r.pass_at[&1], expect,
            "accumulate {accumulate}, q {q_wrong}"
        );
        assert_eq!(r.pass_at[&2], if accumulate { 1.0 } else { 0.0 });
        let per_eval = seqs.len();
        assert_eq!(
            r.counts.votes,
            if accumulate { 2 * per_eval } else { per_eval }
        );
    }
}

#[test]
fn evaluate_arc_runs_a_real_model_end_to_end() {
    let f = fixture();
    let cfg = TrmConfig {
        hidden_size: 16,
        num_heads: 2,
        expansion: 2.0,
        l_layers: 1,
        h_cycles: 1,
        l_cycles: 1,
        halt_max_steps: 2,
        puzzle_emb_ndim: 16,
        puzzle_emb_len: 1,
        vocab_size: arc::VOCAB_SIZE,
        seq_len: arc::CANVAS * arc::CANVAS,
        num_puzzle_identifiers: f.identifiers.len(),
        ..TrmConfig::default()
    };
    let model = TrmModel::new(cfg, 1, &Device::Cpu).unwrap();
    // Batch 8 over 28 sequences: the last batch carries padding rows.
    let m = evaluate_arc(&model, &f.test, &f.identifiers, &f.solutions, 8, 0).unwrap();
    assert_eq!(m.len(), OFFICIAL_PASS_KS.len());
    for k in OFFICIAL_PASS_KS {
        let v = m[&pass_key(k)].expect("defined with tasks to score");
        assert!((0.0..=1.0).contains(&v), "pass@{k} = {v}");
    }
    let mut ev = ArcEvaluator::new(f.identifiers.clone(), OFFICIAL_PASS_KS.to_vec(), false);
    let offered = collect_arc_votes(&model, &f.test, &mut ev, 8, 0).unwrap();
    let r = ev.result(&f.solutions);
    assert_eq!(offered, f.test.num_examples());
    assert_eq!(r.counts.votes, offered);
    assert_eq!(r.counts.padding, 32 - offered);
    assert_eq!(r.counts.unmatched_votes, 0);
    assert_eq!(r.counts.test_inputs_voted, 4);
    assert_eq!(r.metrics(), m);
    // pass@K never decreases with K.
    let v: Vec<f64> = OFFICIAL_PASS_KS.iter().map(|k| r.pass_at[k]).collect();
    assert!(v.windows(2).all(|w| w[0] <= w[1]), "{v:?}");
    // A limit evaluates a prefix; unvoted test inputs count as unsolved.
    let mut ev = ArcEvaluator::new(f.identifiers.clone(), vec![1], false);
    assert_eq!(
        collect_arc_votes(&model, &f.test, &mut ev, 4, 5).unwrap(),
        5
    );
    assert_eq!(ev.result(&f.solutions).counts.votes, 5);
    assert!(collect_arc_votes(&model, &f.test, &mut ev, 0, 0).is_err());
}

#[test]
fn solutions_from_a_malformed_split_are_errors() {
    let f = fixture();
    let seqs = sequences(&f);
    let ids = &f.identifiers;
    let mut d = f.test.clone();
    d.puzzle_identifiers[0] = ids.len() as i32;
    assert!(ArcSolutions::from_dataset(&d, ids).is_err());
    let mut d = f.test.clone();
    d.puzzle_indices.pop();
    assert!(ArcSolutions::from_dataset(&d, ids).is_err());
    // A later variant whose label disagrees with the first one's.
    let s = seqs.iter().find(|s| s.variant == 3).unwrap();
    let mut d = f.test.clone();
    let at = s.example * d.seq_len;
    d.labels[at] = if d.labels[at] == 2 { 3 } else { 2 };
    let err = ArcSolutions::from_dataset(&d, ids).unwrap_err().to_string();
    assert!(err.contains("disagrees"), "{err}");
    // Tokens outside the ARC vocabulary.
    let mut d = f.test.clone();
    d.inputs[7] = 40;
    assert!(ArcSolutions::from_dataset(&d, ids).is_err());
}
