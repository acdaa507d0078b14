//! Harness overhead: the same backend, on the same texts, driven by a bare
//! loop and by memsoak's pipeline with the sampler at 10 Hz.
//!
//! `cargo bench --profile dev --bench overhead [-- --backend candle|synthetic|both
//!  --rounds R --pages N --cost 500us --sample-every 100ms --threads T]`
//!
//! - *bare*: pages → `embed` → discard, on one thread, no sampler;
//! - *memsoak*: the run pipeline (loader, embed and writer threads, bounded
//!   channels), the `Monitor` polling every 50 ms as `memsoak run` does, and
//!   the samplers `memsoak run` uses (process tree with PSS, jemalloc heap,
//!   host memory, memory cgroup, NVML when present) writing `samples.csv`
//!   every 100 ms;
//! - *memsoak + endpoint*: the same with `--metrics-listen` serving the live
//!   series on loopback, scraped every second as Prometheus would.
//!
//! Each round runs the bare loop on the main thread, the bare loop on a
//! freshly spawned thread (where the pipeline's embed stage runs: a control
//! for where the work runs, as against what the harness adds) and memsoak,
//! rotating the order, so slow drift on a shared machine hits all alike.
//! The overhead is `1 - memsoak rate / bare rate`, the median of the
//! rounds' paired ratios. CPU per item (all threads, from
//! getrusage) and the CPU time of the sampler and monitor threads are given
//! too: unlike wall-clock rates they hardly move when other processes
//! compete for the cores.
//!
//! The synthetic backend (a fixed CPU cost per item, one thread) runs first,
//! then candle on the real model, both with jemalloc's defaults as
//! `memsoak run` has them. The workload is `memsoak run`'s
//! default (multilingual synthetic text, long-tail lengths, pages of 32).
//!
//! `--profile dev` reuses the test build (dependencies at opt-level 3,
//! memsoak itself at opt-level 1: the build `cargo run` uses, so the harness
//! is measured no faster than users run it).

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{load_average, process_cpu};

use memsoak::backend::Embedder;
use memsoak::backend::synthetic::{SyntheticEmbedder, SyntheticOptions};
use memsoak::soak::monitor::Monitor;
use memsoak::soak::npy::Sink;
use memsoak::soak::pipeline::{Pipeline, PipelineEnd};
use memsoak::soak::signals::Signals;
use memsoak::workload::synthetic::{SyntheticWorkload, SyntheticWorkloadOptions};
use memsoak::workload::{Page, VecWorkload, Workload};

#[global_allocator]
static A: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// NOTE: jemalloc's options as `memsoak run` has them (profiling built in,
// inactive), so the bench measures the allocator users run.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static C string.
    Some(unsafe { &*memsoak::sample::heap_profile::MALLOC_CONF.as_ptr() });

/// Discards vectors like `memsoak run`'s default sink, and notes when the
/// last batch arrived: the end of the embedding, to the microsecond, without
/// the monitor's 50 ms polling in the measurement.
struct Timed {
    items: u64,
    last: Arc<Mutex<Option<Instant>>>,
}

impl Sink for Timed {
    fn write(&mut self, batch: &memsoak::backend::Embedded) -> std::io::Result<()> {
        self.items += std::hint::black_box(batch).count() as u64;
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        *self.last.lock().unwrap() = Some(Instant::now());
        Ok(())
    }
}

/// CPU seconds of this process's live threads named `name` (the main thread
/// for `None`), from schedstat (nanoseconds).
fn thread_cpu(name: Option<&str>) -> f64 {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut total = 0.0;
    for e in dir.flatten() {
        let tid = e.file_name().to_string_lossy().into_owned();
        let path = e.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let wanted = match name {
            None => tid == me,
            Some(n) => comm.trim() == n,
        };
        if wanted {
            let ns = std::fs::read_to_string(path.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
                .unwrap_or(0.0);
            total += ns * 1e-9;
        }
    }
    total
}

/// One variant's figures.
#[derive(Clone, Copy, Default)]
struct Pass {
    items: u64,
    secs: f64,
    cpu: f64,
    /// memsoak only: CPU of the sampler thread and of the monitor (main)
    /// thread, seconds; samples taken.
    sampler_cpu: f64,
    monitor_cpu: f64,
    samples: usize,
}

impl Pass {
    fn rate(&self) -> f64 {
        self.items as f64 / self.secs
    }
    fn cpu_per_item_ms(&self) -> f64 {
        self.cpu * 1e3 / self.items as f64
    }
}

fn bare(e: &mut dyn Embedder, pages: &[Page]) -> Pass {
    let last = Arc::new(Mutex::new(None));
    let mut sink = Timed {
        items: 0,
        last: last.clone(),
    };
    let cpu = process_cpu();
    let start = Instant::now();
    // Same work per page as the pipeline's loader: a fresh copy of the texts.
    let mut w = VecWorkload::new(pages.to_vec());
    while let Ok(Some(page)) = w.next_page() {
        match e.embed(&page.texts) {
            Ok(out) => {
                let _ = sink.write(&out);
            }
            Err(err) => fail(&format!("embed failed: {err}")),
        }
    }
    let _ = sink.finish();
    let end = last.lock().unwrap().unwrap_or_else(Instant::now);
    Pass {
        items: sink.items,
        secs: (end - start).as_secs_f64(),
        cpu: process_cpu() - cpu,
        ..Pass::default()
    }
}

/// Scrape `url` every second until `stop`, as a Prometheus server would.
fn scraper(
    url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok(mut r) = ureq::get(&url).call() {
                n += usize::from(r.body_mut().read_to_string().is_ok());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        n
    })
}

