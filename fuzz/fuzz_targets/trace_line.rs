#![no_main]
use libfuzzer_sys::fuzz_target;
use memsoak::trace::format::{parse_header, parse_record};

// Every trace line is outside input: a record parses to a valid record that
// survives the round trip, or fails with a one-line reason.
fuzz_target!(|s: &str| {
    match parse_record(s) {
        Ok(r) => {
            assert!(r.t.is_finite() && r.t >= 0.0 && !r.batch.is_empty());
            let back = parse_record(&r.to_line()).expect("a written record parses");
            assert_eq!(back.batch, r.batch);
        }
        Err(e) => assert!(!e.contains('\n')),
    }
    if let Err(e) = parse_header(s) {
        assert!(!e.to_string().contains('\n'));
    }
});
