//! Bytes read as a Linli document: as a saved Automerge document and as JSON.
#![no_main]

libfuzzer_sys::fuzz_target!(init: linli_fuzz::install_panic_hook(), |input: &[u8]| {
    let _ = linli_shared::fuzz::hydrate(input);
});
