//! In-process BERT-family sentence embedder on candle (feature `candle`).
//!
//! This is memsoak's default real backend, so it has two jobs: produce the
//! same vectors as `sentence-transformers` for the same model directory, and
//! keep nothing between calls except the model and the tokenizer (a leak
//! detector's default backend must not leak itself).
//!
//! Equivalence with sentence-transformers rests on details that are easy to
//! get subtly wrong, each handled here explicitly:
//! - `max_seq_length` comes from `sentence_bert_config.json` (else 256), not
//!   from `tokenizer.json`, whose shipped truncation/padding (fixed 128 for
//!   all-MiniLM-L6-v2) is overridden in code;
//! - padding is to the longest text of each forward pass, and the attention
//!   mask is used both in attention and in pooling, so a text embeds the same
//!   alone or padded (which also lets a batch of mixed lengths run as several
//!   passes of similar lengths);
//! - pooling (mean or CLS) is read from the Pooling module's `config.json`;
//! - the pooled vector is L2-normalised.
//!
//! The model directory is found by [`resolve_model_dir`]; see its docs for the
//! search order.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::bert::BertEncoder;
use super::{BackendError, BackendInfo, Embedded, Embedder};

/// Name of the default model's directory (and of its Hugging Face repo).
pub const DEFAULT_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Hugging Face repo id of the default model, as the hub cache spells it.
pub const DEFAULT_MODEL_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Files a model directory must hold; anything else is optional.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// `max_seq_length` when `sentence_bert_config.json` does not give one: the
/// value sentence-transformers ships for all-MiniLM-L6-v2.
pub const DEFAULT_MAX_SEQ_LENGTH: usize = 256;

/// How to fetch a model, appended to every "no model" error.
const HOW_TO_GET_ONE: &str = "run ci/fetch-model.sh or pass --model DIR";

/// Render a foreign error on one line: memsoak's errors are single lines, and
/// some of candle's carry backtraces or nested causes over several.
fn line(e: impl fmt::Display) -> String {
    let text = e.to_string();
    let mut parts = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str("; ");
        out.push_str(part);
    }
    out
}

/// Settings of the candle backend. Every field is optional: the defaults
/// reproduce sentence-transformers with the model directory's own config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandleOptions {
    /// Model directory (`--model DIR`); `None` searches as
    /// [`resolve_model_dir`] describes.
    pub model_dir: Option<PathBuf>,
    /// Override of `max_seq_length` (tokens, special tokens included);
    /// `None` reads `sentence_bert_config.json`, else 256.
    pub max_seq_length: Option<usize>,
    /// Compute threads (`--threads`). `None`: `RAYON_NUM_THREADS` when the
    /// environment sets it, else [`default_threads`].
    pub threads: Option<usize>,
    /// How the threads share a batch (see [`ThreadSplit`]).
    pub split: ThreadSplit,
    /// Which BERT implementation runs the forward pass (see [`Encoder`]).
    pub encoder: Encoder,
}

/// Which implementation of the BERT forward pass the backend runs. Both load
/// the same weights and give the same vectors (to float rounding; checked in
/// `tests/candle.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encoder {
    /// memsoak's own ([`super::bert::BertEncoder`]): fused Q/K/V product,
    /// fused softmax, fewer copies. The default.
    #[default]
    Memsoak,
    /// candle-transformers' `BertModel`, kept to compare against.
    CandleTransformers,
}

impl Encoder {
    /// The name `run.json` records.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoder::Memsoak => "memsoak",
            Encoder::CandleTransformers => "candle-transformers",
        }
    }
}

/// A loaded model of either [`Encoder`].
enum Model {
    Memsoak(BertEncoder),
    CandleTransformers(BertModel),
}

impl Model {
    fn forward(
        &self,
        ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        match self {
            Model::Memsoak(m) => m.forward(ids, type_ids, Some(mask)),
            Model::CandleTransformers(m) => m.forward(ids, type_ids, Some(mask)),
        }
    }
}

/// How the compute threads share the work of a batch.
///
/// candle sizes its thread pools once per process from the environment
/// (`RAYON_NUM_THREADS`, `CANDLE_NUM_THREADS`), so the first embedder a
/// process loads decides for all that follow: load the backend before any
/// other candle or rayon work (memsoak does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ThreadSplit {
    /// Each thread runs whole forward passes: the batch's length groups
    /// (split further while there are fewer than threads). Inside a pass,
    /// each matrix product is cut into rayon tasks on the same pool: a
    /// thread runs its own when the others are busy, and a thread whose
    /// pass is done takes the rest of another's (work stealing, no
    /// barrier), so the threads end a batch together. No thread spins
    /// waiting on another, so on a busy box a descheduled thread delays
    /// only its own pass. The default.
    #[default]
    Passes,
    /// candle's own threading: every operation is split across the threads,
    /// which meet at a barrier after each one. candle 0.11's barrier spins
    /// without yielding: on a box with other work (a CI runner, a shared
    /// node) the waiting thread burns its core while the one it waits for
    /// is descheduled. Measured in README "Allocator and threading defaults".
    Operations,
}

