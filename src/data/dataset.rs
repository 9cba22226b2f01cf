//! The official built-dataset folder (`dataset/common.py`, `PuzzleDatasetMetadata`;
//! `puzzle_dataset.py`), shared by HRM and TRM:
//!
//! ```text
//! <out>/identifiers.json                    list: id -> name ("<blank>" at 0)
//! <out>/test_puzzles.json                   ARC only: the test-set tasks with solutions
//! <out>/{train,test}/dataset.json           DatasetMetadata
//! <out>/{train,test}/all__inputs.npy        [N, seq_len] uint8
//! <out>/{train,test}/all__labels.npy        [N, seq_len] uint8
//! <out>/{train,test}/all__puzzle_identifiers.npy   [P] int32
//! <out>/{train,test}/all__puzzle_indices.npy       [P+1] int32 (example offsets)
//! <out>/{train,test}/all__group_indices.npy        [G+1] int32 (puzzle offsets)
//! ```
//!
//! [`load_dataset_dir`] reads one split folder into a [`Dataset`] (everything as `i32`, labels
//! equal to `ignore_label_id` mapped to -100, as the official loader does), checking every array.
//! [`SplitBuilder`] writes a split, streaming the example arrays to disk or keeping them in memory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::npy::{self, Dtype, NpyWriter};
use super::{DataError, Result};

/// Label value the loss ignores.
pub const IGNORE_LABEL: i32 = -100;

/// `dataset.json`, with the official field names and order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetMetadata {
    pub pad_id: i32,
    pub ignore_label_id: Option<i32>,
    pub blank_identifier_id: i32,
    pub vocab_size: usize,
    pub seq_len: usize,
    pub num_puzzle_identifiers: usize,
    pub total_groups: usize,
    pub mean_puzzle_examples: f64,
    /// New in TRM; HRM-built folders lack it. [`load_dataset_dir`] sets it from the arrays.
    #[serde(default)]
    pub total_puzzles: Option<usize>,
    pub sets: Vec<String>,
}

/// One split in memory, as the trainer consumes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dataset {
    pub seq_len: usize,
    /// [N * seq_len] token ids.
    pub inputs: Vec<i32>,
    /// [N * seq_len] token ids, ignored positions as -100.
    pub labels: Vec<i32>,
    /// `[P]` puzzle identifier of each puzzle.
    pub puzzle_identifiers: Vec<i32>,
    /// [P + 1] example offsets of each puzzle.
    pub puzzle_indices: Vec<i32>,
    /// [G + 1] puzzle offsets of each group.
    pub group_indices: Vec<i32>,
}

impl Dataset {
    pub fn num_examples(&self) -> usize {
        self.inputs.len().checked_div(self.seq_len).unwrap_or(0)
    }

    pub fn num_puzzles(&self) -> usize {
        self.puzzle_identifiers.len()
    }

    pub fn num_groups(&self) -> usize {
        self.group_indices.len().saturating_sub(1)
    }

    /// Input and label tokens of example `i`.
    pub fn example(&self, i: usize) -> (&[i32], &[i32]) {
        let r = i * self.seq_len..(i + 1) * self.seq_len;
        (&self.inputs[r.clone()], &self.labels[r])
    }

    /// A fixed sample of up to `n` examples, one per group from `n` evenly spaced groups: the
    /// first example of the group's first puzzle (its original, as the builders write the
    /// un-augmented puzzle first). One group and one puzzle per example, identifiers kept; the
    /// same data gives the same sample. The trainer evaluates it beside the test split so that
    /// the train/test gap shows (`eval_train_sample`).
    pub fn group_sample(&self, n: usize) -> Dataset {
        let groups = self.num_groups();
        let s = self.seq_len;
        let mut out = Dataset {
            seq_len: s,
            puzzle_indices: vec![0],
            group_indices: vec![0],
            ..Dataset::default()
        };
        let take = n.min(groups);
        for i in 0..take {
            // Evenly spaced: group floor(i * groups / take).
            let g = i * groups / take;
            let (p0, p1) = (self.group_indices[g], self.group_indices[g + 1]);
            let first = (p0..p1)
                .find(|&p| self.puzzle_indices[p as usize + 1] > self.puzzle_indices[p as usize]);
            let Some(p) = first else { continue };
            let e = self.puzzle_indices[p as usize] as usize;
            let (x, y) = self.example(e);
            out.inputs.extend_from_slice(x);
            out.labels.extend_from_slice(y);
            out.puzzle_identifiers
                .push(self.puzzle_identifiers[p as usize]);
            let k = out.puzzle_identifiers.len() as i32;
            out.puzzle_indices.push(k);
            out.group_indices.push(k);
        }
        out
    }

