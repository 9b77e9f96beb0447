//! A WebSocket frame through the CBOR codec, and the decoded message back through it.
#![no_main]

libfuzzer_sys::fuzz_target!(init: linli_fuzz::install_panic_hook(), |frame: &[u8]| {
    let _ = linli_shared::fuzz::wire_decode(frame);
});
