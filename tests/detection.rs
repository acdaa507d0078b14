//! Detection on real memory signals (issue 11): a Python target that churns
//! variable-size buffers held at random levels for random times, with and
//! without a small leak underneath (`tests/fixtures/churn.py`), watched by
//! the real binary; and `--fail-fast` on a simulated 30-minute run of the
//! same churn, and on the calibration's 10-minute runs (how soon a leak is
//! stopped against the oracle's time, how rarely a leak at the limit is),
//! judged by the function the monitor calls at each look.

mod common;

use common::{Outcome, fixture, report, run_with};
use memsoak::analysis::threshold::Threshold;
use memsoak::analysis::{LookRules, fail_fast_time};
use memsoak::stats::calibration as cal;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::MIB;

/// `memsoak watch` for 90 s, sampled every 250 ms, at `rss.slope<2MiB/min`,
/// of `churn.py ARGS`.
///
/// NOTE: at the default 1 s, with levels held ~1 s, a 6 MiB/min leak under
/// 16 MiB of churn was caught in 4 of 5 runs of 90 s (the oracle needs
/// ~70 s for 80% power there): too flaky for CI. Four samples a second of
/// levels held 0.5 s caught 5 of 5 at p ≤ 0.0006, the churn alone passing
/// at p ≥ 0.48.
fn watch_churn(args: &[&str]) -> Outcome {
    // NOTE: a gate at 95% raises a false alarm on 5% of healthy runs by
    // design (the calibration table measures it); at 99% a failure of the
    // churn-alone cases here means a defect, not the 1-in-20 a 95% test is
    // allowed. The leaks are caught at p < 1e-5.
    watch_fixture(
        "churn.py",
        args,
        &["--sample-every", "250ms"],
        "0.99",
        "90s",
    )
}

/// `memsoak watch` for `duration` at `rss.slope<2MiB/min` and `confidence`,
/// with `options` besides, of `python3 SCRIPT ARGS` (a script in
/// `tests/fixtures`).
fn watch_fixture(
    script: &str,
    args: &[&str],
    options: &[&str],
    confidence: &str,
    duration: &str,
) -> Outcome {
    let script = fixture(script);
    let watch = [
        &[
            "watch",
            "--duration",
            duration,
            "-t",
            "rss.slope<2MiB/min",
            "--confidence",
            confidence,
            "-q",
        ][..],
        options,
    ]
    .concat();
    run_with(
        &watch,
        &[&["python3", script.as_str()][..], args].concat(),
        &[],
    )
}

/// `memsoak watch` for `duration` at the default 1 s, at
/// `rss.slope<2MiB/min`, of `flush.py ARGS`, whose exit code should be
/// `want`.
///
/// NOTE: as in the churn tests, at 99% a healthy case failing is a defect,
/// not the allowed 1 in 20. A leak must fail the gate a user runs, the
/// default 95%: at 99% the staircases were passed in 3 of 12 runs by hand
/// (p = 0.012–0.015: a 3 MiB step at one flush, under the 5-sigma jump
/// rule, read as persistence), and in one CI run at p = 0.40. At 95%, one
/// of 24 more by hand passed at p = 0.077 before quantised readings took
/// the mean step's test (`drift::quantised_fit`); now 0.008, and the
/// weakest of the 24 read 0.027.
fn watch_flush(args: &[&str], want: i32, duration: &str) -> Outcome {
    let confidence = if want == 1 { "0.95" } else { "0.99" };
    watch_fixture("flush.py", args, &[], confidence, duration)
}