    /// Append another dataset of the same `seq_len`, shifting its offsets.
    fn append(&mut self, other: Dataset) {
        let ex = self.num_examples() as i32;
        let pz = self.num_puzzles() as i32;
        if self.puzzle_indices.is_empty() {
            self.puzzle_indices.push(0);
            self.group_indices.push(0);
        }
        self.inputs.extend(other.inputs);
        self.labels.extend(other.labels);
        self.puzzle_identifiers.extend(other.puzzle_identifiers);
        self.puzzle_indices
            .extend(other.puzzle_indices.iter().skip(1).map(|&x| x + ex));
        self.group_indices
            .extend(other.group_indices.iter().skip(1).map(|&x| x + pz));
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        DataError::invalid(
            path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("expected the official dataset metadata: {e}"),
        )
    })
}

fn check_offsets(path: &Path, name: &str, v: &[i32], end: usize, what: &str) -> Result<()> {
    let err = |m: String| DataError::invalid(path, name, m);
    if v.first() != Some(&0) {
        return Err(err(format!("must start with 0 ({what} offsets)")));
    }
    if let Some(i) = (1..v.len()).find(|&i| v[i] < v[i - 1]) {
        return Err(err(format!(
            "decreases at position {i} ({} -> {}), expected non-decreasing {what} offsets",
            v[i - 1],
            v[i]
        )));
    }
    let last = *v.last().unwrap_or(&0) as usize;
    if last != end {
        return Err(err(format!(
            "ends at {last}, expected {end} (the number of {what})"
        )));
    }
    Ok(())
}

/// Read one split folder (e.g. `<out>/train`): `dataset.json` and every set's arrays.
pub fn load_dataset_dir(dir: &Path) -> Result<(DatasetMetadata, Dataset)> {
    let meta_path = dir.join("dataset.json");
    let mut meta: DatasetMetadata = read_json(&meta_path)?;
    if meta.seq_len == 0 || meta.vocab_size == 0 {
        return Err(DataError::invalid(
            &meta_path,
            "seq_len/vocab_size",
            "must be positive",
        ));
    }
    if meta.sets.is_empty() {
        return Err(DataError::invalid(
            &meta_path,
            "sets",
            "is empty, expected e.g. [\"all\"]",
        ));
    }
    let mut all = Dataset {
        seq_len: meta.seq_len,
        ..Dataset::default()
    };
    for set in &meta.sets {
        let file = |k: &str| dir.join(format!("{set}__{k}.npy"));
        let one = load_set(&meta, &file)?;
        all.append(one);
    }
    // HRM-built folders lack `total_puzzles` and the official Sudoku/Maze builders write the
    // number of groups there: the arrays are the truth.
    meta.total_puzzles = Some(all.num_puzzles());
    Ok((meta, all))
}

