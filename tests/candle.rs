//! The candle backend against sentence-transformers, and its model lookup.
//!
//! The reference vectors in `tests/fixtures/reference_embeddings.json` come
//! from `ci/reference_embeddings.py` (sentence-transformers on the same model
//! directory). The model itself is not in git: CI runs `ci/fetch-model.sh`
//! first, and without it these tests fail (never skip), saying so.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use memsoak::backend::candle::{
    CandleEmbedder, CandleOptions, ModelSearch, Pooling, REQUIRED_FILES, check_model_dir,
    resolve_model_dir,
};
use memsoak::backend::{BackendError, Embedded, Embedder};

const MIN_COSINE: f32 = 0.999;
const REPO: &str = "models--sentence-transformers--all-MiniLM-L6-v2";

#[derive(serde::Deserialize)]
struct Reference {
    dim: usize,
    max_seq_length: usize,
    texts: Vec<String>,
    tokens: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> &'static Reference {
    static REF: OnceLock<Reference> = OnceLock::new();
    REF.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/reference_embeddings.json");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let r: Reference = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is malformed: {e}", path.display()));
        assert_eq!(
            r.texts.len(),
            r.embeddings.len(),
            "fixture texts/vectors mismatch"
        );
        r
    })
}

/// The real model directory; a missing model fails the test loudly.
fn model_dir() -> PathBuf {
    resolve_model_dir(None).unwrap_or_else(|e| {
        panic!("the candle tests need the model: {e} (CI runs ci/fetch-model.sh first)")
    })
}

fn load(opts: &CandleOptions) -> CandleEmbedder {
    CandleEmbedder::load(opts).unwrap_or_else(|e| panic!("loading the model failed: {e}"))
}

fn load_default() -> CandleEmbedder {
    load(&CandleOptions {
        model_dir: Some(model_dir()),
        ..CandleOptions::default()
    })
}

