//! Weights in and out: safetensors files with the official key names and `[out, in]` layout
//! (plus string metadata), and import of official PyTorch checkpoints (`torch.save` of the
//! compiled loss-head wrapper, keys prefixed `_orig_mod.model.inner.`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

/// Why a weights file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The OS error is part of the message (not a chained source), so that it prints once.
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: String, message: String },
    #[error("{path}: not a readable PyTorch checkpoint: {message}")]
    Pickle { path: String, message: String },
    #[error("{path}: {message}")]
    Content { path: String, message: String },
    #[error(transparent)]
    Write(#[from] crate::util::atomic::WriteError),
}

fn st_err(path: &Path, e: impl std::fmt::Display) -> WeightsError {
    WeightsError::Safetensors {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Tensors by name and string metadata of a safetensors file.
pub type TensorsAndMetadata = (BTreeMap<String, Tensor>, HashMap<String, String>);

/// Read every tensor of a safetensors file and its metadata.
pub fn load_safetensors(path: &Path, device: &Device) -> Result<TensorsAndMetadata, WeightsError> {
    let bytes = std::fs::read(path).map_err(|error| WeightsError::Io {
        path: path.display().to_string(),
        error,
    })?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| st_err(path, e))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors =
        candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| st_err(path, e))?;
    Ok((tensors.into_iter().collect(), metadata))
}

/// Only the metadata of a safetensors file (reads the header, not the tensors).
pub fn read_safetensors_metadata(path: &Path) -> Result<HashMap<String, String>, WeightsError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|error| WeightsError::Io {
        path: path.display().to_string(),
        error,
    })?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|e| st_err(path, e))?;
    let n = u64::from_le_bytes(len);
    if n > 100_000_000 {
        return Err(st_err(path, format!("header length {n} is implausible")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|e| st_err(path, e))?;
    let v: serde_json::Value = serde_json::from_slice(&header).map_err(|e| st_err(path, e))?;
    let mut out = HashMap::new();
    if let Some(m) = v.get("__metadata__").and_then(|m| m.as_object()) {
        for (k, v) in m {
            if let Some(s) = v.as_str() {
                out.insert(k.clone(), s.to_string());
            }
        }
    }
    Ok(out)
}

/// Tensors as safetensors bytes (no metadata): how ranks send each other weights and carries.
pub fn tensors_to_bytes(tensors: &BTreeMap<String, Tensor>) -> candle_core::Result<Vec<u8>> {
    let data: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    safetensors::serialize(data, None).map_err(candle_core::Error::wrap)
}

/// The inverse of [`tensors_to_bytes`].
pub fn tensors_from_bytes(
    bytes: &[u8],
    device: &Device,
) -> candle_core::Result<BTreeMap<String, Tensor>> {
    Ok(candle_core::safetensors::load_buffer(bytes, device)?
        .into_iter()
        .collect())
}

/// Write tensors and metadata atomically (a temporary file in the same folder, renamed over
/// `path` once complete; see [`crate::util::atomic`]).
pub fn save_safetensors(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: &HashMap<String, String>,
) -> Result<(), WeightsError> {
    save_safetensors_with(path, tensors, metadata, &crate::util::atomic::Fs)
}

/// [`save_safetensors`] through `writer` (tests give one that fails part-way).
pub fn save_safetensors_with(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: &HashMap<String, String>,
    writer: &dyn crate::util::atomic::Writer,
) -> Result<(), WeightsError> {
    let data: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.contiguous()?)))
        .collect::<candle_core::Result<_>>()
        .map_err(|e| st_err(path, e))?;
    let meta = if metadata.is_empty() {
        None
    } else {
        Some(metadata.clone())
    };
    let bytes = safetensors::serialize(data, meta).map_err(|e| st_err(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| crate::util::atomic::WriteError {
            path: dir.to_path_buf(),
            stage: crate::util::atomic::Stage::Write,
            bytes: bytes.len(),
            source,
        })?;
    }
    crate::util::atomic::write_atomic(path, &bytes, writer)?;
    Ok(())
}

/// The key prefixes the official trainer's state dict may carry.
const OFFICIAL_PREFIXES: &[&str] = &[
    "_orig_mod.model.inner.",
    "model.inner.",
    "_orig_mod.",
    "inner.",
];

