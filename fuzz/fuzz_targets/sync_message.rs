//! A peer's sync message applied to a stored Linli document as the server does it. The
//! first byte picks the sender and the document (`linli_shared::fuzz::Case`).
#![no_main]

libfuzzer_sys::fuzz_target!(init: linli_fuzz::install_panic_hook(), |input: &[u8]| {
    let _ = linli_shared::fuzz::sync_message(input);
});