fn piped(
    e: Box<dyn Embedder>,
    pages: &[Page],
    every: &str,
    scratch: &Path,
    in_process: bool,
    endpoint: bool,
) -> (Pass, Box<dyn Embedder>) {
    let soak = memsoak::cli::plan::soak_options(&memsoak::cli::args::SoakArgs {
        duration: Some("10h".into()),
        sample_every: Some(every.into()),
        quiet: true,
        ..Default::default()
    })
    .unwrap_or_else(|err| fail(&err.to_string()));
    let dir = scratch.join(format!("run-{}", run_id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| fail(&err.to_string()));
    let last = Arc::new(Mutex::new(None));
    let sink = Timed {
        items: 0,
        last: last.clone(),
    };
    let mut notes = Vec::new();
    let set =
        memsoak::soak::samplers::samplers(Some(std::process::id()), in_process, None, &mut notes);
    let signals = Signals::install().unwrap_or_else(|err| fail(&err.to_string()));
    // NOTE: the sampler thread starts with the monitor: all its CPU is this run's.
    let (cpu, main0) = (process_cpu(), thread_cpu(None));
    let start = Instant::now();
    let pipeline = Pipeline::start(
        Box::new(VecWorkload::new(pages.to_vec())),
        e,
        Box::new(sink),
        2,
        0,
    );
    let folder = memsoak::runfolder::RunFolder::at(&dir);
    let exposition = endpoint.then(|| {
        let labels = memsoak::soak::exposition::RunLabels {
            run_id: "bench".into(),
            mode: "run".into(),
            ..Default::default()
        };
        memsoak::soak::exposition::Exposition::bind(([127, 0, 0, 1], 0).into(), &labels)
            .unwrap_or_else(|err| fail(&err))
    });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scrapes = exposition
        .as_ref()
        .map(|x| scraper(format!("http://{}/metrics", x.addr()), stop.clone()));
    let mut mon = Monitor::start(soak, set, Some(pipeline.counter().into()), &folder, signals)
        .unwrap_or_else(|err| fail(&err))
        .with_exposition(exposition);
    // The loop of `memsoak run`.
    loop {
        if mon.poll().is_some() {
            fail("the monitor stopped the run");
        }
        match pipeline.state() {
            PipelineEnd::Running => {}
            PipelineEnd::Exhausted => break,
            other => fail(&format!("pipeline ended with {other:?}")),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let end = last.lock().unwrap().unwrap_or_else(Instant::now);
    let (sampler_cpu, monitor_cpu) = (
        thread_cpu(Some("memsoak-sampler")),
        thread_cpu(None) - main0,
    );
    let samples_before_finish = std::fs::read_to_string(dir.join("samples.csv"))
        .map(|s| s.lines().count().saturating_sub(1))
        .unwrap_or(0);
    let cpu = process_cpu() - cpu;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(h) = scrapes
        && h.join().unwrap_or(0) == 0
        && end - start > Duration::from_secs(2)
    {
        fail("the endpoint was never scraped");
    }
    let _ = mon.finish(false);
    let items = pipeline.items();
    let (_, _, e) = pipeline.join();
    let _ = std::fs::remove_dir_all(&dir);
    let pass = Pass {
        items,
        secs: (end - start).as_secs_f64(),
        cpu,
        sampler_cpu,
        monitor_cpu,
        samples: samples_before_finish,
    };
    (pass, e.unwrap_or_else(|| fail("the embed thread panicked")))
}

fn run_id() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn fail(msg: &str) -> ! {
    eprintln!("overhead bench: {msg}");
    std::process::exit(1)
}

fn median(v: Vec<f64>) -> f64 {
    memsoak::stats::median(&v).unwrap_or(f64::NAN)
}

/// [`bare`] on a fresh thread, as the pipeline's embed stage runs: a
/// control that separates the harness's work from where the work runs.
fn bare_on_thread(e: &mut Box<dyn Embedder>, pages: &[Page]) -> Pass {
    let placeholder: Box<dyn Embedder> = Box::new(SyntheticEmbedder::new(Default::default()));
    let mut owned = std::mem::replace(e, placeholder);
    let (pass, back) = std::thread::scope(|s| {
        s.spawn(move || {
            let p = bare(owned.as_mut(), pages);
            (p, owned)
        })
        .join()
        .unwrap_or_else(|_| fail("the bare thread panicked"))
    });
    *e = back;
    pass
}

/// Overhead of `p` against `b`, percent of `b`'s rate.
fn over(b: &Pass, p: &Pass) -> f64 {
    (1.0 - p.rate() / b.rate()) * 100.0
}

fn measure(
    label: &str,
    mut e: Box<dyn Embedder>,
    pages: &[Page],
    rounds: usize,
    every: &str,
    scratch: &Path,
) {
    // Warm-up: first-touch page faults, lazy thread pools.
    let warm = pages.len().min(2);
    let _ = bare(e.as_mut(), &pages[..warm]);
    let (mut mains, mut threads, mut pipes, mut exposed) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        // Rotate the order so slow drift on a shared machine hits all four.
        for k in 0..4 {
            match (round + k) % 4 {
                0 => mains.push(bare(e.as_mut(), pages)),
                1 => threads.push(bare_on_thread(&mut e, pages)),
                2 => {
                    let (p, back) = piped(e, pages, every, scratch, true, false);
                    pipes.push(p);
                    e = back;
                }
                _ => {
                    let (p, back) = piped(e, pages, every, scratch, true, true);
                    exposed.push(p);
                    e = back;
                }
            }
        }
        let (m, t, p, x) = (mains[round], threads[round], pipes[round], exposed[round]);
        println!(
            "  round {}: memsoak + endpoint {:7.1} items/s ({:+.2}% vs memsoak alone), cpu/item {:.3} ms, monitor {:.0} ms",
            round + 1,
            x.rate(),
            over(&p, &x),
            x.cpu_per_item_ms(),
            x.monitor_cpu * 1e3,
        );
        println!(
            "  round {}: bare {:7.1} items/s (main thread), {:7.1} (spawned thread); memsoak {:7.1}: {:+.2}% / {:+.2}%; cpu/item {:.3} / {:.3} / {:.3} ms; {} samples, sampler {:.0} ms, monitor {:.0} ms",
            round + 1,
            m.rate(),
            t.rate(),
            p.rate(),
            over(&m, &p),
            over(&t, &p),
            m.cpu_per_item_ms(),
            t.cpu_per_item_ms(),
            p.cpu_per_item_ms(),
            p.samples,
            p.sampler_cpu * 1e3,
            p.monitor_cpu * 1e3,
        );
    }
    let paired =
        |bs: &[Pass]| -> f64 { median(bs.iter().zip(&pipes).map(|(b, p)| over(b, p)).collect()) };
    let cpu_paired = |bs: &[Pass]| -> f64 {
        median(
            bs.iter()
                .zip(&pipes)
                .map(|(b, p)| (p.cpu_per_item_ms() / b.cpu_per_item_ms() - 1.0) * 100.0)
                .collect(),
        )
    };
    let best = |v: &[Pass]| v.iter().map(Pass::rate).fold(0.0, f64::max);
    let wall: f64 = pipes.iter().map(|p| p.secs).sum();
    let sampler: f64 = pipes.iter().map(|p| p.sampler_cpu).sum();
    let monitor: f64 = pipes.iter().map(|p| p.monitor_cpu).sum();
    let samples: usize = pipes.iter().map(|p| p.samples).sum();
    println!("{label}:");
    println!(
        "  best of {rounds}: bare {:.1} items/s on the main thread, {:.1} on a spawned thread; memsoak {:.1}",
        best(&mains),
        best(&threads),
        best(&pipes)
    );
    println!(
        "  overhead (median of paired rounds): {:+.2}% vs the bare loop on the main thread, {:+.2}% vs on a spawned thread; CPU per item {:+.2}% / {:+.2}%",
        paired(&mains),
        paired(&threads),
        cpu_paired(&mains),
        cpu_paired(&threads),
    );
    let x_wall: f64 = exposed.iter().map(|p| p.secs).sum();
    let x_monitor: f64 = exposed.iter().map(|p| p.monitor_cpu).sum();
    println!(
        "  with --metrics-listen (scraped every 1 s): best {:.1} items/s ({:+.2}% best vs best against memsoak alone); median of paired rounds {:+.2}%; CPU per item {:+.2}%; monitor {:.2} ms CPU/s",
        best(&exposed),
        (1.0 - best(&exposed) / best(&pipes)) * 100.0,
        median(
            pipes
                .iter()
                .zip(&exposed)
                .map(|(p, x)| over(p, x))
                .collect()
        ),
        median(
            pipes
                .iter()
                .zip(&exposed)
                .map(|(p, x)| (x.cpu_per_item_ms() / p.cpu_per_item_ms() - 1.0) * 100.0)
                .collect()
        ),
        x_monitor * 1e3 / x_wall,
    );
    println!(
        "  harness threads: sampler {:.2} ms CPU/s ({:.0} us per sample, {:.1} Hz), monitor {:.2} ms CPU/s",
        sampler * 1e3 / wall,
        sampler * 1e6 / samples.max(1) as f64,
        samples as f64 / wall,
        monitor * 1e3 / wall,
    );
}

fn main() {
    // NOTE: `cargo test --all-targets` runs this without `--bench`: then it
    // is a smoke test of the bench itself (one round of one page), not a
    // measurement that would cost CI minutes.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let mut backend = "both".to_string();
    let mut rounds = if smoke { 1usize } else { 4 };
    let mut pages_n: Option<usize> = smoke.then_some(1);
    if smoke {
        println!(
            "overhead bench: smoke run (cargo test, one page): not a measurement; see cargo bench"
        );
    }
    let mut cost = "500us".to_string();
    let mut every = "100ms".to_string();
    let mut threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| fail(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--backend" => backend = val(),
            "--rounds" => rounds = val().parse().unwrap_or_else(|_| fail("--rounds N")),
            "--pages" => pages_n = Some(val().parse().unwrap_or_else(|_| fail("--pages N"))),
            "--cost" => cost = val(),
            "--sample-every" => every = val(),
            "--threads" => threads = Some(val().parse().unwrap_or_else(|_| fail("--threads N"))),
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            other => fail(&format!("unknown argument {other}")),
        }
    }
    if !["both", "candle", "synthetic"].contains(&backend.as_str()) {
        fail("--backend candle|synthetic|both");
    }
    let scratch = tempdir();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "harness overhead: sampler every {every}, {rounds} rounds, {cpus} CPUs, load average {}",
        load_average()
    );
    let workload = |n: usize| -> Vec<Page> {
        let mut w = SyntheticWorkload::new(SyntheticWorkloadOptions::default())
            .unwrap_or_else(|e| fail(&e.to_string()));
        (0..n)
            .map(|_| {
                w.next_page()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| fail("workload ended"))
            })
            .collect()
    };
    if backend != "candle" {
        let cost_d = memsoak::units::parse_duration(&cost).unwrap_or_else(|e| fail(&e.to_string()));
        let pages = workload(pages_n.unwrap_or(400));
        let e = SyntheticEmbedder::new(SyntheticOptions {
            cost_per_item: cost_d,
            ..SyntheticOptions::default()
        });
        measure(
            &format!(
                "synthetic --cost {cost} ({} pages of 32, jemalloc defaults)",
                pages.len()
            ),
            Box::new(e),
            &pages,
            rounds,
            &every,
            scratch.path(),
        );
    }
    if backend != "synthetic" {
        candle(pages_n, threads, &workload, rounds, &every, scratch.path());
    }
}

