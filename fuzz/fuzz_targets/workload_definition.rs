#![no_main]
use libfuzzer_sys::fuzz_target;

// A workload definition (TOML) is outside input: it validates, naming only
// sources that exist, or fails with one line naming the file.
fuzz_target!(|s: &str| {
    let path = std::path::Path::new("workloads/fuzz.toml");
    match memsoak::workload::definition::Definition::parse(s, path) {
        Ok(d) => assert!(d.traces().iter().all(|p| p.is_file())),
        Err(e) => {
            let e = e.to_string();
            assert!(!e.contains('\n') && e.contains("fuzz.toml"), "{e}");
        }
    }
});