fn load_set(meta: &DatasetMetadata, file: &dyn Fn(&str) -> PathBuf) -> Result<Dataset> {
    let seq_len = meta.seq_len;
    let matrix = |k: &str| -> Result<Vec<i32>> {
        let p = file(k);
        let (shape, data) = npy::read_i32(&p)?;
        if shape.len() != 2 || shape[1] != seq_len {
            return Err(DataError::invalid(
                &p,
                "shape",
                format!("is {shape:?}, expected [N, {seq_len}] (seq_len from dataset.json)"),
            ));
        }
        Ok(data)
    };
    let vector = |k: &str| -> Result<(PathBuf, Vec<i32>)> {
        let p = file(k);
        let (shape, data) = npy::read_i32(&p)?;
        if shape.len() != 1 {
            return Err(DataError::invalid(
                &p,
                "shape",
                format!("is {shape:?}, expected 1-D"),
            ));
        }
        Ok((p, data))
    };
    let inputs = matrix("inputs")?;
    let mut labels = matrix("labels")?;
    let n = inputs.len() / seq_len;
    if labels.len() != inputs.len() {
        return Err(DataError::invalid(
            &file("labels"),
            "shape",
            format!(
                "has {} rows, expected {n} like the inputs",
                labels.len() / seq_len
            ),
        ));
    }
    let vocab = meta.vocab_size as i32;
    if let Some(i) = inputs.iter().position(|&t| t < 0 || t >= vocab) {
        return Err(DataError::invalid(
            &file("inputs"),
            format!("example {}, position {}", i / seq_len, i % seq_len),
            format!("token {} is out of the vocabulary 0..{vocab}", inputs[i]),
        ));
    }
    if let Some(i) = labels
        .iter()
        .position(|&t| (t < 0 || t >= vocab) && Some(t) != meta.ignore_label_id)
    {
        return Err(DataError::invalid(
            &file("labels"),
            format!("example {}, position {}", i / seq_len, i % seq_len),
            format!("token {} is out of the vocabulary 0..{vocab}", labels[i]),
        ));
    }
    if let Some(ignore) = meta.ignore_label_id {
        for t in labels.iter_mut() {
            if *t == ignore {
                *t = IGNORE_LABEL;
            }
        }
    }
    let (id_path, puzzle_identifiers) = vector("puzzle_identifiers")?;
    let (pi_path, puzzle_indices) = vector("puzzle_indices")?;
    let (gi_path, group_indices) = vector("group_indices")?;
    if let Some(&bad) = puzzle_identifiers
        .iter()
        .find(|&&x| x < 0 || x as usize >= meta.num_puzzle_identifiers)
    {
        return Err(DataError::invalid(
            &id_path,
            "data",
            format!(
                "identifier {bad} is out of range, expected 0..{} (num_puzzle_identifiers)",
                meta.num_puzzle_identifiers
            ),
        ));
    }
    if puzzle_indices.len() != puzzle_identifiers.len() + 1 {
        return Err(DataError::invalid(
            &pi_path,
            "shape",
            format!(
                "has {} entries, expected {} (one more than the puzzle identifiers)",
                puzzle_indices.len(),
                puzzle_identifiers.len() + 1
            ),
        ));
    }
    check_offsets(&pi_path, "data", &puzzle_indices, n, "examples")?;
    check_offsets(
        &gi_path,
        "data",
        &group_indices,
        puzzle_identifiers.len(),
        "puzzles",
    )?;
    Ok(Dataset {
        seq_len,
        inputs,
        labels,
        puzzle_identifiers,
        puzzle_indices,
        group_indices,
    })
}

/// Read `identifiers.json` (id -> name).
pub fn load_identifiers(root: &Path) -> Result<Vec<String>> {
    read_json(&root.join("identifiers.json"))
}

/// A whole built-dataset folder.
#[derive(Debug, Clone)]
pub struct BuiltDataset {
    pub identifiers: Vec<String>,
    pub train: (DatasetMetadata, Dataset),
    pub test: (DatasetMetadata, Dataset),
}

/// Read `<root>/identifiers.json`, `<root>/train` and `<root>/test`.
pub fn load_built_dataset(root: &Path) -> Result<BuiltDataset> {
    Ok(BuiltDataset {
        identifiers: load_identifiers(root)?,
        train: load_dataset_dir(&root.join("train"))?,
        test: load_dataset_dir(&root.join("test"))?,
    })
}

/// Whether `dir` looks like a built-dataset root (has `train/dataset.json`).
pub fn is_built_dataset(dir: &Path) -> bool {
    dir.join("train").join("dataset.json").is_file()
}

enum Storage {
    Memory {
        inputs: Vec<u8>,
        labels: Vec<u8>,
    },
    Disk {
        dir: PathBuf,
        inputs: NpyWriter,
        labels: NpyWriter,
    },
}

/// Writes one split: examples are pushed puzzle by puzzle and group by group.
pub struct SplitBuilder {
    seq_len: usize,
    storage: Storage,
    examples: usize,
    puzzle_identifiers: Vec<i32>,
    puzzle_indices: Vec<i32>,
    group_indices: Vec<i32>,
}

