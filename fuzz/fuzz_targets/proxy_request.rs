#![no_main]
use libfuzzer_sys::fuzz_target;
use memsoak::trace::proxy::{embedding_request, public_url};

// What a client sends the recording proxy, and the upstream URL it is given.
fuzz_target!(|data: (&str, &str, &[u8])| {
    let (method, path, body) = data;
    match embedding_request(method, path, body) {
        Ok(Some(r)) => assert!(!r.texts.is_empty()),
        Ok(None) => {}
        Err(e) => assert!(!e.contains('\n')),
    }
    // A URL as a trace shows it keeps no user info and no query string.
    if let Some(u) = public_url(path) {
        let authority = u.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
        assert!(!authority.contains('@') && !u.contains('?'), "{u}");
    }
});
