#![no_main]
use libfuzzer_sys::fuzz_target;
use memsoak::backend::http::{Api, parse_reply};

fuzz_target!(|s: &str| {
    let _ = parse_reply(Api::OpenAi, s, 2);
    let _ = parse_reply(Api::Tei, s, 2);
});
