//! The detector's calibration table: false alarms, power and `--fail-fast`
//! time-to-detection per noise family, run length and sample rate, on
//! seeded simulations (`memsoak::stats::calibration`), judged by the
//! functions `memsoak` itself calls (`analysis::analyze_metric` and
//! `analysis::evaluate` at the end of a run, `analysis::sequential_breach`
//! at each fail-fast look, on the monitor's look schedule).
//!
//! usage: cargo run --release --example calibrate [-- --seeds N] [--runs SECONDS[@HZ]]...
//!        [--noise FAMILY]... [--no-fail-fast] [--settle] [--floor]
//! (default 200 seeds per cell, every run length and family; the full table
//! takes about 7 minutes on 2 quiet cores). `--runs`, `--noise` and
//! `--no-fail-fast` regenerate part of the table: one run length (`90`,
//! or `90@10` for one rate; `600@10`, 10 minutes at 10 Hz, only when named
//! so, as it is slow: 27 minutes at 200 seeds), one family (`white`, `t3`, `ar0.5`, `ar0.9`,
//! `ar0.98`, `jump`, `saw`, `jittered`, `slow`, `timer`, `quantised`, `mixture`),
//! or the end-of-run verdicts without the `--fail-fast` simulation (its
//! columns then read `–`). `--settle` prints another table instead: how
//! often a pass is conclusive (its whole interval within the limit), the
//! run length `memsoak` plans for one that is not, and how often a run of
//! that length settles it. `--floor` judges `sys_available.slope>-2MiB/min`
//! on every run mirrored, as available memory moves while memory in use
//! climbs (either table).

use memsoak::analysis::threshold::Threshold;
use memsoak::analysis::{
    DEFAULT_MIN_GROWTH, LookRules, Outcome, ThresholdResult, Warmup, analyze_metric, evaluate,
    fail_fast_time, settle,
};
use memsoak::stats::calibration::{Behaviour, LIMIT, Noise, Scenario};
use std::process::ExitCode;

/// The run lengths (seconds) and rates (Hz) of the table.
const RUNS: [(f64, f64); 4] = [(90.0, 1.0), (90.0, 10.0), (600.0, 1.0), (1800.0, 1.0)];

/// Runs the table holds only when named with their rate (`--runs 600@10`):
/// 10 minutes at 10 Hz is 57 looks a run, each refitting up to 6,000
/// samples: 1,632 s of both cores at the table's 200 seeds (the 2-core KVM),
/// four times the rest of the table.
const NAMED_ONLY_RUNS: [(f64, f64); 1] = [(600.0, 10.0)];

/// The limit of every verdict, as a user writes it.
const THRESHOLD: &str = "rss.slope<2MiB/min";

/// The limit of every verdict with `--floor`: the same limit on a fall.
const FLOOR: &str = "sys_available.slope>-2MiB/min";

/// What available memory reads before it is mirrored (`--floor`): 8 GiB.
const AVAILABLE: f64 = 8.0 * 1024.0 * 1024.0 * 1024.0;

/// The samples of one seeded run, as memsoak reads them: with `floor`,
/// mirrored about [`AVAILABLE`], as available memory moves while a process
/// uses memory (a leak is a fall, a GC sawtooth's drop a sharp rise).
fn observe(s: &Scenario, seed: u64, floor: bool) -> (Vec<f64>, Vec<f64>) {
    let (t, y) = s.simulate(seed);
    if floor {
        (t, y.into_iter().map(|v| AVAILABLE - v).collect())
    } else {
        (t, y)
    }
}

/// Confidence of every verdict.
const CONFIDENCE: f64 = 0.95;

/// Runs `f` on every seed, spread over the machine's cores (rayon: a
/// panicking seed takes the table down with it instead of leaving a cell
/// short of runs).
fn over_seeds<T: Send>(seeds: u64, f: impl Fn(u64) -> T + Sync + Send) -> Vec<T> {
    use rayon::prelude::*;
    (0..seeds).into_par_iter().map(f).collect()
}

/// The end-of-run verdict `memsoak` gives: did the threshold fail, and was
/// the trend significant (either way)?
fn verdict(th: &Threshold, t: &[f64], y: &[f64]) -> (bool, bool) {
    let items = vec![f64::NAN; t.len()];
    let m = analyze_metric(th.metric, t, &items, y, Warmup::Auto, CONFIDENCE);
    let fail = evaluate(th, m.as_ref(), DEFAULT_MIN_GROWTH).outcome == Outcome::Fail;
    (fail, m.is_some_and(|m| m.significant))
}