impl ThreadSplit {
    /// The name `run.json` records.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadSplit::Passes => "passes",
            ThreadSplit::Operations => "operations",
        }
    }
}

/// How token vectors are pooled into one sentence vector, as the model's
/// `1_Pooling/config.json` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over the real (unmasked) tokens.
    Mean,
    /// The first token (`[CLS]`).
    Cls,
}

impl Pooling {
    /// Parse a sentence-transformers Pooling `config.json`.
    ///
    /// Accepts both the classic boolean form (`pooling_mode_mean_tokens`,
    /// `pooling_mode_cls_token`, ...) and the newer `"pooling_mode": "mean"`.
    /// Exactly one mode must be on, and it must be mean or CLS: other modes
    /// (max, mean-sqrt-len, weighted mean, last token) or combinations (which
    /// sentence-transformers concatenates) are refused rather than silently
    /// producing vectors that differ from the reference.
    pub fn from_config_json(text: &str) -> Result<Self, BackendError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            BackendError::Setup(format!("pooling config is not valid JSON: {}", line(e)))
        })?;
        let obj = value
            .as_object()
            .ok_or_else(|| BackendError::Setup("pooling config is not a JSON object".into()))?;

        let mut modes: Vec<String> = Vec::new();
        if let Some(mode) = obj.get("pooling_mode").and_then(|v| v.as_str()) {
            modes.push(mode.to_string());
        }
        for (key, val) in obj {
            if let Some(mode) = key.strip_prefix("pooling_mode_")
                && val.as_bool() == Some(true)
            {
                let mode = match mode {
                    "mean_tokens" => "mean",
                    "cls_token" => "cls",
                    "max_tokens" => "max",
                    "mean_sqrt_len_tokens" => "mean_sqrt_len_tokens",
                    "weightedmean_tokens" => "weightedmean",
                    "lasttoken" => "lasttoken",
                    other => other,
                };
                if !modes.iter().any(|m| m == mode) {
                    modes.push(mode.to_string());
                }
            }
        }
        match modes.as_slice() {
            [one] if one == "mean" => Ok(Pooling::Mean),
            [one] if one == "cls" => Ok(Pooling::Cls),
            [one] => Err(BackendError::Setup(format!(
                "unsupported pooling mode {one:?}: the candle backend supports mean and cls"
            ))),
            [] => Err(BackendError::Setup(
                "pooling config enables no pooling mode: expected mean or cls".into(),
            )),
            many => Err(BackendError::Setup(format!(
                "pooling config combines modes {}: the candle backend supports exactly one of mean or cls",
                many.join("+")
            ))),
        }
    }

    /// Read the pooling mode of a sentence-transformers model directory.
    ///
    /// The Pooling module's folder is taken from `modules.json` (usually
    /// `1_Pooling`). A directory without any pooling config is a plain
    /// Hugging Face model, for which sentence-transformers uses mean pooling,
    /// so that is the default here too.
    pub fn from_model_dir(dir: &Path) -> Result<Self, BackendError> {
        let sub = pooling_module_path(dir)?.unwrap_or_else(|| "1_Pooling".to_string());
        let path = dir.join(sub).join("config.json");
        match fs::read_to_string(&path) {
            Ok(text) => Self::from_config_json(&text)
                .map_err(|e| BackendError::Setup(format!("{}: {}", path.display(), line(e)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pooling::Mean),
            Err(e) => Err(BackendError::Setup(format!(
                "cannot read {}: {}",
                path.display(),
                line(e)
            ))),
        }
    }

    /// Lower-case name, as written to `run.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `path` of the Pooling entry in `modules.json`, if there is one.
fn pooling_module_path(dir: &Path) -> Result<Option<String>, BackendError> {
    let path = dir.join("modules.json");
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BackendError::Setup(format!(
                "cannot read {}: {}",
                path.display(),
                line(e)
            )));
        }
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        BackendError::Setup(format!("{} is not valid JSON: {}", path.display(), line(e)))
    })?;
    let found = value.as_array().and_then(|mods| {
        mods.iter().find_map(|m| {
            let ty = m.get("type")?.as_str()?;
            if ty.ends_with(".Pooling") || ty == "Pooling" {
                m.get("path")?.as_str().map(str::to_string)
            } else {
                None
            }
        })
    });
    Ok(found.filter(|p| !p.is_empty()))
}

/// Where [`resolve_model_dir`] looks, captured once so the order is testable
/// without touching the process environment (which tests run in parallel
/// cannot change safely).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSearch {
    /// `$MEMSOAK_MODEL_DIR`.
    pub env_model_dir: Option<PathBuf>,
    /// The Hugging Face hub cache: `$HF_HUB_CACHE`, else `$HF_HOME/hub`,
    /// else `~/.cache/huggingface/hub`.
    pub hf_hub_cache: Option<PathBuf>,
    /// Current directory (for `./models/all-MiniLM-L6-v2`).
    pub cwd: Option<PathBuf>,
    /// Repository root this crate was built from (for
    /// `<repo>/models/all-MiniLM-L6-v2`, where `ci/fetch-model.sh` puts it).
    pub repo_root: Option<PathBuf>,
}