/// What the report says about the rss fit, for the failure message.
fn rss_fit(o: &Outcome) -> String {
    let r = report(&o.dir);
    let m = r["analysis"]["metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["metric"] == "rss"))
        .cloned()
        .unwrap_or_default();
    format!(
        "slope {} B/min, p {}, model {} ({}) | {}",
        m["slope_per_min"]["value"], m["trend_p_value"], m["model"], m["model_reason"], o.stderr
    )
}

/// A case of the real-process tests: the target's two arguments (the
/// churn's or the buffers' size, and the leak in MiB/min) and the exit code
/// wanted (1 = the leak fails, 0 = passes).
type Case = (&'static str, &'static str, i32);

/// Runs `watch(k, case)` for every case at once, prints what each found
/// (`name(case)` in front), and checks each exit code against the case's.
/// Returns the outcomes in order.
fn all_at_once(
    cases: &[Case],
    name: impl Fn(&Case) -> String,
    watch: impl Fn(usize, &Case) -> Outcome + Sync,
) -> Vec<Outcome> {
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let watch = &watch;
                s.spawn(move || watch(k, c))
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (c, o) in cases.iter().zip(&outcomes) {
        println!("{}: exit {}, {}", name(c), o.code, rss_fit(o));
    }
    for (c, o) in cases.iter().zip(&outcomes) {
        assert_eq!(o.code, c.2, "{}: {}", name(c), rss_fit(o));
    }
    outcomes
}

#[test]
fn a_leak_under_churn_fails_and_the_churn_alone_passes() {
    // Churn of up to 16 MiB and of up to 4 MiB, redrawn about every half
    // second; 6 MiB/min leaking underneath in one target of each, nothing
    // in the other. All four watched at once.
    let cases: [Case; 4] = [("16", "6", 1), ("16", "0", 0), ("4", "6", 1), ("4", "0", 0)];
    let outcomes = all_at_once(
        &cases,
        |(churn, leak, _)| format!("churn {churn} MiB, leak {leak} MiB/min"),
        |k, (churn, leak, _)| {
            let seed = (3 + k).to_string();
            watch_churn(&[
                "--churn", churn, "--hold", "0.5", "--leak", leak, "--seed", &seed,
            ])
        },
    );
    for o in &outcomes {
        let r = report(&o.dir);
        let rss = &r["analysis"]["metrics"][0];
        assert_eq!(rss["metric"], "rss");
        assert_eq!(rss["model"], "level", "{}", rss["model_reason"]);
    }
}

#[test]
fn a_leak_under_a_flushed_cache_fails_and_the_flushes_alone_pass() {
    // `flush.py`: a cache filled to 48 MiB and flushed every 10 s, in 64 KiB
    // buffers (on glibc's heap) and in 256 KiB ones (mmapped until glibc
    // raises its threshold), with 6 MiB/min leaking underneath or nothing.
    // With the leak, RSS climbs as a staircase (the kept pieces pin the
    // heap's top); without, it is a sawtooth. The staircase had p = 0.06 on
    // its samples, and the 256 KiB one passed as a single long cycle (p = 1),
    // until the views were fixed (`drift_tests.rs` holds their readings).
    // Watched at 1 s as a user would, all four at once, for 120 s.
    //
    // NOTE: 120 s, not 90. In 90 s the 64 KiB staircase has six or seven
    // steps after warm-up, one of them often 4 MiB among steps of 1: of 26
    // such watches by hand (four at once on the 2-core box; 180 s watches
    // read again cut at 90 s), 23 read p < 0.001 and 3 read 0.004–0.034,
    // and one CI run read p = 0.43 and failed here. Seven steps all up is
    // 1 in 128 under noise whose levels wander like a random walk, which
    // AR(1) 0.98 at 1 Hz does over 70 s: the test is near what the data
    // hold, not a defect to tune away. Cut at 120 s, the same 20 watches
    // read p < 0.001 every one, the flushes alone p ≥ 0.24.
    let duration = "120s";
    let cases: [Case; 4] = [
        ("64", "6", 1),
        ("64", "0", 0),
        ("256", "6", 1),
        ("256", "0", 0),
    ];
    all_at_once(
        &cases,
        |(buf, leak, _)| format!("buffers {buf} KiB, leak {leak} MiB/min"),
        |_, (buf, leak, want)| watch_flush(&["--buf", buf, "--leak", leak], *want, duration),
    );
}

#[test]
fn a_cache_a_timer_flushes_off_the_sampling_grid_passes_and_a_leak_under_it_fails() {
    // `flush.py --period 9.85` (and 9.9): the cache is flushed a little
    // before each 10th sample, so each drop falls later in the sampling
    // grid than the one before and the cycles are sampled higher and
    // higher up their ramps: one sample's climb (4.8 MiB) over 80 s. Read
    // as random, a healthy run failed `rss.slope<2MiB/min` at 4.56 MiB/min,
    // p = 0.003. The drops fit one period, and the slope's error takes what
    // that period's range leaves (`drift::on_one_period`). A leak under
    // it, a staircase on the heap, still fails. All three at once, for
    // 120 s: in 90 s the leak read p = 0.005–0.026 in 8 watches by hand
    // (the period's range widens its slope's error on purpose), too near
    // 0.05 for CI; in 120 s 0.014 at most, the healthy ones p ≥ 0.17.
    let cases: [Case; 3] = [("9.85", "0", 0), ("9.9", "0", 0), ("9.85", "6", 1)];
    all_at_once(
        &cases,
        |(period, leak, _)| format!("flushed every {period} s, leak {leak} MiB/min"),
        |_, (period, leak, want)| watch_flush(&["--period", period, "--leak", leak], *want, "120s"),
    );
}

/// Churn as `churn.py --churn 4 --hold 1` makes it, sampled at 1 Hz for
/// 30 min: a level uniform in 0..4 MiB redrawn after exponential holds of
/// mean 1 s, plus `leak` bytes per second.
fn churn_series(leak: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut level, mut until) = (0.0, f64::NEG_INFINITY);
    let t: Vec<f64> = (0..1800).map(f64::from).collect();
    let y = t
        .iter()
        .map(|&ti| {
            if ti >= until {
                level = 4.0 * MIB * rng.random::<f64>();
                until = ti - (1.0 - rng.random::<f64>()).ln();
            }
            20.0 * MIB + leak * ti + level
        })
        .collect();
    (t, y)
}