fn vectors(e: &mut CandleEmbedder, texts: &[String]) -> Vec<Vec<f32>> {
    match e
        .embed(texts)
        .unwrap_or_else(|err| panic!("embed failed: {err}"))
    {
        Embedded::Vectors { dim, data } => {
            assert_eq!(data.len(), texts.len() * dim, "wrong number of values");
            data.chunks(dim).map(<[f32]>::to_vec).collect()
        }
        other => panic!("expected vectors, got {other:?}"),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn norm(a: &[f32]) -> f32 {
    a.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Embed the reference texts grouped by `groups` (indices into the fixture)
/// and check every vector against sentence-transformers. Returns the minimum
/// cosine.
fn check_against_reference(e: &mut CandleEmbedder, groups: &[Vec<usize>], label: &str) -> f32 {
    let r = reference();
    let mut min = f32::MAX;
    let mut failures = Vec::new();
    for group in groups {
        let texts: Vec<String> = group.iter().map(|&i| r.texts[i].clone()).collect();
        let got = vectors(e, &texts);
        for (&i, v) in group.iter().zip(&got) {
            assert_eq!(v.len(), 384, "dim");
            let n = norm(v);
            assert!((n - 1.0).abs() < 1e-4, "{label}: text {i} has norm {n}");
            let c = cosine(v, &r.embeddings[i]);
            min = min.min(c);
            if c.is_nan() || c < MIN_COSINE {
                failures.push(format!("text {i} ({:.40?}): cosine {c}", r.texts[i]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{label}: below cosine {MIN_COSINE}:\n{}",
        failures.join("\n")
    );
    eprintln!("{label}: min cosine {min:.7}");
    min
}

#[test]
fn fixture_is_varied_enough() {
    let r = reference();
    assert!(r.texts.len() >= 30);
    assert_eq!(r.dim, 384);
    assert_eq!(r.max_seq_length, 256);
    assert!(r.texts.iter().any(String::is_empty), "needs an empty text");
    assert!(
        r.tokens
            .iter()
            .filter(|&&t| t > 2 * r.max_seq_length)
            .count()
            >= 1
            && r.tokens.iter().filter(|&&t| t > r.max_seq_length).count() >= 3,
        "needs texts far beyond max_seq_length"
    );
    assert!(
        r.tokens.iter().filter(|&&t| t <= 3).count() >= 3,
        "needs one-word texts"
    );
}

#[test]
fn matches_sentence_transformers() {
    let r = reference();
    let mut e = load_default();
    let n = r.texts.len();

    // One text per call: no padding at all.
    let singles: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    let m1 = check_against_reference(&mut e, &singles, "one at a time");

    // Batches of 8 in fixture order, and everything in one batch of 33.
    let eights: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(8)
        .map(<[usize]>::to_vec)
        .collect();
    let m2 = check_against_reference(&mut e, &eights, "batches of 8");
    let m3 = check_against_reference(&mut e, &[(0..n).collect()], "one batch");

    // Shortest and longest together, so that most rows are mostly padding.
    let mut by_len: Vec<usize> = (0..n).collect();
    by_len.sort_by_key(|&i| r.tokens[i]);
    let mixed: Vec<usize> = by_len[..5]
        .iter()
        .chain(&by_len[n - 3..])
        .copied()
        .collect();
    let m4 = check_against_reference(&mut e, std::slice::from_ref(&mixed), "short+long batch");

    // The same without length grouping: every batch is one forward pass
    // padded to its longest text, as sentence-transformers runs it.
    let mut padded = e.with_length_grouping(false);
    let m5 = check_against_reference(&mut padded, &[(0..n).collect()], "one padded pass");
    let m6 = check_against_reference(&mut padded, &[mixed], "short+long padded pass");

    let min = [m1, m2, m3, m4, m5, m6]
        .into_iter()
        .fold(f32::MAX, f32::min);
    eprintln!("min cosine over all batchings: {min:.7}");
}

#[test]
fn padding_does_not_change_a_vector() {
    let r = reference();
    // One pass per batch, so the short text really is padded to 256 tokens.
    let mut e = load_default().with_length_grouping(false);
    let longest = (0..r.texts.len()).max_by_key(|&i| r.tokens[i]).unwrap_or(0);
    let short = [
        "",
        "hello",
        "🙂",
        "Привет",
        "The quick brown fox jumps over the lazy dog.",
    ];
    for text in short {
        let alone = vectors(&mut e, &[text.to_string()]).remove(0);
        let batch = vec![
            r.texts[longest].clone(),
            text.to_string(),
            r.texts[longest].clone(),
        ];
        let padded = vectors(&mut e, &batch).remove(1);
        let max_diff = alone
            .iter()
            .zip(&padded)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            max_diff < 1e-4,
            "{text:?}: alone and padded to 256 tokens differ by {max_diff}"
        );
    }
}

#[test]
fn repeated_calls_give_identical_vectors() {
    let r = reference();
    let mut e = load_default();
    let texts: Vec<String> = r.texts[..6].to_vec();
    let a = e.embed(&texts).map_err(|e| e.to_string());
    let b = e.embed(&texts).map_err(|e| e.to_string());
    assert_eq!(a, b);
}

#[test]
fn info_and_empty_batch() {
    let mut e = load_default();
    let info = e.info();
    assert_eq!(info.name, "candle");
    assert_eq!(info.model.as_deref(), Some("all-MiniLM-L6-v2"));
    assert_eq!(info.dim, Some(384));
    assert_eq!(info.details["pooling"], "mean");
    assert_eq!(info.details["max_seq_length"], 256);
    assert_eq!(info.details["device"], "cpu");
    assert_eq!(info.details["layers"], 6);
    assert!(info.details["threads"].as_u64().is_some_and(|t| t >= 1));
    assert_eq!(info.details["length_grouping"], true);
    assert_eq!(e.target_pid(), None);
    let out = e.embed(&[]).map_err(|e| e.to_string());
    assert_eq!(
        out,
        Ok(Embedded::Vectors {
            dim: 384,
            data: vec![]
        })
    );
}

#[test]
fn options_are_checked() {
    let dir = model_dir();
    let too_long = CandleEmbedder::load(&CandleOptions {
        model_dir: Some(dir.clone()),
        max_seq_length: Some(600),
        ..CandleOptions::default()
    });
    let msg = setup_message(too_long.map(|_| ()));
    assert!(msg.contains("600") && msg.contains("512"), "{msg}");

    let zero_threads = CandleEmbedder::load(&CandleOptions {
        model_dir: Some(dir.clone()),
        threads: Some(0),
        ..CandleOptions::default()
    });
    assert!(setup_message(zero_threads.map(|_| ())).contains("threads"));

    // A shorter limit is honoured (and changes long texts, as it would in
    // sentence-transformers).
    let mut short = load(&CandleOptions {
        model_dir: Some(dir),
        max_seq_length: Some(32),
        ..CandleOptions::default()
    });
    assert_eq!(short.info().details["max_seq_length"], 32);
    let r = reference();
    let longest = (0..r.texts.len()).max_by_key(|&i| r.tokens[i]).unwrap_or(0);
    let v = vectors(&mut short, &[r.texts[longest].clone()]).remove(0);
    assert!(cosine(&v, &r.embeddings[longest]) < 0.999);
}

fn setup_message(r: Result<(), BackendError>) -> String {
    match r {
        Err(BackendError::Setup(msg)) => {
            assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
            msg
        }
        Err(other) => panic!("expected a Setup error, got {other:?}"),
        Ok(()) => panic!("expected a Setup error, got success"),
    }
}

// ---- model resolution ------------------------------------------------------

/// A complete model directory at `dir`, made of symlinks to the real files.
fn link_model(dir: &Path) {
    let real = model_dir();
    fs::create_dir_all(dir).expect("mkdir");
    for entry in fs::read_dir(&real).expect("read model dir").flatten() {
        std::os::unix::fs::symlink(entry.path(), dir.join(entry.file_name())).expect("symlink");
    }
}

/// A hub cache under `hub` with one complete snapshot `rev`, optionally named
/// by refs/main; returns the snapshot dir.
fn hub_snapshot(hub: &Path, rev: &str, main: bool) -> PathBuf {
    let repo = hub.join(REPO);
    let snap = repo.join("snapshots").join(rev);
    link_model(&snap);
    if main {
        fs::create_dir_all(repo.join("refs")).expect("mkdir refs");
        fs::write(repo.join("refs/main"), rev).expect("write refs/main");
    }
    snap
}

fn empty_search() -> ModelSearch {
    ModelSearch {
        env_model_dir: None,
        hf_hub_cache: None,
        cwd: None,
        repo_root: None,
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn resolution_order() {
    let tmp = tempdir();
    let t = tmp.path();
    let explicit = t.join("explicit");
    let env_dir = t.join("env");
    let hub = t.join("hub");
    let cwd = t.join("cwd");
    let root = t.join("root");
    link_model(&explicit);
    link_model(&env_dir);
    let snap = hub_snapshot(&hub, "0123abcd", true);
    link_model(&cwd.join("models/all-MiniLM-L6-v2"));
    link_model(&root.join("models/all-MiniLM-L6-v2"));

    let mut s = ModelSearch {
        env_model_dir: Some(env_dir.clone()),
        hf_hub_cache: Some(hub.clone()),
        cwd: Some(cwd.clone()),
        repo_root: Some(root.clone()),
    };
    let got = |s: &ModelSearch, ex: Option<&Path>| {
        s.resolve(ex)
            .unwrap_or_else(|e| panic!("resolve failed: {e}"))
    };
    assert_eq!(got(&s, Some(&explicit)), explicit);
    assert_eq!(got(&s, None), env_dir);
    s.env_model_dir = None;
    assert_eq!(got(&s, None), snap);
    s.hf_hub_cache = Some(t.join("no-such-hub"));
    assert_eq!(got(&s, None), cwd.join("models/all-MiniLM-L6-v2"));
    s.cwd = Some(t.join("elsewhere"));
    assert_eq!(got(&s, None), root.join("models/all-MiniLM-L6-v2"));
    s.repo_root = Some(t.join("nowhere"));
    let msg = setup_message(s.resolve(None).map(|_| ()));
    assert!(
        msg.contains("run ci/fetch-model.sh or pass --model DIR"),
        "{msg}"
    );
    assert!(
        msg.contains("MEMSOAK_MODEL_DIR") && msg.contains(REPO),
        "{msg}"
    );
    assert!(
        msg.contains(
            &t.join("nowhere/models/all-MiniLM-L6-v2")
                .display()
                .to_string()
        ),
        "{msg}"
    );

    // A broken explicit or env dir is an error, not a reason to look further.
    s.repo_root = Some(root.clone());
    let msg = setup_message(s.resolve(Some(&t.join("missing"))).map(|_| ()));
    assert!(msg.contains("missing"), "{msg}");
    s.env_model_dir = Some(t.join("missing-env"));
    let msg = setup_message(s.resolve(None).map(|_| ()));
    assert!(
        msg.contains("MEMSOAK_MODEL_DIR") && msg.contains("missing-env"),
        "{msg}"
    );
}

#[test]
fn hub_cache_layout() {
    let tmp = tempdir();
    let hub = tmp.path().join("hub");
    let repo = hub.join(REPO);

    // A partial download (config only) is skipped in favour of a complete one.
    fs::create_dir_all(repo.join("snapshots/aaaa")).expect("mkdir");
    fs::write(repo.join("snapshots/aaaa/config.json"), "{}").expect("write");
    let search = ModelSearch {
        hf_hub_cache: Some(hub.clone()),
        ..empty_search()
    };
    assert!(
        search.resolve(None).is_err(),
        "an incomplete snapshot must not be used"
    );
    let complete = hub_snapshot(&hub, "ffff", false);
    assert_eq!(search.resolve(None).ok(), Some(complete.clone()));

    // refs/main wins over name order when it names a complete snapshot.
    let main = hub_snapshot(&hub, "bbbb", true);
    assert_eq!(search.resolve(None).ok(), Some(main.clone()));

    // And the model loads from there, named after the hub repo.
    let mut e = load(&CandleOptions {
        model_dir: search.resolve(None).ok(),
        ..CandleOptions::default()
    });
    assert_eq!(
        e.info().model.as_deref(),
        Some("sentence-transformers/all-MiniLM-L6-v2")
    );
    let r = reference();
    let v = vectors(&mut e, &[r.texts[0].clone()]).remove(0);
    assert!(cosine(&v, &r.embeddings[0]) >= MIN_COSINE);
}

#[test]
fn hub_cache_location_from_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    };
    let all = ModelSearch::from_vars(vars(&[
        ("HF_HUB_CACHE", "/a/hub"),
        ("HF_HOME", "/b"),
        ("HOME", "/c"),
        ("MEMSOAK_MODEL_DIR", "/m"),
    ]));
    assert_eq!(all.hf_hub_cache, Some(PathBuf::from("/a/hub")));
    assert_eq!(all.env_model_dir, Some(PathBuf::from("/m")));
    let home = ModelSearch::from_vars(vars(&[
        ("HF_HUB_CACHE", ""),
        ("HF_HOME", "/b"),
        ("HOME", "/c"),
    ]));
    assert_eq!(home.hf_hub_cache, Some(PathBuf::from("/b/hub")));
    assert_eq!(home.env_model_dir, None);
    let user = ModelSearch::from_vars(vars(&[("HOME", "/c")]));
    assert_eq!(
        user.hf_hub_cache,
        Some(PathBuf::from("/c/.cache/huggingface/hub"))
    );
    let none = ModelSearch::from_vars(vars(&[]));
    assert_eq!(none.hf_hub_cache, None);
    // The repo-root fallback is this checkout, where ci/fetch-model.sh writes.
    let root = none.repo_root.expect("repo root");
    assert!(
        root.join("ci/fetch-model.sh").is_file(),
        "{}",
        root.display()
    );
}

/// Runs in a child process (see `env_var_is_honoured`): the only way to test
/// the real environment without racing the tests that read it.
#[test]
fn child_probe_env_resolution() {
    let Some(expect) = std::env::var_os("MEMSOAK_CANDLE_PROBE_EXPECT") else {
        return;
    };
    let got = resolve_model_dir(None).unwrap_or_else(|e| panic!("resolve failed: {e}"));
    assert_eq!(got, PathBuf::from(expect));
}

#[test]
fn env_var_is_honoured() {
    let tmp = tempdir();
    let env_dir = tmp.path().join("from-env");
    link_model(&env_dir);
    let hub = tmp.path().join("hub");
    let snap = hub_snapshot(&hub, "cafe", true);
    let exe = std::env::current_exe().expect("current exe");
    let run = |vars: &[(&str, &Path)], expect: &Path| {
        let mut cmd = Command::new(&exe);
        cmd.args(["--exact", "child_probe_env_resolution", "--test-threads=1"])
            .env_remove("MEMSOAK_MODEL_DIR")
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_HOME")
            .env("MEMSOAK_CANDLE_PROBE_EXPECT", expect);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run child test");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child with {vars:?} failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // A filter that matches nothing passes too: the probe must have run.
        assert!(
            stdout.contains("test result: ok. 1 passed;"),
            "child with {vars:?} did not run the probe:\n{stdout}"
        );
    };
    run(
        &[("MEMSOAK_MODEL_DIR", &env_dir), ("HF_HUB_CACHE", &hub)],
        &env_dir,
    );
    run(&[("HF_HUB_CACHE", &hub)], &snap);
    run(&[("HF_HOME", tmp.path())], &snap);
}

#[test]
fn missing_file_is_named() {
    let tmp = tempdir();
    let dir = tmp.path().join("half-model");
    fs::create_dir_all(&dir).expect("mkdir");
    fs::write(dir.join("config.json"), "{}").expect("write");
    fs::write(dir.join("tokenizer.json"), "{}").expect("write");
    let msg = setup_message(check_model_dir(&dir));
    assert!(
        msg.contains("model.safetensors") && msg.contains(&dir.display().to_string()),
        "{msg}"
    );
    assert!(
        !msg.contains("config.json"),
        "only the missing file is named: {msg}"
    );

    let via_load = CandleEmbedder::load(&CandleOptions {
        model_dir: Some(dir.clone()),
        ..CandleOptions::default()
    });
    assert_eq!(setup_message(via_load.map(|_| ())), msg);

    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).expect("mkdir");
    let msg = setup_message(resolve_model_dir(Some(&empty)).map(|_| ()));
    for f in REQUIRED_FILES {
        assert!(msg.contains(f), "{msg}");
    }
    let msg = setup_message(resolve_model_dir(Some(&tmp.path().join("nope"))).map(|_| ()));
    assert!(
        msg.contains("nope") && msg.contains("does not exist"),
        "{msg}"
    );
}

// ---- pooling config ----------------------------------------------------------

#[test]
fn pooling_config_parsing() {
    let classic = |mean: bool, cls: bool, max: bool| {
        format!(
            r#"{{"word_embedding_dimension": 384, "pooling_mode_cls_token": {cls},
                "pooling_mode_mean_tokens": {mean}, "pooling_mode_max_tokens": {max},
                "pooling_mode_mean_sqrt_len_tokens": false}}"#
        )
    };
    assert_eq!(
        Pooling::from_config_json(&classic(true, false, false)).ok(),
        Some(Pooling::Mean)
    );
    assert_eq!(
        Pooling::from_config_json(&classic(false, true, false)).ok(),
        Some(Pooling::Cls)
    );
    assert_eq!(
        Pooling::from_config_json(r#"{"pooling_mode": "cls", "include_prompt": true}"#).ok(),
        Some(Pooling::Cls)
    );
    assert_eq!(
        Pooling::from_config_json(r#"{"pooling_mode": "mean", "pooling_mode_mean_tokens": true}"#)
            .ok(),
        Some(Pooling::Mean)
    );

    let err = |text: &str| setup_message(Pooling::from_config_json(text).map(|_| ()));
    assert!(err(&classic(false, false, true)).contains("max"));
    assert!(
        err(&classic(true, true, false)).contains("mean+cls")
            || err(&classic(true, true, false)).contains("cls+mean")
    );
    assert!(err(&classic(false, false, false)).contains("no pooling mode"));
    assert!(err(r#"{"pooling_mode_lasttoken": true}"#).contains("lasttoken"));
    assert!(err(r#"{"pooling_mode": "weightedmean"}"#).contains("weightedmean"));
    assert!(err("not json").contains("JSON"));
    assert!(err("[1, 2]").contains("object"));

    // The real model's file, and directories with and without pooling configs.
    assert_eq!(
        Pooling::from_model_dir(&model_dir()).ok(),
        Some(Pooling::Mean)
    );
    let tmp = tempdir();
    assert_eq!(
        Pooling::from_model_dir(tmp.path()).ok(),
        Some(Pooling::Mean)
    );
    fs::create_dir_all(tmp.path().join("pool")).expect("mkdir");
    fs::write(
        tmp.path().join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"pool","type":"sentence_transformers.models.Pooling"}]"#,
    )
    .expect("write");
    fs::write(
        tmp.path().join("pool/config.json"),
        classic(false, true, false),
    )
    .expect("write");
    assert_eq!(Pooling::from_model_dir(tmp.path()).ok(), Some(Pooling::Cls));
    fs::write(
        tmp.path().join("pool/config.json"),
        classic(false, false, true),
    )
    .expect("write");
    let msg = setup_message(Pooling::from_model_dir(tmp.path()).map(|_| ()));
    assert!(
        msg.contains("pool/config.json") && msg.contains("max"),
        "{msg}"
    );
}

#[test]
fn cls_pooling_model_loads() {
    // The same weights with a CLS pooling config: loads, reports cls, and
    // still gives unit vectors (different from the mean-pooled reference).
    let tmp = tempdir();
    let dir = tmp.path().join("cls-model");
    link_model(&dir);
    fs::remove_file(dir.join("1_Pooling")).expect("unlink pooling");
    fs::create_dir_all(dir.join("1_Pooling")).expect("mkdir");
    fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"pooling_mode_cls_token": true}"#,
    )
    .expect("write");
    let mut e = load(&CandleOptions {
        model_dir: Some(dir),
        ..CandleOptions::default()
    });
    assert_eq!(e.info().details["pooling"], "cls");
    let r = reference();
    let v = vectors(&mut e, &[r.texts[0].clone()]).remove(0);
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    assert!(cosine(&v, &r.embeddings[0]) < 0.999);
}

/// The hidden states of memsoak's BERT encoder and of candle-transformers'
/// `BertModel` for the same ids and mask: `(max |difference|, max |value|)`.
fn encoder_difference(ids: &[Vec<u32>]) -> (f32, f32) {
    use candle_core::{DType, Device, Tensor};
    use candle_nn::VarBuilder;
    use candle_transformers::models::bert::{BertModel, Config};
    use memsoak::backend::bert::BertEncoder;

    let dir = model_dir();
    let config: Config =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).expect("config.json"))
            .expect("a BERT config");
    let weights = dir.join("model.safetensors");
    // SAFETY: the test never writes the model file.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
        .expect("weights");
    let ours = BertEncoder::load(vb.clone(), &config).expect("memsoak encoder");
    let theirs = BertModel::load(vb, &config).expect("candle-transformers BertModel");

    let seq = ids.iter().map(Vec::len).max().unwrap_or(0);
    let (mut flat, mut mask) = (Vec::new(), Vec::new());
    for row in ids {
        flat.extend_from_slice(row);
        flat.extend(std::iter::repeat_n(0u32, seq - row.len()));
        mask.extend(std::iter::repeat_n(1f32, row.len()));
        mask.extend(std::iter::repeat_n(0f32, seq - row.len()));
    }
    let shape = (ids.len(), seq);
    let ids = Tensor::from_vec(flat, shape, &Device::Cpu).expect("ids");
    let types = ids.zeros_like().expect("type ids");
    let mask = Tensor::from_vec(mask, shape, &Device::Cpu).expect("mask");
    let a = ours
        .forward(&ids, &types, Some(&mask))
        .expect("memsoak forward");
    let b = theirs
        .forward(&ids, &types, Some(&mask))
        .expect("BertModel forward");
    assert_eq!(a.dims(), b.dims());
    let scalar = |t: Tensor| t.to_scalar::<f32>().expect("scalar");
    let diff = scalar(
        (&a - &b)
            .expect("sub")
            .abs()
            .expect("abs")
            .max_all()
            .expect("max"),
    );
    let size = scalar(b.abs().expect("abs").max_all().expect("max"));
    (diff, size)
}

#[test]
fn memsoak_encoder_matches_candle_transformers() {
    // The encoder fuses Q/K/V, folds the 1/sqrt(d) scale into Q, skips the
    // mask when nothing is padded: each must leave the output unchanged.
    let tok =
        tokenizers::Tokenizer::from_file(model_dir().join("tokenizer.json")).expect("tokenizer");
    let r = reference();
    let mut by_len: Vec<usize> = (0..r.texts.len()).collect();
    by_len.sort_by_key(|&i| r.tokens[i]);
    let encode = |i: usize| -> Vec<u32> {
        let e = tok.encode(r.texts[i].as_str(), true).expect("encode");
        e.get_ids()[..e.get_ids().len().min(128)].to_vec()
    };
    // Padded: short and long texts together. Unpadded: one length.
    let padded: Vec<Vec<u32>> = [by_len[0], by_len[1], by_len[by_len.len() / 2]]
        .into_iter()
        .chain([by_len[by_len.len() - 1]])
        .map(encode)
        .collect();
    let long = encode(by_len[by_len.len() - 1]);
    let unpadded = vec![
        long[..40].to_vec(),
        encode(by_len[by_len.len() - 2])[..40].to_vec(),
    ];
    for (name, ids) in [("padded", padded), ("unpadded", unpadded)] {
        let (diff, size) = encoder_difference(&ids);
        eprintln!("{name}: max |memsoak - BertModel| = {diff:.2e} (max |value| {size:.2})");
        assert!(
            size > 0.1,
            "{name}: outputs are all near zero: a broken comparison"
        );
        assert!(diff < 1e-4, "{name}: encoders differ by {diff}");
    }
}

#[test]
fn both_encoders_embed_alike() {
    let r = reference();
    let texts: Vec<String> = r.texts.iter().take(12).cloned().collect();
    let mut ours = load_default();
    let mut theirs = load(&CandleOptions {
        model_dir: Some(model_dir()),
        encoder: memsoak::backend::candle::Encoder::CandleTransformers,
        ..CandleOptions::default()
    });
    assert_eq!(ours.info().details["encoder"], "memsoak");
    assert_eq!(theirs.info().details["encoder"], "candle-transformers");
    let (a, b) = (vectors(&mut ours, &texts), vectors(&mut theirs, &texts));
    let worst = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    eprintln!("max |memsoak - candle-transformers| over 12 vectors: {worst:.2e}");
    assert!(worst < 1e-5, "vectors differ by {worst}");
}