impl ModelSearch {
    /// The search as the process environment defines it.
    pub fn from_env() -> Self {
        let mut search = Self::from_vars(|key| std::env::var_os(key));
        search.cwd = std::env::current_dir().ok();
        search
    }

    /// The search as the variables returned by `var` define it (empty values
    /// count as unset, as the Hugging Face libraries treat them). `cwd` is
    /// left unset; `repo_root` is the checkout this crate was built in.
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> Self {
        let get = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
        let hf_hub_cache = get("HF_HUB_CACHE")
            .or_else(|| get("HF_HOME").map(|home| home.join("hub")))
            .or_else(|| get("HOME").map(|home| home.join(".cache/huggingface/hub")));
        ModelSearch {
            env_model_dir: get("MEMSOAK_MODEL_DIR"),
            hf_hub_cache,
            cwd: None,
            repo_root: Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .map(Path::to_path_buf),
        }
    }

    /// Find the model directory. See [`resolve_model_dir`] for the order.
    pub fn resolve(&self, explicit: Option<&Path>) -> Result<PathBuf, BackendError> {
        // A directory the user named is used or refused, never skipped: falling
        // through to another model would run a soak on the wrong thing.
        if let Some(dir) = explicit {
            check_model_dir(dir)?;
            return Ok(dir.to_path_buf());
        }
        if let Some(dir) = &self.env_model_dir {
            check_model_dir(dir)
                .map_err(|e| BackendError::Setup(format!("$MEMSOAK_MODEL_DIR: {e}")))?;
            return Ok(dir.clone());
        }
        let mut searched: Vec<String> = vec![
            "--model (not given)".into(),
            "$MEMSOAK_MODEL_DIR (unset)".into(),
        ];
        if let Some(hub) = &self.hf_hub_cache {
            let repo_dir = hub.join(hub_repo_folder(DEFAULT_MODEL_REPO));
            if let Some(dir) = complete_snapshot(&repo_dir) {
                return Ok(dir);
            }
            searched.push(format!("{}/snapshots/*", repo_dir.display()));
        }
        // Local copies: an existing but incomplete directory is an error rather
        // than skipped, since it is almost always a fetch that went wrong.
        let local = [
            self.cwd.as_ref().map(|cwd| (cwd, "./")),
            self.repo_root.as_ref().map(|root| (root, "")),
        ];
        for (base, shown) in local.into_iter().flatten() {
            let dir = base.join("models").join(DEFAULT_MODEL_NAME);
            if dir.is_dir() {
                check_model_dir(&dir)?;
                return Ok(dir);
            }
            if shown.is_empty() {
                searched.push(dir.display().to_string());
            } else {
                searched.push(format!("./models/{DEFAULT_MODEL_NAME}"));
            }
        }
        Err(BackendError::Setup(format!(
            "no {DEFAULT_MODEL_NAME} model found (searched {}): {HOW_TO_GET_ONE}",
            searched.join(", ")
        )))
    }
}

/// Find the sentence-embedding model directory.
///
/// In order: `explicit` (`--model DIR`); `$MEMSOAK_MODEL_DIR`; the Hugging
/// Face hub cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`), snapshot of
/// `models--sentence-transformers--all-MiniLM-L6-v2` that `refs/main` names,
/// else any complete one; `models/all-MiniLM-L6-v2` under the current
/// directory; then under the repository root. A directory named explicitly or
/// by the variable must be complete ([`REQUIRED_FILES`]); incomplete hub
/// snapshots (partial downloads) are skipped. Errors are one-line
/// [`BackendError::Setup`]s that say what was searched and how to get a model.
pub fn resolve_model_dir(explicit: Option<&Path>) -> Result<PathBuf, BackendError> {
    ModelSearch::from_env().resolve(explicit)
}

/// Check that `dir` is a directory holding every file of [`REQUIRED_FILES`].
pub fn check_model_dir(dir: &Path) -> Result<(), BackendError> {
    if !dir.is_dir() {
        return Err(BackendError::Setup(format!(
            "model directory {} does not exist or is not a directory: {HOW_TO_GET_ONE}",
            dir.display()
        )));
    }
    let missing: Vec<&str> = REQUIRED_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BackendError::Setup(format!(
            "model directory {} lacks {}: {HOW_TO_GET_ONE}",
            dir.display(),
            missing.join(", ")
        )))
    }
}

/// [`line`] for candle errors, without the backtrace candle attaches when
/// `RUST_BACKTRACE` is set (memsoak's CI sets it; a backtrace is no message).
fn candle_line(e: &candle_core::Error) -> String {
    use candle_core::Error;
    match e {
        Error::WithBacktrace { inner, .. } => candle_line(inner),
        Error::Context { inner, context } => format!("{}: {}", line(context), candle_line(inner)),
        Error::WithPath { inner, path } => format!("{}: {}", path.display(), candle_line(inner)),
        other => line(other),
    }
}

