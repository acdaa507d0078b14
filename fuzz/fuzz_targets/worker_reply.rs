#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let _ = memsoak::backend::command::parse_reply(s, 7, 2);
});
