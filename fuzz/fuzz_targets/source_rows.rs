//! Source-row normalisation: emails and role lists from arbitrary cells.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    auth0_sync::fuzzing::check_source_rows(data);
});
