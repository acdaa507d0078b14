#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let _ = memsoak::units::parse_size(s);
    let _ = memsoak::units::parse_rate(s);
    let _ = memsoak::units::parse_duration(s);
    let _ = memsoak::units::parse_percent(s);
    let _ = memsoak::analysis::Warmup::parse(s);
});
