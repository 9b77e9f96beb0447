//! What the fuzz targets share: the panic hook that tells the panics the server catches
//! from the ones it does not.

use std::sync::Once;

/// Installs, once, a panic hook for a fuzz target. A panic outside
/// [`linli_shared::fuzz::boundary`] is a crash: reported, then the process aborts, which
/// libFuzzer records as a crasher. A panic inside it (Automerge applying a peer's
/// changes, which the server runs under `catch_unwind`) unwinds and is counted as an
/// outcome, unless `LINLI_FUZZ_STRICT` is set: then it is a crash too, to find such
/// panics in Automerge itself.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let strict = std::env::var_os("LINLI_FUZZ_STRICT").is_some();
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if linli_shared::fuzz::in_boundary() && !strict {
                return;
            }
            report(info);
            std::process::abort();
        }));
    });
}