/// What [`SplitBuilder::finish`] produced: the metadata, and the data when kept in memory.
#[derive(Debug, Clone)]
pub struct FinishedSplit {
    pub meta: DatasetMetadata,
    pub dataset: Option<Dataset>,
}

impl SplitBuilder {
    fn with(seq_len: usize, storage: Storage) -> Self {
        SplitBuilder {
            seq_len,
            storage,
            examples: 0,
            puzzle_identifiers: Vec::new(),
            puzzle_indices: vec![0],
            group_indices: vec![0],
        }
    }

    /// Keep the split in memory.
    pub fn memory(seq_len: usize) -> Self {
        Self::with(
            seq_len,
            Storage::Memory {
                inputs: Vec::new(),
                labels: Vec::new(),
            },
        )
    }

    /// Stream the split to `dir` (created if needed).
    pub fn disk(dir: &Path, seq_len: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
        let inputs = NpyWriter::create(&dir.join("all__inputs.npy"), Dtype::U8, Some(seq_len))?;
        let labels = NpyWriter::create(&dir.join("all__labels.npy"), Dtype::U8, Some(seq_len))?;
        Ok(Self::with(
            seq_len,
            Storage::Disk {
                dir: dir.to_path_buf(),
                inputs,
                labels,
            },
        ))
    }

    pub fn num_examples(&self) -> usize {
        self.examples
    }

    /// Add one example to the current puzzle.
    pub fn push_example(&mut self, input: &[u8], label: &[u8]) -> Result<()> {
        debug_assert_eq!(input.len(), self.seq_len);
        debug_assert_eq!(label.len(), self.seq_len);
        match &mut self.storage {
            Storage::Memory { inputs, labels } => {
                inputs.extend_from_slice(input);
                labels.extend_from_slice(label);
            }
            Storage::Disk { inputs, labels, .. } => {
                inputs.write_u8(input)?;
                labels.write_u8(label)?;
            }
        }
        self.examples += 1;
        Ok(())
    }

    /// Close the current puzzle with its identifier.
    pub fn end_puzzle(&mut self, identifier: i32) {
        self.puzzle_indices.push(self.examples as i32);
        self.puzzle_identifiers.push(identifier);
    }

    /// Close the current group.
    pub fn end_group(&mut self) {
        self.group_indices
            .push(self.puzzle_identifiers.len() as i32);
    }

    /// Finish: compute the metadata; on disk write the index arrays and `dataset.json`.
    pub fn finish(self, vocab_size: usize, num_puzzle_identifiers: usize) -> Result<FinishedSplit> {
        let puzzles = self.puzzle_identifiers.len();
        let meta = DatasetMetadata {
            pad_id: 0,
            ignore_label_id: Some(0),
            blank_identifier_id: 0,
            vocab_size,
            seq_len: self.seq_len,
            num_puzzle_identifiers,
            total_groups: self.group_indices.len() - 1,
            mean_puzzle_examples: if puzzles == 0 {
                0.0
            } else {
                self.examples as f64 / puzzles as f64
            },
            total_puzzles: Some(puzzles),
            sets: vec!["all".to_string()],
        };
        match self.storage {
            Storage::Memory { inputs, labels } => {
                let ignore = meta.ignore_label_id;
                let dataset = Dataset {
                    seq_len: self.seq_len,
                    inputs: inputs.iter().map(|&t| i32::from(t)).collect(),
                    labels: labels
                        .iter()
                        .map(|&t| {
                            if Some(i32::from(t)) == ignore {
                                IGNORE_LABEL
                            } else {
                                i32::from(t)
                            }
                        })
                        .collect(),
                    puzzle_identifiers: self.puzzle_identifiers,
                    puzzle_indices: self.puzzle_indices,
                    group_indices: self.group_indices,
                };
                Ok(FinishedSplit {
                    meta,
                    dataset: Some(dataset),
                })
            }
            Storage::Disk {
                dir,
                inputs,
                labels,
            } => {
                inputs.finish()?;
                labels.finish()?;
                npy::write_i32(
                    &dir.join("all__puzzle_identifiers.npy"),
                    None,
                    &self.puzzle_identifiers,
                )?;
                npy::write_i32(
                    &dir.join("all__puzzle_indices.npy"),
                    None,
                    &self.puzzle_indices,
                )?;
                npy::write_i32(
                    &dir.join("all__group_indices.npy"),
                    None,
                    &self.group_indices,
                )?;
                write_json(&dir.join("dataset.json"), &meta)?;
                Ok(FinishedSplit {
                    meta,
                    dataset: None,
                })
            }
        }
    }
}