/// `org/name` → `models--org--name`, the hub cache's folder naming.
fn hub_repo_folder(repo: &str) -> String {
    format!("models--{}", repo.replace('/', "--"))
}

/// The snapshot of a hub-cache repo folder to use: the one `refs/main` points
/// at when complete, else the first complete one by name (deterministic).
fn complete_snapshot(repo_dir: &Path) -> Option<PathBuf> {
    let snapshots = repo_dir.join("snapshots");
    let complete = |dir: &Path| REQUIRED_FILES.iter().all(|f| dir.join(f).is_file());
    if let Ok(main) = fs::read_to_string(repo_dir.join("refs").join("main")) {
        let dir = snapshots.join(main.trim());
        if !main.trim().is_empty() && complete(&dir) {
            return Some(dir);
        }
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().find(|d| complete(d))
}

/// A short model name for reports: `org/name` for a hub-cache snapshot, else
/// the directory's name, else the path as given.
fn model_label(dir: &Path) -> String {
    for ancestor in dir.ancestors() {
        if let Some(name) = ancestor.file_name().and_then(|n| n.to_str())
            && let Some(repo) = name.strip_prefix("models--")
        {
            return repo.replacen("--", "/", 1);
        }
    }
    dir.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .unwrap_or_else(|| dir.display().to_string())
}

/// The parts of `sentence_bert_config.json` that change results.
#[derive(Debug, Default, serde::Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

fn read_sentence_bert_config(dir: &Path) -> Result<SentenceBertConfig, BackendError> {
    let path = dir.join("sentence_bert_config.json");
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            BackendError::Setup(format!("{} is not valid: {}", path.display(), line(e)))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SentenceBertConfig::default()),
        Err(e) => Err(BackendError::Setup(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn read_bert_config(dir: &Path) -> Result<BertConfig, BackendError> {
    let path = dir.join("config.json");
    let text = fs::read_to_string(&path)
        .map_err(|e| BackendError::Setup(format!("cannot read {}: {}", path.display(), line(e))))?;
    serde_json::from_str(&text).map_err(|e| {
        BackendError::Setup(format!(
            "{} is not a BERT config candle can load: {}",
            path.display(),
            line(e)
        ))
    })
}

/// Compute device: CUDA 0 when built with `cuda` and one is present, else CPU.
fn select_device() -> Result<Device, BackendError> {
    #[cfg(feature = "cuda")]
    {
        Device::cuda_if_available(0)
            .map_err(|e| BackendError::Setup(format!("cannot open CUDA device 0: {}", line(e))))
    }
    #[cfg(not(feature = "cuda"))]
    {
        Ok(Device::Cpu)
    }
}

fn device_name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(_) => "cuda:0".to_string(),
        Device::Metal(_) => "metal:0".to_string(),
    }
}

/// A BERT-family sentence embedder running in this process on candle.
pub struct CandleEmbedder {
    model: Model,
    encoder: Encoder,
    tokenizer: Tokenizer,
    pad_id: u32,
    pad_type_id: u32,
    device: Device,
    pooling: Pooling,
    lowercase: bool,
    max_seq_length: usize,
    dim: usize,
    layers: usize,
    heads: usize,
    threads: usize,
    split: ThreadSplit,
    /// The threads of [`ThreadSplit::Passes`] (none with one thread).
    pool: Option<rayon::ThreadPool>,
    group_by_length: bool,
    model_dir: PathBuf,
}

impl fmt::Debug for CandleEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CandleEmbedder")
            .field("model_dir", &self.model_dir)
            .field("pooling", &self.pooling)
            .field("max_seq_length", &self.max_seq_length)
            .field("dim", &self.dim)
            .field("layers", &self.layers)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl CandleEmbedder {
    /// Find (see [`resolve_model_dir`]) and load the model and tokenizer.
    ///
    /// Every failure (no model, missing file, unsupported config, bad
    /// options) is a one-line [`BackendError::Setup`].
    pub fn load(opts: &CandleOptions) -> Result<Self, BackendError> {
        let model_dir = resolve_model_dir(opts.model_dir.as_deref())?;
        let threads = apply_threads(opts.threads, opts.split)?;
        let pool = match opts.split {
            ThreadSplit::Passes if threads > 1 => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("memsoak-candle-{i}"))
                    .build()
                    .map_err(|e| {
                        BackendError::Setup(format!("cannot start {threads} threads: {}", line(e)))
                    })?,
            ),
            _ => None,
        };

        let config = read_bert_config(&model_dir)?;
        let st_config = read_sentence_bert_config(&model_dir)?;
        let pooling = Pooling::from_model_dir(&model_dir)?;

        let max_seq_length = opts
            .max_seq_length
            .or(st_config.max_seq_length)
            .unwrap_or(DEFAULT_MAX_SEQ_LENGTH);
        if max_seq_length < 2 {
            return Err(BackendError::Setup(format!(
                "max_seq_length {max_seq_length} is too small: it must leave room for [CLS] and [SEP]"
            )));
        }
        if max_seq_length > config.max_position_embeddings {
            return Err(BackendError::Setup(format!(
                "max_seq_length {max_seq_length} exceeds the model's {} position embeddings",
                config.max_position_embeddings
            )));
        }

        let LoadedTokenizer {
            tokenizer,
            pad_id,
            pad_type_id,
        } = load_tokenizer(&model_dir, max_seq_length, config.pad_token_id)?;

        let device = select_device()?;
        let weights = model_dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped only while the weights are copied
        // out (the VarBuilder is dropped at the end of this block); memsoak
        // never writes model files, so nothing changes it under the mapping.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &device) }
            .map_err(|e| {
            BackendError::Setup(format!(
                "cannot read {}: {}",
                weights.display(),
                candle_line(&e)
            ))
        })?;
        let model = match opts.encoder {
            Encoder::Memsoak => BertEncoder::load(vb, &config).map(Model::Memsoak),
            Encoder::CandleTransformers => {
                BertModel::load(vb, &config).map(Model::CandleTransformers)
            }
        }
        .map_err(|e| {
            BackendError::Setup(format!(
                "cannot load a BERT model from {}: {}",
                weights.display(),
                candle_line(&e)
            ))
        })?;

        Ok(CandleEmbedder {
            model,
            encoder: opts.encoder,
            tokenizer,
            pad_id,
            pad_type_id,
            device,
            pooling,
            lowercase: st_config.do_lower_case,
            max_seq_length,
            dim: config.hidden_size,
            layers: config.num_hidden_layers,
            heads: config.num_attention_heads,
            group_by_length: true,
            threads,
            split: opts.split,
            pool,
            model_dir,
        })
    }

    /// Whether a batch runs as several forward passes of similar lengths
    /// (the default: sorted by length, cut where the padding saved outweighs
    /// another pass, each pass's attention scores capped at 4 MiB) or as one
    /// pass padded to its longest text, as sentence-transformers runs a
    /// batch. Vectors are the same either way (to float rounding); grouping
    /// is 2-3x faster on mixed lengths and keeps the attention tensors, so
    /// the allocator's high-water mark, small. Turning it off is for tests
    /// and comparisons.
    pub fn with_length_grouping(mut self, on: bool) -> Self {
        self.group_by_length = on;
        self
    }

    /// The model directory in use.
    pub fn model_dir(&self) -> &Path {
        &self.model_dir
    }

    /// Pooling mode in use.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Token limit per text, special tokens included.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Run one batch: everything allocated here is dropped on return, so
    /// repeated calls retain nothing (the caller owns the returned vectors).
    fn embed_batch(&self, texts: &[String]) -> candle_core::Result<Vec<f32>> {
        // sentence-transformers strips each text (and lower-cases it when the
        // model asks) before tokenising; truncation is configured on the
        // tokenizer at load, padding is done per group below.
        let encodings = if self.lowercase {
            let owned: Vec<String> = texts.iter().map(|t| t.trim().to_lowercase()).collect();
            self.tokenizer.encode_batch(owned, true)
        } else {
            let borrowed: Vec<&str> = texts.iter().map(|t| t.trim()).collect();
            self.tokenizer.encode_batch(borrowed, true)
        }
        .map_err(candle_core::Error::msg)?;
        let rows: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        let type_rows: Vec<&[u32]> = encodings.iter().map(|e| e.get_type_ids()).collect();
        let lens: Vec<usize> = rows.iter().map(|r| r.len()).collect();

        let dim = self.dim;
        let mut out = vec![0f32; texts.len() * dim];
        let mut groups = if self.group_by_length {
            plan_groups(&lens, self.heads)
        } else {
            vec![(0..lens.len()).collect()]
        };
        let passes = match &self.pool {
            Some(pool) => {
                split_for_threads(&mut groups, &lens, self.threads);
                run_passes(pool, &groups, |g| self.forward_group(&rows, &type_rows, g))?
            }
            None => groups
                .iter()
                .map(|g| self.forward_group(&rows, &type_rows, g))
                .collect::<candle_core::Result<Vec<_>>>()?,
        };
        for (group, vecs) in groups.iter().zip(passes) {
            for (k, &row) in group.iter().enumerate() {
                out[row * dim..(row + 1) * dim].copy_from_slice(&vecs[k * dim..(k + 1) * dim]);
            }
        }
        Ok(out)
    }

    /// One forward pass over the texts `group` (indices into `rows`), padded
    /// to the longest of them. Returns their unit vectors, row-major, in
    /// `group` order.
    fn forward_group(
        &self,
        rows: &[&[u32]],
        type_rows: &[&[u32]],
        group: &[usize],
    ) -> candle_core::Result<Vec<f32>> {
        let batch = group.len();
        let seq_len = group.iter().map(|&i| rows[i].len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq_len);
        let mut type_ids = Vec::with_capacity(batch * seq_len);
        let mut mask = Vec::with_capacity(batch * seq_len);
        for &i in group {
            let (row, types) = (rows[i], type_rows[i]);
            let pad = seq_len - row.len();
            ids.extend_from_slice(row);
            ids.extend(std::iter::repeat_n(self.pad_id, pad));
            type_ids.extend_from_slice(types);
            type_ids.extend(std::iter::repeat_n(self.pad_type_id, pad));
            mask.extend(std::iter::repeat_n(1f32, row.len()));
            mask.extend(std::iter::repeat_n(0f32, pad));
        }

        let ids = Tensor::from_vec(ids, (batch, seq_len), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (batch, seq_len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, seq_len), &self.device)?;
        let hidden = self.model.forward(&ids, &type_ids, &mask)?;

        let pooled = match self.pooling {
            Pooling::Mean => {
                // Padding tokens have hidden states too; the mask keeps them
                // out of the mean, which is what makes batching invisible.
                let mask3 = mask.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&mask3)?.sum(1)?;
                let counts = mask3.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                summed.broadcast_div(&counts)?
            }
            Pooling::Cls => hidden.i((.., 0))?.contiguous()?,
        };
        // Same epsilon as torch.nn.functional.normalize.
        let norms = pooled
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        let unit = pooled.broadcast_div(&norms)?;
        unit.flatten_all()?.to_vec1::<f32>()
    }
}

