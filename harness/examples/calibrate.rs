//! The detector's calibration table: false alarms, power and `--fail-fast`
//! time-to-detection per noise family, run length and sample rate, on
//! seeded simulations (`memsoak::stats::calibration`), judged by the
//! functions `memsoak` itself calls (`analysis::analyze_metric` and
//! `analysis::evaluate` at the end of a run, `analysis::sequential_breach`
//! at each fail-fast look, on the monitor's look schedule).
//!
//! usage: cargo run --release --example calibrate [-- --seeds N]
//! (default 200 seeds per cell; the full table takes a few minutes on 2 cores).

use memsoak::analysis::threshold::Threshold;
use memsoak::analysis::{
    DEFAULT_MIN_GROWTH, LookRules, Outcome, Warmup, analyze_metric, evaluate, sequential_breach,
};
use memsoak::sample::Metric;
use memsoak::stats::calibration::{Behaviour, LIMIT, Noise, Scenario, time_to_detection};
use std::process::ExitCode;

/// The run lengths (seconds) and rates (Hz) of the table.
const RUNS: [(f64, f64); 4] = [(90.0, 1.0), (90.0, 10.0), (600.0, 1.0), (1800.0, 1.0)];

/// The limit of every verdict, as a user writes it.
const THRESHOLD: &str = "rss.slope<2MiB/min";

/// Confidence of every verdict.
const CONFIDENCE: f64 = 0.95;

/// Runs `f` on every seed, spread over the machine's cores.
fn over_seeds<T: Send>(seeds: u64, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    (k..seeds)
                        .step_by(threads as usize)
                        .map(f)
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// The end-of-run verdict `memsoak` gives: did the threshold fail, and was
/// the trend significant (either way)?
fn verdict(th: &Threshold, t: &[f64], y: &[f64]) -> (bool, bool) {
    let items = vec![f64::NAN; t.len()];
    let m = analyze_metric(Metric::Rss, t, &items, y, Warmup::Auto, CONFIDENCE);
    let fail = evaluate(th, m.as_ref(), DEFAULT_MIN_GROWTH).outcome == Outcome::Fail;
    (fail, m.is_some_and(|m| m.significant))
}

/// The time `--fail-fast` stops the run, if it does.
fn fail_fast(th: &Threshold, s: &Scenario, t: &[f64], y: &[f64]) -> Option<f64> {
    let items = vec![f64::NAN; t.len()];
    time_to_detection(t, y, 1.0 / s.hz, |tt, yy, k| {
        let i = &items[..tt.len()];
        sequential_breach(
            th,
            tt,
            i,
            yy,
            &LookRules {
                warmup: Warmup::Auto,
                confidence: CONFIDENCE,
                min_growth: DEFAULT_MIN_GROWTH,
            },
            k,
        )
        .is_some()
    })
}

fn pct(k: usize, n: usize) -> String {
    format!("{:.0}", 100.0 * k as f64 / n as f64)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seeds = match args.as_slice() {
        [] => 200,
        [flag, n] if flag == "--seeds" => match n.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("calibrate: --seeds wants a positive whole number, got {n:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: calibrate [--seeds N]");
            return ExitCode::from(2);
        }
    };
    let Ok(th) = THRESHOLD.parse::<Threshold>() else {
        eprintln!("calibrate: bad threshold {THRESHOLD}");
        return ExitCode::from(2);
    };
    let start = std::time::Instant::now();
    println!(
        "Calibration: {seeds} seeds per cell, `{THRESHOLD}` at {:.0}% confidence, noise scale 4 MiB.",
        100.0 * CONFIDENCE
    );
    println!(
        "FA = false alarms (flat: trend significant either way; warm-up, cache: threshold failed); \
         power = threshold failed; ff = --fail-fast; TTD/T* = median time-to-detection ÷ T* \
         (leak 3×; '>' when under half the runs were stopped); * = T* ≤ run/2 (power target applies)."
    );
    for (seconds, hz) in RUNS {
        println!();
        println!("### {seconds:.0} s at {hz} Hz");
        println!();
        println!(
            "| noise | FA flat % | FA warm-up % | FA cache % | ff FA flat % | power 1.5× % | power 3× % | step % | varying % | T* 3× (s) | TTD/T* |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for noise in Noise::ALL {
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
                    let (t, y) = s.simulate(seed);
                    verdict(&th, &t, &y)
                });
                let k = match behaviour {
                    Behaviour::Flat => results.iter().filter(|r| r.1).count(),
                    _ => results.iter().filter(|r| r.0).count(),
                };
                row.push(pct(k, results.len()));
                if behaviour == Behaviour::BoundedCache {
                    // Fail-fast on healthy runs: looks over the whole run
                    // (30 min runs: left out, 180 looks per run).
                    row.push(if seconds <= 600.0 {
                        let flat = scenario(Behaviour::Flat);
                        let stops = over_seeds(seeds, |seed| {
                            let (t, y) = flat.simulate(seed);
                            fail_fast(&th, &flat, &t, &y).is_some()
                        });
                        pct(stops.iter().filter(|&&b| b).count(), stops.len())
                    } else {
                        "–".into()
                    });
                }
            }
            let s = scenario(Behaviour::Linear(3.0));
            let t_star = s.t_star(3.0 * LIMIT);
            let ttd = over_seeds(seeds, |seed| {
                let (t, y) = s.simulate(seed);
                fail_fast(&th, &s, &t, &y)
            });
            let mut found: Vec<f64> = ttd.iter().flatten().copied().collect();
            found.sort_by(f64::total_cmp);
            let median = (2 * found.len() > ttd.len()).then(|| found[ttd.len() / 2]);
            let applies = t_star.is_some_and(|t| t <= seconds / 2.0);
            row.push(t_star.map_or("n/a".into(), |t| {
                format!("{t:.0}{}", if applies { "*" } else { "" })
            }));
            row.push(match (median, t_star) {
                (Some(m), Some(t)) => format!("{:.2}", m / t),
                (None, Some(t)) => format!(">{:.2}", seconds / t),
                (_, None) => "n/a".into(),
            });
            println!("| {} |", row.join(" | "));
        }
    }
    println!();
    println!("({:.0} s)", start.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