/// Write a value as JSON.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| DataError::Request(format!("cannot serialise {}: {e}", path.display())))?;
    std::fs::write(path, text).map_err(|e| DataError::io(path, e))
}

/// A split in which every example is its own puzzle and group (identifier 0), the layout of
/// an un-augmented Sudoku or Maze build: for evaluating a puzzle file or for synthetic data.
/// `examples` yields `(inputs, labels)` of `seq_len` tokens each (labels `-100` = ignored).
pub fn single_example_split(
    seq_len: usize,
    vocab_size: usize,
    examples: impl IntoIterator<Item = (Vec<i32>, Vec<i32>)>,
) -> (DatasetMetadata, Dataset) {
    let mut ds = Dataset {
        seq_len,
        puzzle_indices: vec![0],
        group_indices: vec![0],
        ..Default::default()
    };
    for (input, label) in examples {
        ds.inputs.extend_from_slice(&input);
        ds.labels.extend_from_slice(&label);
        ds.puzzle_identifiers.push(0);
        ds.puzzle_indices.push(ds.puzzle_identifiers.len() as i32);
        ds.group_indices.push(ds.puzzle_identifiers.len() as i32);
    }
    let n = ds.num_puzzles();
    let meta = DatasetMetadata {
        pad_id: 0,
        ignore_label_id: Some(0),
        blank_identifier_id: 0,
        vocab_size,
        seq_len,
        num_puzzle_identifiers: 1,
        total_groups: n,
        mean_puzzle_examples: 1.0,
        total_puzzles: Some(n),
        sets: vec!["all".into()],
    };
    (meta, ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `groups` groups; group g has 2 puzzles (an original and a variant) of 1 example, except
    /// group 1, whose first puzzle has no example; example tokens are their index.
    fn toy(groups: usize) -> Dataset {
        let mut d = Dataset {
            seq_len: 2,
            puzzle_indices: vec![0],
            group_indices: vec![0],
            ..Dataset::default()
        };
        let mut e = 0;
        for g in 0..groups {
            for p in 0..2 {
                if !(g == 1 && p == 0) {
                    d.inputs.extend([e, e]);
                    d.labels.extend([e + 100, e + 100]);
                    e += 1;
                }
                d.puzzle_identifiers.push((g * 2 + p) as i32);
                d.puzzle_indices.push(e);
            }
            d.group_indices.push(d.puzzle_identifiers.len() as i32);
        }
        d
    }

    #[test]
    fn group_sample_takes_the_first_example_of_evenly_spaced_groups() {
        let d = toy(10);
        let s = d.group_sample(4);
        // Groups 0, 2, 5, 7: their originals are examples 0, 3, 9, 13 (group 1 holds one).
        assert_eq!(s.num_examples(), 4);
        assert_eq!(s.num_groups(), 4);
        assert_eq!(s.puzzle_identifiers, vec![0, 4, 10, 14]);
        assert_eq!(s.inputs, vec![0, 0, 3, 3, 9, 9, 13, 13]);
        assert_eq!(s.labels[2..4], [103, 103]);
        assert_eq!(s.puzzle_indices, vec![0, 1, 2, 3, 4]);
        assert_eq!(s, d.group_sample(4), "the same data gives the same sample");
    }

    #[test]
    fn group_sample_skips_empty_puzzles_and_caps_at_the_group_count() {
        let d = toy(3);
        let s = d.group_sample(50);
        assert_eq!(s.num_examples(), 3);
        // Group 1's first puzzle is empty: its variant (example 2) stands in.
        assert_eq!(s.inputs, vec![0, 0, 2, 2, 3, 3]);
        assert_eq!(s.puzzle_identifiers, vec![0, 3, 4]);
        assert_eq!(d.group_sample(0).num_examples(), 0);
    }
}
