#![no_main]
use libfuzzer_sys::fuzz_target;
use memsoak::trace::import::{JsonlImport, parse_line};

// One line of a log imported with `memsoak record --from-jsonl`.
fuzz_target!(|line: &str| {
    let opts = JsonlImport {
        field: "request.input".into(),
        time_field: Some("ts".into()),
        batch: 8,
        skip_bad: false,
    };
    match parse_line(line, &opts) {
        Ok((texts, _, t)) => assert!(!texts.is_empty() && t.is_none_or(f64::is_finite)),
        Err(e) => assert!(!e.contains('\n')),
    }
});