/// Fixed cost of one forward pass, in padded tokens (measured on CPU: per-op
/// dispatch, thread hand-offs, small-matrix inefficiency).
const GROUP_OVERHEAD_TOKENS: f64 = 32.0;
/// Sequence length at which a token's attention (quadratic) costs as much as
/// its linear layers.
const ATTENTION_CROSSOVER: f64 = 384.0;
/// Largest attention-score tensor of one pass, in elements (rows × heads ×
/// len²; 1 Mi f32 = 4 MiB). Beyond a cache-sized tensor attention turns
/// memory-bound, and with jemalloc's decay off the allocator keeps the
/// high-water mark, so a pass is split even where padding would not ask for
/// it. Measured on a 2-core box: as fast as 4 or 16 MiB caps, and peak RSS
/// 150 MiB instead of 250-370 MiB (840 MiB with one pass per batch).
const MAX_ATTENTION_ELEMENTS: usize = 1 << 20;

/// Split a batch into forward passes of similar lengths.
///
/// Padding every text to the batch's longest (what sentence-transformers does
/// per batch) makes a mixed batch cost as if every text were the longest:
/// with lengths spread over 4..256 that is several times the real work, and
/// the attention tensors grow with the square of it. Results do not depend on
/// the grouping (the attention mask makes padding invisible, to float
/// rounding), so the batch is sorted by length and cut where a dynamic
/// programme says the padding saved outweighs the fixed cost of another pass,
/// with no pass's attention scores above [`MAX_ATTENTION_ELEMENTS`].
/// Returns groups of indices into `lens`, shortest texts first.
fn plan_groups(lens: &[usize], heads: usize) -> Vec<Vec<usize>> {
    let n = lens.len();
    if n == 0 {
        return Vec::new();
    }
    let (overhead, crossover, max_elems) = (
        GROUP_OVERHEAD_TOKENS,
        ATTENTION_CROSSOVER,
        MAX_ATTENTION_ELEMENTS,
    );
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| lens[i]);
    // best[j]: cheapest plan for order[..j]; cut[j]: where its last group starts.
    let mut best = vec![f64::INFINITY; n + 1];
    let mut cut = vec![0usize; n + 1];
    best[0] = 0.0;
    for j in 1..=n {
        let len = lens[order[j - 1]];
        let per_row = heads.max(1).saturating_mul(len.saturating_mul(len)).max(1);
        // A single row always forms a valid pass, however long.
        let max_rows = (max_elems / per_row).max(1);
        let row_cost = len as f64 * (1.0 + len as f64 / crossover);
        for i in j.saturating_sub(max_rows)..j {
            let c = best[i] + overhead + (j - i) as f64 * row_cost;
            if c < best[j] {
                best[j] = c;
                cut[j] = i;
            }
        }
    }
    let mut groups = Vec::new();
    let mut j = n;
    while j > 0 {
        let i = cut[j];
        groups.push(order[i..j].to_vec());
        j = i;
    }
    groups.reverse();
    groups
}