#[cfg(feature = "candle")]
fn candle(
    pages_n: Option<usize>,
    want_threads: Option<usize>,
    workload: &dyn Fn(usize) -> Vec<Page>,
    rounds: usize,
    every: &str,
    scratch: &Path,
) {
    use memsoak::backend::candle::{CandleEmbedder, CandleOptions};
    let e = CandleEmbedder::load(&CandleOptions {
        threads: want_threads,
        ..CandleOptions::default()
    })
    .unwrap_or_else(|e| fail(&e.to_string()));
    let threads = e.info().details.get("threads").cloned().unwrap_or_default();
    let pages = workload(pages_n.unwrap_or(6));
    measure(
        &format!(
            "candle {} threads ({} pages of 32, jemalloc {})",
            threads,
            pages.len(),
            if std::env::var_os("_RJEM_MALLOC_CONF").is_some() {
                "as _RJEM_MALLOC_CONF says"
            } else {
                "defaults"
            }
        ),
        Box::new(e),
        &pages,
        rounds,
        every,
        scratch,
    );
}

#[cfg(not(feature = "candle"))]
fn candle(
    _: Option<usize>,
    _: Option<usize>,
    _: &dyn Fn(usize) -> Vec<Page>,
    _: usize,
    _: &str,
    _: &Path,
) {
    println!("candle: skipped (built without the `candle` feature)");
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| fail(&e.to_string()))
}
