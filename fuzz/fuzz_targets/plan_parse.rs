//! Plan-file parsing and validation: never panics; whatever it accepts round-trips
//! and is consistent.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        auth0_sync::fuzzing::check_plan_text(text);
    }
});
