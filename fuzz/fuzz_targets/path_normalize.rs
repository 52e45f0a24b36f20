//! Path normalisation (docs/protocol.md §4.2): never panics, and whatever it accepts is normal —
//! normalising again changes nothing, no `//`, no dot segment.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(normal) = sealgate::proxy::route::normalize(path) {
        assert_eq!(
            sealgate::proxy::route::normalize(&normal).as_deref(),
            Ok(&*normal)
        );
        assert!(!normal.contains("//"));
        assert!(normal.split('/').all(|s| s != "." && s != ".."));
    }
});
