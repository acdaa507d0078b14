#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(c) = memsoak::cli::config::Config::parse(s, std::path::Path::new("fuzz.toml")) {
        let _ = c.profile("ci");
    }
});
