//! The emulator's request parsing: the users query and a create-user body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    auth0_sync::fuzzing::check_emulator_request(data);
});