/// Work of one forward pass over `group`, in the units of [`plan_groups`]'s
/// cost model.
fn pass_cost(group: &[usize], lens: &[usize]) -> f64 {
    let len = group.iter().map(|&i| lens[i]).max().unwrap_or(0) as f64;
    GROUP_OVERHEAD_TOKENS + group.len() as f64 * len * (1.0 + len / ATTENTION_CROSSOVER)
}

/// Give every thread a pass: while there are fewer passes than `threads`,
/// halve the costliest pass of two or more rows (its rows are sorted by
/// length, so each half pads to its own longest and pads less). Then order
/// the passes costliest first, so that the last pass a thread picks up is a
/// short one and the threads end the batch close together.
fn split_for_threads(groups: &mut Vec<Vec<usize>>, lens: &[usize], threads: usize) {
    while groups.len() < threads {
        let Some(k) = (0..groups.len())
            .filter(|&k| groups[k].len() >= 2)
            .max_by(|&a, &b| pass_cost(&groups[a], lens).total_cmp(&pass_cost(&groups[b], lens)))
        else {
            break;
        };
        let half = groups[k].len() / 2;
        let tail = groups[k].split_off(half);
        groups.push(tail);
    }
    groups.sort_by(|a, b| pass_cost(b, lens).total_cmp(&pass_cost(a, lens)));
}

