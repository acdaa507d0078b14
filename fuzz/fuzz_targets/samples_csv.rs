#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("memsoak-fuzz-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = memsoak::runfolder::samples::read_samples(&path);
    }
});
