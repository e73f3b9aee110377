//! The fuzz targets' invariants (`auth0_sync::fuzzing`) on every seed under
//! `fuzz/seeds/` and on every input a fuzzer ever crashed (kept here by name).

use auth0_sync::fuzzing::{check_emulator_request, check_plan_text, check_source_rows};

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new("fuzz/seeds").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds for {target}");
    out
}

#[test]
fn plan_seeds_parse_and_round_trip() {
    for (name, bytes) in seeds("plan_parse") {
        let text = String::from_utf8(bytes).unwrap();
        // The seed is a real plan: it must be accepted, not just not crash.
        assert!(auth0_sync::plan::Plan::parse(&name, &text).is_ok(), "{name}");
        check_plan_text(&text);
        // Truncations and single-byte edits of it must not panic either.
        for cut in (0..text.len()).step_by(97) {
            if text.is_char_boundary(cut) {
                check_plan_text(&text[..cut]);
            }
        }
        check_plan_text(&text.replacen("\"id\": 1", "\"id\": 4294967296", 1));
        check_plan_text(&text.replacen("\"changes\": [", "\"changes\": [{},", 1));
    }
}

#[test]
fn source_row_seeds_keep_their_invariants() {
    for (_, bytes) in seeds("source_rows") {
        check_source_rows(&bytes);
    }
    for odd in ["", "\t\t\t", "@\t,,,\t,", "A@B.C\tx\ty,  ,z", "ǅ@ǅ.ǅ\t\u{0}\t", "a@b.c\u{2028}\tr"] {
        check_source_rows(odd.as_bytes());
    }
}

#[test]
fn emulator_request_seeds_do_not_panic() {
    for (_, bytes) in seeds("emulator_request") {
        check_emulator_request(&bytes);
    }
    for odd in [&b"email:\"\0{"[..], b"AND AND\0[]", b"\"\0null", b"identities.connection:\0{\"connection\":1}"] {
        check_emulator_request(odd);
    }
}