/// Run `pass` over every group on the pool's threads (rayon's work
/// stealing hands the next group to whichever thread is free). Results in
/// `groups` order; the first error wins.
fn run_passes<F>(
    pool: &rayon::ThreadPool,
    groups: &[Vec<usize>],
    pass: F,
) -> candle_core::Result<Vec<Vec<f32>>>
where
    F: Fn(&[usize]) -> candle_core::Result<Vec<f32>> + Sync,
{
    use rayon::prelude::*;
    pool.install(|| groups.par_iter().map(|g| pass(g)).collect())
}

/// memsoak's default compute thread count: one per CPU this process may
/// run on (`sched_getaffinity`, so a container's or `taskset`'s limit
/// counts). Measured on the 2-core CI box, see README "Allocator and
/// threading defaults".
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Make `threads` take effect under `split` and return the thread count.
///
/// [`ThreadSplit::Operations`] hands the count to candle through
/// `RAYON_NUM_THREADS` and `CANDLE_NUM_THREADS` (read before every matrix
/// product and when candle's pools start). [`ThreadSplit::Passes`] sets
/// `RAYON_NUM_THREADS` to the count, so that a matrix product is cut into
/// that many rayon tasks, which run on memsoak's own pool of `threads` (its
/// passes run there), and `CANDLE_NUM_THREADS` to 1, so that candle's
/// spinning barrier pool never starts.
fn apply_threads(threads: Option<usize>, split: ThreadSplit) -> Result<usize, BackendError> {
    let from_env = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let n = match threads {
        Some(0) => return Err(BackendError::Setup("threads must be at least 1".into())),
        Some(n) => n,
        None => from_env.unwrap_or_else(default_threads),
    };
    // RAYON_NUM_THREADS sizes candle's matrix products (gemm's tasks),
    // CANDLE_NUM_THREADS its barrier pool (element-wise ops).
    let (rayon_threads, barrier_threads) = match split {
        ThreadSplit::Passes => (n, 1),
        ThreadSplit::Operations => (n, n),
    };
    for (var, count) in [
        ("RAYON_NUM_THREADS", rayon_threads),
        ("CANDLE_NUM_THREADS", barrier_threads),
    ] {
        let count = count.to_string();
        if std::env::var(var).ok().as_deref() != Some(count.as_str()) {
            // SAFETY: candle has no thread-count API; it reads these variables
            // (through std, which serialises env access). Setting them is
            // sound as long as no foreign code reads the environment
            // concurrently: memsoak loads its backend during setup, before
            // its worker threads start.
            unsafe { std::env::set_var(var, count) };
        }
    }
    Ok(n)
}

/// `tokenizer.json` with sentence-transformers' truncation, and the padding
/// token to pad with.
struct LoadedTokenizer {
    tokenizer: Tokenizer,
    pad_id: u32,
    pad_type_id: u32,
}

/// Load `tokenizer.json` with truncation and padding replaced by
/// sentence-transformers' behaviour: truncate to `max_seq_length` (longest
/// first), and no padding in the tokenizer: [`plan_groups`] pads each forward
/// pass to its longest text. The shipped file's fixed-length settings (128
/// for all-MiniLM-L6-v2) would otherwise silently change results.
fn load_tokenizer(
    dir: &Path,
    max_seq_length: usize,
    config_pad_id: usize,
) -> Result<LoadedTokenizer, BackendError> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| BackendError::Setup(format!("cannot load {}: {}", path.display(), line(e))))?;

    let (pad_id, pad_type_id) = match tokenizer.get_padding() {
        Some(p) => (p.pad_id, p.pad_type_id),
        None => match tokenizer.token_to_id("[PAD]") {
            Some(id) => (id, 0),
            None => (
                u32::try_from(config_pad_id).map_err(|_| {
                    BackendError::Setup(format!("pad_token_id {config_pad_id} is out of range"))
                })?,
                0,
            ),
        },
    };
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_seq_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|e| {
            BackendError::Setup(format!(
                "cannot set truncation on {}: {}",
                path.display(),
                line(e)
            ))
        })?;
    Ok(LoadedTokenizer {
        tokenizer,
        pad_id,
        pad_type_id,
    })
}

