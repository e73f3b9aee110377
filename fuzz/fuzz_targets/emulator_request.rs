//! The emulator's request parsing: the users query and a create-user body.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = auth0_emulator::fuzz_request_bytes(data);
});
