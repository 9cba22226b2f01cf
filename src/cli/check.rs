//! `trm-tui check`: correctness checks to run on a new device, where the test binaries are
//! not at hand (scripts/gpu-check.sh runs them on a GPU machine):
//! - `check parity`: the official parity fixtures' first evaluation step on a device, its
//!   logits against the fixture's, with the error measure of tests/parity.rs
//!   (max |ours - official| / max |official|);
//! - `check eval`: `eval` of a checkpoint with the forward dtype chosen (float32 or bfloat16),
//!   where `eval` takes the checkpoint's own setting.
//!
//! Both print one JSON object per line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use color_eyre::eyre::{bail, eyre, Result, WrapErr};

use crate::model::weights::load_model;
use crate::model::{Batch, ForwardDtype, TrmConfig, TrmModel};
use crate::train::device::{device_label, open_device};
use crate::train::engine::evaluate_model;
use crate::util::Rng;

#[derive(Debug, clap::Subcommand)]
pub enum CheckCommand {
    /// The parity fixtures' first evaluation step on a device against the official logits.
    Parity(ParityArgs),
    /// Evaluate a checkpoint with the forward dtype given.
    Eval(EvalArgs),
}

#[derive(Debug, clap::Args)]
pub struct ParityArgs {
    /// A folder of parity fixtures (`NAME.safetensors` with `NAME.json`).
    #[arg(long)]
    pub fixtures: PathBuf,
    /// `cpu`, `auto` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The forward dtype (`float32` or `bfloat16`).
    #[arg(long, default_value = "float32")]
    pub dtype: String,
    /// The largest relative error that passes (tests/parity.rs uses 2e-4 for the forward).
    #[arg(long, default_value_t = 2e-4)]
    pub tol: f64,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// A built dataset folder (its test split) or a puzzle file.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The forward dtype (`float32` or `bfloat16`).
    #[arg(long, default_value = "float32")]
    pub dtype: String,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

pub fn run(cmd: CheckCommand) -> Result<()> {
    match cmd {
        CheckCommand::Parity(a) => parity(a),
        CheckCommand::Eval(a) => eval(a),
    }
}

fn dtype_of(s: &str) -> Result<ForwardDtype> {
    match s {
        "float32" => Ok(ForwardDtype::Float32),
        "bfloat16" => Ok(ForwardDtype::Bfloat16),
        other => bail!("--dtype {other}: expected float32 or bfloat16"),
    }
}

fn eval(a: EvalArgs) -> Result<()> {
    let dtype = dtype_of(&a.dtype)?;
    let (device, _) = open_device(&a.device)?;
    let (mut model, _) = load_model(&a.checkpoint, None, &device)?;
    model.config.forward_dtype = dtype;
    let (meta, ds, kind) = super::train::eval_split(&a.data)?;
    if meta.seq_len != model.config.seq_len {
        bail!(
            "{}: seq_len {} does not fit the model of {} (seq_len {})",
            a.data.display(),
            meta.seq_len,
            a.checkpoint.display(),
            model.config.seq_len
        );
    }
    let t0 = std::time::Instant::now();
    let m = evaluate_model(&model, &ds, kind, a.batch.max(1), a.limit, None)?;
    let mut out = serde_json::Map::new();
    out.insert(
        "checkpoint".into(),
        a.checkpoint.display().to_string().into(),
    );
    out.insert("data".into(), a.data.display().to_string().into());
    out.insert("device".into(), device_label(&device).into());
    out.insert("dtype".into(), a.dtype.clone().into());
    out.insert("eval_seconds".into(), t0.elapsed().as_secs_f64().into());
    for (k, v) in m {
        out.insert(k, v.map_or(serde_json::Value::Null, Into::into));
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// The fixture's model config: the keys `TrmConfig` knows (the fixtures also hold the
/// official code's other settings).
fn fixture_config(json: &serde_json::Value) -> Result<TrmConfig> {
    let known = serde_json::to_value(TrmConfig::default())?;
    let known = known
        .as_object()
        .ok_or_else(|| eyre!("config is not an object"))?;
    let given = json["config"]
        .as_object()
        .ok_or_else(|| eyre!("the fixture's JSON has no `config` object"))?;
    let mut m = known.clone();
    for (k, v) in given {
        if m.contains_key(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    Ok(serde_json::from_value(serde_json::Value::Object(m))?)
}

fn ints(t: &Tensor) -> Result<Vec<i32>> {
    Ok(t.flatten_all()?
        .to_dtype(DType::I64)?
        .to_vec1::<i64>()?
        .into_iter()
        .map(|v| v as i32)
        .collect())
}

/// Max |a - b| over max |b| (the absolute error where b is all zero), as tests/parity.rs.
fn rel_err(ours: &Tensor, reference: &Tensor) -> Result<f64> {
    let a = ours
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?;
    let b = reference.to_dtype(DType::F64)?.flatten_all()?;
    if a.dims() != b.dims() {
        bail!(
            "shape {:?} vs the fixture's {:?}",
            ours.dims(),
            reference.dims()
        );
    }
    let diff = (a - &b)?.abs()?.max(0)?.to_scalar::<f64>()?;
    let scale = b.abs()?.max(0)?.to_scalar::<f64>()?;
    Ok(if scale == 0.0 { diff } else { diff / scale })
}

fn parity_one(path: &Path, device: &Device, dtype: ForwardDtype) -> Result<f64> {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(path.with_extension("json"))
            .wrap_err_with(|| format!("{}: its .json", path.display()))?,
    )?;
    let mut cfg = fixture_config(&json).wrap_err_with(|| format!("{}", path.display()))?;
    cfg.forward_dtype = dtype;
    let t: BTreeMap<String, Tensor> = candle_core::safetensors::load(path, &Device::Cpu)
        .wrap_err_with(|| format!("{}", path.display()))?
        .into_iter()
        .collect();
    let get = |k: &str| {
        t.get(k)
            .ok_or_else(|| eyre!("{}: no tensor {k}", path.display()))
    };
    let weights: BTreeMap<String, Tensor> = t
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("weights.")
                .map(|n| (n.to_string(), v.clone()))
        })
        .collect();
    let model = TrmModel::from_tensors(cfg, weights, device)?;
    let inputs = get("batch.inputs")?;
    let (b, s) = inputs.dims2()?;
    let batch = Batch {
        size: b,
        seq_len: s,
        inputs: ints(inputs)?,
        labels: match t.get("batch.labels") {
            Some(l) => ints(l)?,
            None => vec![-100; b * s],
        },
        puzzle_ids: ints(get("batch.puzzle_identifiers")?)?,
    };
    let carry = model.act_initial_carry(b)?;
    let (_, out) = model.act_step(&carry, &batch, false, &mut Rng::new(0))?;
    rel_err(&out.step.logits, get("eval.step1.logits")?)
}

fn parity(a: ParityArgs) -> Result<()> {
    let dtype = dtype_of(&a.dtype)?;
    let (device, _) = open_device(&a.device)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.fixtures)
        .wrap_err_with(|| format!("{}: cannot list", a.fixtures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "safetensors") && p.with_extension("json").is_file()
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "{}: no parity fixture (NAME.safetensors with NAME.json)",
            a.fixtures.display()
        );
    }
    let mut worst = 0f64;
    for f in &files {
        let name = f
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned());
        let e = parity_one(f, &device, dtype)?;
        worst = worst.max(e);
        println!(
            "{}",
            serde_json::json!({
                "fixture": name, "device": device_label(&device), "dtype": a.dtype,
                "logits_rel_err": e, "tol": a.tol, "ok": e <= a.tol,
            })
        );
    }
    if worst > a.tol {
        bail!(
            "parity: worst logits error {worst:.3e} is above {:.1e}",
            a.tol
        );
    }
    Ok(())
}