/// When `--fail-fast` at `threshold` stops a run sampled every second, if
/// it does.
fn fail_fast_at(threshold: &str, t: &[f64], y: &[f64]) -> Option<f64> {
    let th: Threshold = threshold.parse().expect("threshold");
    fail_fast_time(&th, t, y, 1.0, &LookRules::DEFAULT)
}

#[test]
fn a_leak_of_8_mib_an_hour_is_caught_within_30_minutes() {
    // 8 MiB/h under 4 MiB of churn, sampled every second, --fail-fast at
    // rss.slope<4MiB/h: caught within the 30 minutes; the churn alone
    // never stops the run.
    let leak = 8.0 * MIB / 3600.0;
    let seeds = 6u64;
    let (caught, alarms) = std::thread::scope(|s| {
        let caught = s.spawn(|| {
            (0..seeds)
                .map(|seed| {
                    let (t, y) = churn_series(leak, 100 + seed);
                    fail_fast_at("rss.slope<4MiB/h", &t, &y)
                })
                .collect::<Vec<_>>()
        });
        let alarms = s.spawn(|| {
            (0..seeds)
                .filter_map(|seed| {
                    let (t, y) = churn_series(0.0, 200 + seed);
                    fail_fast_at("rss.slope<4MiB/h", &t, &y)
                })
                .collect::<Vec<_>>()
        });
        (caught.join().unwrap(), alarms.join().unwrap())
    });
    println!("8 MiB/h under 4 MiB churn: stopped at {caught:?} s; churn alone: {alarms:?}");
    assert!(caught.iter().all(Option::is_some), "{caught:?}");
    assert!(alarms.is_empty(), "{alarms:?}");
}

/// A 10-minute run at 1 Hz of `behaviour` under `noise`.
fn ten_minutes(noise: cal::Noise, behaviour: cal::Behaviour) -> cal::Scenario {
    cal::Scenario {
        noise,
        behaviour,
        seconds: 600.0,
        hz: 1.0,
    }
}

/// Median `--fail-fast` stop over `seeds` seeded runs of `s`, at the
/// calibration's `rss.slope<2MiB/min` (`None` for runs never stopped, sorted
/// last), and how many were stopped.
fn stops(s: &cal::Scenario, seeds: u64) -> (Option<f64>, usize) {
    let mut at: Vec<Option<f64>> = (0..seeds)
        .map(|seed| {
            let (t, y) = s.simulate(seed);
            fail_fast_at("rss.slope<2MiB/min", &t, &y)
        })
        .collect();
    at.sort_by(|a, b| {
        a.unwrap_or(f64::INFINITY)
            .total_cmp(&b.unwrap_or(f64::INFINITY))
    });
    let stopped = at.iter().flatten().count();
    (at[at.len() / 2], stopped)
}

#[test]
fn fail_fast_stops_a_leak_within_reach_of_the_oracle() {
    // A 3× leak over 10 minutes: the median stop against T*, the time an
    // oracle (least squares, known σ) needs for 80% power. White noise is
    // held to the 2× (1.63× in the 200-seed table); held levels, at
    // 2.17× there (2.26× on these 41 seeds), to 2.4×: the old spending,
    // 6/(π²k²), read 2.64× on these seeds and fails it.
    for (noise, bound) in [(cal::Noise::White, 2.0), (cal::Noise::Jump, 2.4)] {
        let s = ten_minutes(noise, cal::Behaviour::Linear(3.0));
        let t_star = s.t_star(3.0 * cal::LIMIT).expect("an oracle rate");
        let (median, _) = stops(&s, 41);
        let ratio = median.map_or(f64::INFINITY, |m| m / t_star);
        println!(
            "{}: median stop {median:?} s, {ratio:.2}× T* {t_star:.0} s",
            noise.name()
        );
        assert!(ratio <= bound, "{}: {ratio:.2}× T*", noise.name());
    }
}

#[test]
fn fail_fast_rarely_stops_a_leak_at_the_limit() {
    // A leak exactly at the limit is the null of each look's one-sided
    // test, held to half the look's alpha: at most 2.5% of runs in all.
    // 80 runs of white noise and held levels may stop 4 (5%) at most.
    for noise in [cal::Noise::White, cal::Noise::Jump] {
        let (_, stopped) = stops(&ten_minutes(noise, cal::Behaviour::Linear(1.0)), 80);
        println!("{}: {stopped} of 80 stopped", noise.name());
        assert!(stopped <= 4, "{}: {stopped} of 80", noise.name());
    }
}