/// Read an official PyTorch checkpoint and return its tensors with the official (unprefixed)
/// key names, converted to f32 (`H_init`/`L_init` are bf16 in official runs).
pub fn import_pytorch_checkpoint(path: &Path) -> Result<BTreeMap<String, Tensor>, WeightsError> {
    let p = path.display().to_string();
    if !path.is_file() {
        return Err(WeightsError::Io {
            path: p,
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let pickle_err = |message: String| WeightsError::Pickle {
        path: p.clone(),
        message,
    };
    // The pickle reader is not hardened against every malformed input: contain any panic.
    let path_buf = path.to_path_buf();
    let read = std::panic::catch_unwind(move || candle_core::pickle::read_all(&path_buf));
    let raw = match read {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let msg = e.to_string();
            let hint = if load_safetensors(path, &Device::Cpu).is_ok() {
                "it is a safetensors file already: use it directly"
            } else if msg.contains("Zip") || msg.contains("zip") {
                "expected the zip archive that torch.save writes; the file is truncated or of another kind"
            } else {
                "the archive or its pickle is damaged"
            };
            return Err(pickle_err(format!("{hint} ({msg})")));
        }
        Err(_) => return Err(pickle_err("the file is malformed (reader aborted)".into())),
    };
    if raw.is_empty() {
        return Err(pickle_err("it holds no tensors".into()));
    }
    let mut out = BTreeMap::new();
    for (key, t) in raw {
        let name = OFFICIAL_PREFIXES
            .iter()
            .find_map(|pre| key.strip_prefix(pre))
            .unwrap_or(&key)
            .to_string();
        let t = if t.dtype().is_float() {
            t.to_dtype(DType::F32)
                .map_err(|e| pickle_err(e.to_string()))?
        } else {
            t
        };
        out.insert(name, t);
    }
    if !out.contains_key("embed_tokens.embedding_weight") || !out.contains_key("lm_head.weight") {
        return Err(WeightsError::Content {
            path: p,
            message: format!(
                "not a TRM checkpoint: no `embed_tokens.embedding_weight`/`lm_head.weight` among its {} tensors (first keys: {})",
                out.len(),
                out.keys().take(4).cloned().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(out)
}

/// Metadata key holding the model config (TOML) in every file trm-tui writes.
pub const META_MODEL_CONFIG: &str = "model_config";
/// Prefix of the EMA copy of each parameter in training checkpoints.
pub const EMA_PREFIX: &str = "ema.";

/// Open a weights or checkpoint file for inference: the config comes from the file's
/// `model_config` metadata (or `config`, when given, for files without one), the weights from
/// the EMA copy when the file has one (`ema.<name>`), else the plain tensors. Optimizer state
/// and other extras are ignored.
pub fn load_model(
    path: &Path,
    config: Option<&super::TrmConfig>,
    device: &Device,
) -> Result<(super::TrmModel, HashMap<String, String>), WeightsError> {
    let p = path.display().to_string();
    let (tensors, metadata) = load_safetensors(path, device)?;
    let cfg = match (config, metadata.get(META_MODEL_CONFIG)) {
        (Some(c), _) => c.clone(),
        (None, Some(text)) => {
            super::TrmConfig::from_toml_str(text).map_err(|e| WeightsError::Content {
                path: p.clone(),
                message: format!("its `{META_MODEL_CONFIG}` metadata is not a valid config: {e}"),
            })?
        }
        (None, None) => {
            return Err(WeightsError::Content {
                path: p,
                message: format!(
                    "has no `{META_MODEL_CONFIG}` metadata; pass the model config explicitly \
                     (e.g. `import-checkpoint --config FILE.toml`)"
                ),
            })
        }
    };
    let expected = super::net::expected_shapes(&cfg);
    let has_ema = tensors.keys().any(|k| k.starts_with(EMA_PREFIX));
    let mut chosen = BTreeMap::new();
    for name in expected.keys() {
        let ema_key = format!("{EMA_PREFIX}{name}");
        let t = if has_ema && tensors.contains_key(&ema_key) {
            tensors.get(&ema_key)
        } else {
            tensors.get(name)
        };
        if let Some(t) = t {
            chosen.insert(name.clone(), t.clone());
        }
    }
    let model =
        super::TrmModel::from_tensors(cfg, chosen, device).map_err(|e| WeightsError::Content {
            path: p,
            message: e.to_string(),
        })?;
    Ok((model, metadata))
}