/// The end-of-run verdict with whether its interval settles it and, if
/// not, the run length that would (`analysis::settle`, as `analyze` does).
fn settled_verdict(th: &Threshold, t: &[f64], y: &[f64]) -> ThresholdResult {
    let items = vec![f64::NAN; t.len()];
    let m = analyze_metric(th.metric, t, &items, y, Warmup::Auto, CONFIDENCE);
    let r = evaluate(th, m.as_ref(), DEFAULT_MIN_GROWTH);
    settle(r, m.as_ref(), t[0], t[t.len() - 1], CONFIDENCE)
}

/// The longest run the `--settle` table simulates to check a planned
/// length (seconds); plans beyond it are not checked.
const MAX_PLANNED_S: f64 = 4.0 * 3600.0;

/// The `--settle` table: how often a healthy run's pass is conclusive (its
/// whole interval under the limit), beside an oracle's rate (least squares
/// with the noise's long-run sd known); of the others, how many got a planned
/// run length, its median, and how often a fresh run of the length each
/// was given settles it (planned: 80%); and how often a pass is called
/// conclusive while the leak sits at the limit or at 1.5× it (the
/// interval's upper tail: at most 2.5% at the limit, less beyond).
fn settle_table(th: &Threshold, seeds: u64, runs: &[(f64, f64)], noises: &[Noise], floor: bool) {
    for &(seconds, hz) in runs {
        println!();
        println!("### {seconds:.0} s at {hz} Hz: passes that settle the limit");
        println!();
        println!(
            "| noise | flat: conclusive pass % | oracle % | not: planned % | planned run (median) | at the planned run: conclusive % | at the limit: conclusive pass % | at 1.5×: conclusive pass % |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for noise in noises.iter().copied() {
            let scenario = |behaviour, seconds| Scenario {
                noise,
                behaviour,
                seconds,
                hz,
            };
            let conclusive_pass =
                |r: &ThresholdResult| r.outcome == Outcome::Pass && r.conclusive == Some(true);
            let s = scenario(Behaviour::Flat, seconds);
            // Per seed: conclusive now; else the planned length and
            // whether a fresh run of it (another seed) settles it.
            let flat = over_seeds(seeds, |seed| {
                let (t, y) = observe(&s, seed, floor);
                let r = settled_verdict(th, &t, &y);
                if conclusive_pass(&r) {
                    return (true, None, None);
                }
                let planned = r.settle_run_s;
                let settles = planned.filter(|&p| p <= MAX_PLANNED_S).map(|p| {
                    let (t, y) = observe(
                        &scenario(Behaviour::Flat, p.ceil()),
                        seed + 1_000_000,
                        floor,
                    );
                    conclusive_pass(&settled_verdict(th, &t, &y))
                });
                (false, planned, settles)
            });
            let open = flat.iter().filter(|r| !r.0).count();
            let mut planned: Vec<f64> = flat.iter().filter_map(|r| r.1).collect();
            planned.sort_by(f64::total_cmp);
            let checked: Vec<bool> = flat.iter().filter_map(|r| r.2).collect();
            let mut row = vec![
                noise.name(),
                pct(flat.len() - open, flat.len()),
                s.oracle_conclusive(LIMIT, CONFIDENCE)
                    .map_or("n/a".into(), |p| format!("{:.0}", 100.0 * p)),
                if open == 0 {
                    "–".into()
                } else {
                    pct(planned.len(), open)
                },
                planned.get(planned.len() / 2).map_or("–".into(), |&m| {
                    if m <= MAX_PLANNED_S {
                        format!("{m:.0} s")
                    } else {
                        ">4 h".into()
                    }
                }),
                if checked.is_empty() {
                    "–".into()
                } else {
                    pct(checked.iter().filter(|&&b| b).count(), checked.len())
                },
            ];
            for rate in [1.0, 1.5] {
                let s = scenario(Behaviour::Linear(rate), seconds);
                let wrong = over_seeds(seeds, |seed| {
                    let (t, y) = observe(&s, seed, floor);
                    conclusive_pass(&settled_verdict(th, &t, &y))
                });
                row.push(pct(wrong.iter().filter(|&&b| b).count(), wrong.len()));
            }
            println!("| {} |", row.join(" | "));
        }
    }
}

/// The time `--fail-fast` stops the run, if it does.
fn fail_fast(th: &Threshold, s: &Scenario, t: &[f64], y: &[f64]) -> Option<f64> {
    let rules = LookRules {
        warmup: Warmup::Auto,
        confidence: CONFIDENCE,
        min_growth: DEFAULT_MIN_GROWTH,
    };
    fail_fast_time(th, t, y, 1.0 / s.hz, &rules)
}

/// The median time a run was stopped, counting the runs never stopped as
/// later than any; `None` when fewer than half were stopped.
fn median_stop(stops: &[Option<f64>]) -> Option<f64> {
    let mut found: Vec<f64> = stops.iter().flatten().copied().collect();
    found.sort_by(f64::total_cmp);
    (2 * found.len() > stops.len()).then(|| found[stops.len() / 2])
}

