#![no_main]
use libfuzzer_sys::fuzz_target;

// A Prometheus query_range reply: series, gaps and non-finite points read,
// or one error; never a panic.
fuzz_target!(|s: &str| {
    if let Ok(series) = memsoak::promql::parse_reply(s, "http://fuzz", 15.0) {
        for x in series {
            assert_eq!(x.t.len(), x.y.len());
            assert!(x.y.iter().all(|v| v.is_finite()));
        }
    }
});