impl Embedder for CandleEmbedder {
    fn info(&self) -> BackendInfo {
        let mut details = serde_json::Map::new();
        details.insert("pooling".into(), self.pooling.as_str().into());
        details.insert("max_seq_length".into(), self.max_seq_length.into());
        details.insert("device".into(), device_name(&self.device).into());
        details.insert("layers".into(), self.layers.into());
        details.insert("threads".into(), self.threads.into());
        details.insert("thread_split".into(), self.split.as_str().into());
        details.insert("encoder".into(), self.encoder.as_str().into());
        details.insert("length_grouping".into(), self.group_by_length.into());
        details.insert(
            "model_dir".into(),
            self.model_dir.display().to_string().into(),
        );
        BackendInfo {
            name: "candle".into(),
            model: Some(model_label(&self.model_dir)),
            dim: Some(self.dim),
            details,
        }
    }

    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError> {
        if texts.is_empty() {
            return Ok(Embedded::Vectors {
                dim: self.dim,
                data: Vec::new(),
            });
        }
        let data = self.embed_batch(texts).map_err(|e| {
            BackendError::failed(format!("candle embed failed: {}", candle_line(&e)))
        })?;
        Ok(Embedded::Vectors {
            dim: self.dim,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_thread_gets_a_pass_and_no_row_is_lost() {
        // One group of 8 equal rows, 2 threads: halved once.
        let lens = vec![40; 8];
        let mut g = vec![(0..8).collect::<Vec<_>>()];
        split_for_threads(&mut g, &lens, 2);
        assert_eq!(g.len(), 2);
        // Three groups already: nothing to split; costliest first.
        let lens = [5, 5, 200, 200, 60];
        let mut g = vec![vec![0, 1], vec![4], vec![2, 3]];
        split_for_threads(&mut g, &lens, 2);
        assert_eq!(g, vec![vec![2, 3], vec![4], vec![0, 1]]);
        // A single text cannot be split, whatever the thread count.
        let mut g = vec![vec![0]];
        split_for_threads(&mut g, &[12], 4);
        assert_eq!(g, vec![vec![0]]);
        // Four threads over 5 rows: every row exactly once.
        let lens = [3, 9, 9, 30, 31];
        let mut g = vec![(0..5).collect::<Vec<_>>()];
        split_for_threads(&mut g, &lens, 4);
        assert_eq!(g.len(), 4);
        let mut seen: Vec<usize> = g.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..5).collect::<Vec<_>>());
    }

    fn check_plan(lens: &[usize], heads: usize) -> Vec<Vec<usize>> {
        let groups = plan_groups(lens, heads);
        let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..lens.len()).collect::<Vec<_>>(),
            "every text exactly once"
        );
        let mut last_max = 0;
        for g in &groups {
            assert!(!g.is_empty());
            let longest = g.iter().map(|&i| lens[i]).max().unwrap_or(0);
            let shortest = g.iter().map(|&i| lens[i]).min().unwrap_or(0);
            assert!(shortest >= last_max, "groups are in length order");
            last_max = longest;
            assert!(
                g.len() == 1 || g.len() * heads * longest * longest <= MAX_ATTENTION_ELEMENTS,
                "group of {} x {longest} exceeds the attention cap",
                g.len()
            );
        }
        groups
    }

    #[test]
    fn plan_empty_and_uniform() {
        assert!(plan_groups(&[], 12).is_empty());
        // Short uniform batches are one pass; the bench's 32 x 93 tokens is
        // split only by the attention cap (10 rows per pass).
        assert_eq!(check_plan(&[32; 32], 12).len(), 1);
        assert_eq!(check_plan(&[93; 32], 12).len(), 4);
        assert_eq!(check_plan(&[5], 12), vec![vec![0]]);
    }

    #[test]
    fn plan_separates_short_from_long() {
        let lens = [3, 256, 4, 250, 5];
        let groups = check_plan(&lens, 12);
        assert!(groups.len() >= 2);
        assert_eq!(groups[0], vec![0, 2, 4], "short texts share a pass");
    }

    #[test]
    fn plan_caps_attention_size() {
        let groups = check_plan(&[256; 32], 12);
        assert!(groups.len() >= 6, "{groups:?}");
        let spread: Vec<usize> = (0..64).map(|i| 2 + (i * 37) % 255).collect();
        check_plan(&spread, 12);
        // A single row over the cap still runs.
        assert_eq!(check_plan(&[512], 64).len(), 1);
    }

    #[test]
    fn pooling_names() {
        assert_eq!(Pooling::Mean.to_string(), "mean");
        assert_eq!(Pooling::Cls.as_str(), "cls");
    }

    #[test]
    fn one_line_errors() {
        assert_eq!(line("a\n  b\n\nc"), "a; b; c");
        assert_eq!(line(""), "");
    }

    #[test]
    fn labels() {
        let snap =
            Path::new("/h/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/abc");
        assert_eq!(model_label(snap), "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(
            model_label(Path::new("/x/models/all-MiniLM-L6-v2")),
            "all-MiniLM-L6-v2"
        );
        assert_eq!(hub_repo_folder("a/b"), "models--a--b");
    }
}