fn pct(k: usize, n: usize) -> String {
    format!("{:.0}", 100.0 * k as f64 / n as f64)
}

/// What to print, from the command line.
struct Options {
    seeds: u64,
    runs: Vec<(f64, f64)>,
    noises: Vec<Noise>,
    fail_fast: bool,
    settle: bool,
    floor: bool,
}

/// The short name `--noise` takes for a family.
fn noise_key(noise: Noise) -> String {
    match noise {
        Noise::White => "white".into(),
        Noise::HeavyTailed => "t3".into(),
        Noise::Ar1(phi) => format!("ar{phi}"),
        Noise::Jump => "jump".into(),
        Noise::Sawtooth => "saw".into(),
        Noise::JitteredSawtooth => "jittered".into(),
        Noise::SlowSawtooth => "slow".into(),
        Noise::TimerSawtooth => "timer".into(),
        Noise::Quantised => "quantised".into(),
        Noise::Mixture => "mixture".into(),
    }
}

const USAGE: &str = "usage: calibrate [--seeds N] [--runs SECONDS[@HZ]]... [--noise FAMILY]... [--no-fail-fast] [--settle] [--floor]";

/// Parses the flags; `Err` holds the line to print.
fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        seeds: 200,
        runs: Vec::new(),
        noises: Vec::new(),
        fail_fast: true,
        settle: false,
        floor: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("calibrate: {flag} wants a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--seeds" => {
                let n = value()?;
                o.seeds = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                    format!("calibrate: --seeds wants a positive whole number, got {n:?}")
                })?;
            }
            "--runs" => {
                let v = value()?;
                let (secs, hz) = v
                    .split_once('@')
                    .map_or((v.as_str(), None), |(s, h)| (s, Some(h)));
                let named_only = if hz.is_some() {
                    &NAMED_ONLY_RUNS[..]
                } else {
                    &[]
                };
                let picked: Vec<(f64, f64)> = RUNS
                    .iter()
                    .chain(named_only)
                    .copied()
                    .filter(|&(s, h)| {
                        secs.parse::<f64>().is_ok_and(|x| x == s)
                            && hz.is_none_or(|hz| hz.parse::<f64>().is_ok_and(|x| x == h))
                    })
                    .collect();
                if picked.is_empty() {
                    let known: Vec<String> = RUNS
                        .iter()
                        .chain(&NAMED_ONLY_RUNS)
                        .map(|(s, h)| format!("{s}@{h}"))
                        .collect();
                    return Err(format!(
                        "calibrate: no run {v:?} in the table (runs: {})",
                        known.join(", ")
                    ));
                }
                o.runs.extend(picked);
            }
            "--noise" => {
                let v = value()?;
                let noise = Noise::ALL
                    .into_iter()
                    .find(|&n| noise_key(n) == *v)
                    .ok_or_else(|| {
                        let known: Vec<String> = Noise::ALL.into_iter().map(noise_key).collect();
                        format!(
                            "calibrate: no noise family {v:?} (families: {})",
                            known.join(", ")
                        )
                    })?;
                o.noises.push(noise);
            }
            "--no-fail-fast" => o.fail_fast = false,
            "--settle" => o.settle = true,
            "--floor" => o.floor = true,
            _ => return Err(format!("calibrate: unknown argument {flag:?}\n{USAGE}")),
        }
    }
    // In the table's own order, each once, whatever the order of the flags.
    let mut every: Vec<(f64, f64)> = RUNS.into_iter().chain(NAMED_ONLY_RUNS).collect();
    every.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    o.runs = every
        .into_iter()
        .filter(|r| {
            if o.runs.is_empty() {
                RUNS.contains(r)
            } else {
                o.runs.contains(r)
            }
        })
        .collect();
    o.noises = Noise::ALL
        .into_iter()
        .filter(|n| o.noises.is_empty() || o.noises.contains(n))
        .collect();
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Options {
        seeds,
        runs,
        noises,
        fail_fast: with_fail_fast,
        settle: settle_only,
        floor,
    } = match options(&args) {
        Ok(o) => o,
        Err(line) => {
            eprintln!("{line}");
            return ExitCode::from(2);
        }
    };
    let limit = if floor { FLOOR } else { THRESHOLD };
    let Ok(th) = limit.parse::<Threshold>() else {
        eprintln!("calibrate: bad threshold {limit}");
        return ExitCode::from(2);
    };
    let start = std::time::Instant::now();
    if settle_only {
        println!(
            "Settling: {seeds} seeds per cell, `{limit}` at {:.0}% confidence, noise scale 4 MiB. \
             A pass is conclusive when its whole interval is under the limit.",
            100.0 * CONFIDENCE
        );
        settle_table(&th, seeds, &runs, &noises, floor);
        println!();
        println!("({:.0} s)", start.elapsed().as_secs_f64());
        return ExitCode::SUCCESS;
    }
    println!(
        "Calibration: {seeds} seeds per cell, `{limit}` at {:.0}% confidence, noise scale 4 MiB.",
        100.0 * CONFIDENCE
    );
    println!(
        "FA = false alarms (flat: trend significant either way; gate flat, warm-up, cache: threshold failed); \
         ff = --fail-fast; ff at limit = runs with a leak exactly at the limit that --fail-fast stopped \
         (by construction at most 2.5%); \
         power = threshold failed; late = a 3× leak over the last quarter of the run; TTD/T* = median time-to-detection ÷ T* \
         (leak 3×; '>' when under half the runs were stopped); oracle ff = the same looks and rule \
         with the noise's long-run sd known (what --fail-fast could do at best); \
         * = T* ≤ run/2 (power target applies)."
    );
    for (seconds, hz) in runs {
        println!();
        println!("### {seconds:.0} s at {hz} Hz");
        println!();
        println!(
            "| noise | FA flat % | gate FA flat % | FA warm-up % | FA cache % | ff FA flat % | ff at limit % | power 1.5× % | power 3× % | step % | varying % | late % | T* 3× (s) | TTD/T* | oracle ff TTD/T* |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for noise in noises.iter().copied() {
            let mut row = vec![noise.name()];
            let scenario = |behaviour| Scenario {
                noise,
                behaviour,
                seconds,
                hz,
            };
            for behaviour in Behaviour::ALL {
                let s = scenario(behaviour);
                let results = over_seeds(seeds, |seed| {
                    let (t, y) = observe(&s, seed, floor);
                    verdict(&th, &t, &y)
                });
                let failed = results.iter().filter(|r| r.0).count();
                if behaviour == Behaviour::Flat {
                    // The test's own calibration, then what a user sees:
                    // the gate failing a healthy run.
                    row.push(pct(results.iter().filter(|r| r.1).count(), results.len()));
                }
                row.push(pct(failed, results.len()));
                if behaviour == Behaviour::BoundedCache {
                    // Fail-fast on healthy runs, then on a leak exactly at
                    // the limit (the null of the looks' one-sided test,
                    // which each look holds to half its alpha: at most
                    // 2.5% in all): looks over the whole run (30 min runs:
                    // left out, 180 looks per run).
                    for course in [Behaviour::Flat, Behaviour::Linear(1.0)] {
                        row.push(if with_fail_fast && seconds <= 600.0 {
                            let s = scenario(course);
                            let stops = over_seeds(seeds, |seed| {
                                let (t, y) = observe(&s, seed, floor);
                                fail_fast(&th, &s, &t, &y).is_some()
                            });
                            pct(stops.iter().filter(|&&b| b).count(), stops.len())
                        } else {
                            "–".into()
                        });
                    }
                }
            }
            let s = scenario(Behaviour::Linear(3.0));
            let t_star = s.t_star(3.0 * LIMIT);
            let applies = t_star.is_some_and(|t| t <= seconds / 2.0);
            row.push(t_star.map_or("n/a".into(), |t| {
                format!("{t:.0}{}", if applies { "*" } else { "" })
            }));
            // memsoak's `--fail-fast`, then the same looks and rule with
            // nothing to estimate: what it could do at best
            // (`Scenario::oracle_fail_fast`).
            let (memsoak, oracle) = if with_fail_fast {
                let stops = over_seeds(seeds, |seed| {
                    // The oracle reads the run unmirrored: the same test
                    // on a rise as on the mirrored fall.
                    let (t, y) = s.simulate(seed);
                    let oracle = s.oracle_fail_fast(&t, &y, LIMIT, CONFIDENCE, DEFAULT_MIN_GROWTH);
                    let (t, y) = observe(&s, seed, floor);
                    (fail_fast(&th, &s, &t, &y), oracle)
                });
                let (memsoak, oracle): (Vec<_>, Vec<_>) = stops.into_iter().unzip();
                (Some(median_stop(&memsoak)), Some(median_stop(&oracle)))
            } else {
                (None, None)
            };
            for median in [memsoak, oracle] {
                row.push(match (median, t_star) {
                    (None, _) => "–".into(),
                    (Some(Some(m)), Some(t)) => format!("{:.2}", m / t),
                    (Some(None), Some(t)) => format!(">{:.2}", seconds / t),
                    (Some(_), None) => "n/a".into(),
                });
            }
            println!("| {} |", row.join(" | "));
        }
    }
    println!();
    println!("({:.0} s)", start.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
