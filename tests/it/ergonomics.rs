//! What the binary says around the work (issue 15): a broken dotenv file, usage errors,
//! logs fit for collectors, terminals without a size, closed pipes, the apply header,
//! completions, man pages and help texts.

use crate::common::{Env, run, text};
use auth0_sync::plan::Plan;
use std::path::Path;
use std::process::{Command, Stdio};

/// A sealed plan of the demo (9 changes), shipped as a fuzzing seed.
const DEMO_PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/plan_parse/demo-plan.json");

/// The binary with an empty environment (plus PATH and a fixed help width).
fn bin(dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin("auth0-sync"));
    c.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).env("COLUMNS", "100").current_dir(dir);
    c
}

fn out(mut c: Command) -> (Option<i32>, String, String) {
    let o = c.output().unwrap();
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn a_broken_dotenv_blocks_only_the_verbs_that_read_settings() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-DOTENV";
    std::fs::write(
        dir.path().join(".env"),
        format!("AUTH0_URL=https://acme.auth0.com\n\nAUTH0_CLIENT_SECRET={secret} x\n"),
    )
    .unwrap();
    for args in [&["--help"][..], &["--version"], &["plan", "--help"], &["completions", "bash"], &["man"]] {
        let mut c = bin(dir.path());
        c.args(args);
        let (code, stdout, stderr) = out(c);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert!(!stdout.is_empty(), "{args:?}");
        assert!(!stderr.contains("dotenv"), "{args:?} warned: {stderr}");
    }
    let mut c = bin(dir.path());
    c.args(["show", DEMO_PLAN]);
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("Plan for tenant"), "{stdout}");
    assert!(stderr.contains("ignored, as this command reads no settings"), "{stderr}");

    for args in [&["plan"][..], &["check"], &["apply", "p.json"]] {
        let mut c = bin(dir.path());
        c.args(args);
        let (code, _, stderr) = out(c);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(stderr.contains("auth0_sync::settings::env_file"), "{stderr}");
        // The line of the file, and the column within it (dotenvy's "line index" was a column).
        assert!(stderr.contains("could not parse the dotenv file ./.env: line 3, column 35"), "{stderr}");
        assert!(stderr.contains("(AUTH0_CLIENT_SECRET)"), "{stderr}");
        assert!(!stderr.contains(secret) && !stderr.contains("line index") && !stderr.contains("could not read"));
    }
    // A file given with --env-file that is not there is "could not read", and names it.
    let mut c = bin(dir.path());
    c.args(["plan", "--env-file", "missing.env"]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("could not read the dotenv file missing.env"), "{stderr}");
}

#[test]
fn usage_errors_are_diagnostics_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.args(["plan", "--max-deletes", "lots"]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("auth0_sync::settings::usage") && stderr.contains("--max-deletes"), "{stderr}");

    let mut c = bin(dir.path());
    c.args(["apply", "--format", "markdown", "p.json"]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, Some(1), "apply --format markdown must be refused");
    assert!(stderr.contains("'markdown'") && stderr.contains("[possible values: table, json]"), "{stderr}");

    let mut c = bin(dir.path());
    c.args(["--log-format", "json", "plan", "--bogus"]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(v["code"], "auth0_sync::settings::usage");
    assert!(v["message"].as_str().unwrap().contains("--bogus"), "{v}");
}

#[test]
fn the_final_error_is_a_json_event_with_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.args(["plan", "--log-format", "json"]);
    let (code, _, stderr) = out(c);
    assert_eq!(code, Some(1));
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))).collect();
    let last = lines.last().expect("an error event");
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["code"], "auth0_sync::settings::several");
    assert!(last["help"].as_str().is_some_and(|h| !h.is_empty()), "{last}");
    let related: Vec<&str> = last["related"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(related.len() >= 5 && related.iter().all(|c| c.starts_with("auth0_sync::settings::")), "{last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_have_no_colour_off_a_terminal_and_no_rust_debug_output() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env_remove("NO_COLOR").args(["plan", "-vv", "--out"]).arg(env.path("p.json"));
    let o = run(c).await;
    let stderr = text(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("DEBUG") && stderr.contains("Auth0 answered"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "ANSI escapes in piped logs: {stderr:?}");
    for debug in ["Some(", "None", "PerRole", "PerUser", " { "] {
        assert!(!stderr.contains(debug), "Rust Debug output {debug:?} in logs:\n{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vv_shows_the_tools_debug_lines_and_not_the_http_crates() {
    let env = Env::demo().await;
    let targets = |extra: Option<&str>| {
        let mut c = env.cmd();
        if let Some(f) = extra {
            c.env("AUTH0_SYNC_LOG", f);
        }
        c.args(["plan", "-vv", "--log-format", "json", "--overwrite", "--out"]).arg(env.path("p.json"));
        c
    };
    let o = run(targets(None)).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    let events: Vec<serde_json::Value> = text(&o.stderr).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(events.iter().any(|e| e["level"] == "DEBUG" && e["target"] == "auth0_sync::auth0::transport"));
    let foreign: Vec<&serde_json::Value> =
        events.iter().filter(|e| !e["target"].as_str().unwrap_or("").starts_with("auth0_")).collect();
    assert!(foreign.is_empty(), "other crates' lines at -vv: {foreign:?}");
    let lookup = events.iter().find(|e| e["message"] == "role membership lookup").expect("lookup event");
    assert!(["per-role", "per-user"].contains(&lookup["strategy"].as_str().unwrap()), "{lookup}");

    // AUTH0_SYNC_LOG asks for everyone's debug lines, and gets them.
    let o = run(targets(Some("debug"))).await;
    let all = text(&o.stderr);
    assert!(
        all.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| !e["target"].as_str().unwrap_or("").starts_with("auth0_")),
        "{all}"
    );
}

#[test]
fn a_closed_pipe_ends_show_quietly() {
    use auth0_sync::model::{TenantRole, TenantSnapshot};
    use auth0_sync::source::{DesiredStateBuilder, RawRow};
    let dir = tempfile::tempdir().unwrap();
    // Far more than a pipe buffer of table.
    let mut b = DesiredStateBuilder::new();
    for i in 0..3000 {
        b.push(RawRow {
            email: Some(format!("user{i:04}@acme.example")),
            roles: vec!["viewer".into()],
            ..Default::default()
        });
    }
    let mut t = TenantSnapshot::default();
    t.roles.insert("rol_v".into(), TenantRole { id: "rol_v".into(), name: "viewer".into() });
    let policy = auth0_sync::planner::Policy { connection: "db".into(), ..Default::default() };
    let cs = auth0_sync::planner::plan(&b.finish(), &t, &policy).unwrap();
    let plan = Plan::new(
        chrono::Utc::now(),
        "acme.auth0.com".into(),
        "db".into(),
        t.fingerprint(),
        auth0_sync::plan::SourceInfo {
            kind: "sqlite".into(),
            location: "hr.sqlite".into(),
            rows: 3000,
            users: 3000,
            ..Default::default()
        },
        policy.record(&t, &cs),
        cs,
    );
    let path = dir.path().join("big.json");
    plan.write_new(&path, false).unwrap();
    for format in ["table", "json", "markdown"] {
        let mut c = bin(dir.path());
        c.args(["show", "--format", format]).arg(&path).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        // `| head -c 0`: the reader goes away at once.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{format}: {}", text(&o.stderr));
        // Nothing but `show`'s own note on the signature: no error, no "broken pipe".
        let err = text(&o.stderr);
        assert!(err.lines().all(|l| l.starts_with("Signature: ")), "{format}: {err}");
    }
}

#[test]
fn completions_for_each_shell_and_a_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let mut c = bin(dir.path());
        c.args(["completions", shell]);
        let (code, stdout, stderr) = out(c);
        assert_eq!(code, Some(0), "{shell}: {stderr}");
        assert!(stdout.contains("auth0-sync") && stdout.contains("max-deletes") && stdout.contains("plan"), "{shell}");
        assert!(!stdout.contains("IMPORT_THRESHOLD"), "{shell} completions name an internal constant");
    }
    let mut c = bin(dir.path());
    c.args(["completions", "tcsh"]);
    assert_eq!(out(c).0, Some(1));

    let mut c = bin(dir.path());
    c.arg("man");
    let (code, page, _) = out(c);
    assert_eq!(code, Some(0));
    assert!(page.contains(".TH auth0-sync 1") && page.contains("completions"), "{page}");
    let mut c = bin(dir.path());
    c.args(["man", "apply"]);
    let (code, page, _) = out(c);
    assert_eq!(code, Some(0));
    assert!(page.contains(".TH auth0-sync-apply 1") && page.contains("max\\-plan\\-age"), "{page}");
    assert!(!page.contains("IMPORT_THRESHOLD"), "{page}");
}

#[test]
fn every_help_is_short_and_speaks_the_users_language() {
    use clap::CommandFactory;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = auth0_sync::cli::Cli::command();
    cmd.build();
    for verb in auth0_sync::commands::completions::VERBS {
        let mut c = bin(dir.path());
        c.args([verb, "--help"]);
        let (code, help, _) = out(c);
        assert_eq!(code, Some(0), "{verb}");
        let lines = help.lines().count();
        assert!(lines < 90, "`{verb} --help` has {lines} lines:\n{help}");
        for internal in ["IMPORT_THRESHOLD", "Some(", "PerRole", "TODO"] {
            assert!(!help.contains(internal), "`{verb} --help` names {internal}:\n{help}");
        }
        let sub = cmd.find_subcommand(verb).unwrap();
        for a in sub.get_positionals() {
            assert!(a.get_help().is_some(), "`{verb}`: positional {} has no description", a.get_id());
        }
        for a in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            assert!(a.get_help().is_some(), "`{verb}`: --{} has no description", a.get_id());
        }
    }
    let mut c = bin(dir.path());
    c.args(["apply", "--help"]);
    let help = out(c).1.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("[default: table] [possible values: table, json]"), "{help}");
    let threshold = format!("import from {} creations up", auth0_sync::apply::IMPORT_THRESHOLD);
    assert!(help.contains(&threshold), "--create-via's help disagrees with the threshold: {help}");
}

#[test]
fn the_apply_header_says_what_will_be_done_and_where_the_journal_is() {
    use auth0_sync::render::{RenderOptions, apply_footer, apply_header};
    let mut plan = Plan::read(Path::new(DEMO_PLAN)).unwrap();
    let opts = RenderOptions { color: false, width: Some(100), redact: false };
    let (p, j) = (Path::new("plans/p.json"), Path::new("plans/p.json.journal"));
    let mut header = Vec::new();
    apply_header(&plan, p, j, &mut header, &opts).unwrap();
    apply_footer(j, &mut header).unwrap();
    insta::assert_snapshot!("apply_header", text(&header));

    plan.changeset.changes.clear();
    plan.changeset.create_roles.clear();
    let mut empty = Vec::new();
    apply_header(&plan, p, j, &mut empty, &opts).unwrap();
    let empty = text(&empty);
    assert!(empty.starts_with("Nothing to apply: plans/p.json has no changes"), "{empty}");
    assert!(!empty.contains("Journal"), "{empty}");
}

/// Runs `cmd` with stdout (and stderr) on a pseudo-terminal that reports no size, in a
/// session of its own (so `/dev/tty` is not the terminal running the tests).
#[cfg(unix)]
fn on_terminal(mut cmd: Command, stdout: bool, stderr: bool) -> (Option<i32>, String) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let pty = nix::pty::openpty(None::<&nix::pty::Winsize>, None::<&nix::sys::termios::Termios>).unwrap();
    let slave = std::fs::File::from(pty.slave);
    let tty = |on: bool| if on { Stdio::from(slave.try_clone().unwrap()) } else { Stdio::null() };
    cmd.stdin(Stdio::null()).stdout(tty(stdout)).stderr(tty(stderr));
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    drop(slave);
    let mut master = std::fs::File::from(pty.master);
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    // Linux answers EIO once the child has closed the terminal.
    while let Ok(n @ 1..) = master.read(&mut buf) {
        bytes.extend_from_slice(&buf[..n]);
    }
    (child.wait().unwrap().code(), text(&bytes))
}

#[cfg(unix)]
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn tables_fall_back_to_a_fixed_width_on_a_terminal_without_a_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.args(["show", DEMO_PLAN]);
    let (code, shown) = on_terminal(c, true, false);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains('\x1b'), "a terminal gets colours");
    let plain = strip_ansi(&shown);
    let lines: Vec<&str> = plain.lines().collect();
    // One character per column (the old behaviour) takes over 200 lines for 9 changes;
    // the demo plan has 12 changes since #13, and sections for renames and fields.
    assert!(lines.len() < 90, "{} lines:\n{plain}", lines.len());
    let widest = lines.iter().filter(|l| l.starts_with(['│', '┌', '└'])).map(|l| l.chars().count()).max();
    assert!(widest.is_some_and(|w| w <= usize::from(auth0_sync::render::FALLBACK_WIDTH)), "{plain}");

    // Piped, the table is as wide as its content, as before.
    let mut c = bin(dir.path());
    c.args(["show", DEMO_PLAN]);
    let (_, piped, _) = out(c);
    assert!(!piped.contains('\x1b') && piped.lines().count() < 90, "{piped}");
}

#[cfg(unix)]
#[test]
fn log_lines_on_a_terminal_are_coloured_unless_no_color() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "A=unclosed \"quote\n").unwrap();
    let show = |no_color: bool| {
        let mut c = bin(dir.path());
        c.args(["show", DEMO_PLAN]);
        if no_color {
            c.env("NO_COLOR", "1");
        }
        on_terminal(c, false, true)
    };
    let (code, coloured) = show(false);
    assert_eq!(code, Some(0));
    assert!(coloured.contains("WARN") && coloured.contains('\x1b'), "{coloured:?}");
    let (code, plain) = show(true);
    assert_eq!(code, Some(0));
    assert!(plain.contains("WARN") && !plain.contains('\x1b'), "{plain:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_prints_a_header_before_it_writes_and_the_journal_at_the_end() {
    let env = Env::demo().await;
    let plan = env.path("p.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&plan);
    assert!(run(c).await.status.success());
    let mut c = env.cmd();
    c.args(["apply", "--format", "json"]).arg(&plan);
    let o = run(c).await;
    assert!(o.status.success(), "{}", text(&o.stderr));
    // stdout stays JSON; the header and footer go to stderr.
    serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("apply --format json prints only JSON");
    let stderr = text(&o.stderr);
    assert!(stderr.contains("Applying") && stderr.contains("4 to create, 2 to update roles, 2 to delete"), "{stderr}");
    assert!(stderr.contains(&format!("Journal of this run: {}.journal", plan.display())), "{stderr}");

    // The same plan again, as a table: a header first, the journal last.
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(env.path("q.json"));
    assert!(run(c).await.status.success());
    let mut c = env.cmd();
    c.arg("apply").arg(env.path("q.json"));
    let o = run(c).await;
    let stdout = text(&o.stdout);
    assert!(o.status.success(), "{stdout}{}", text(&o.stderr));
    assert!(stdout.starts_with("Nothing to apply:"), "{stdout}");
    assert!(stdout.trim_end().lines().last().unwrap().starts_with("Journal of this run:"), "{stdout}");
}

/// `--redact` masks every email the binary prints or logs: the plan (table, markdown,
/// JSON), apply's report (table and JSON, details and messages too) and `-v` logs.
#[tokio::test(flavor = "multi_thread")]
async fn redact_masks_emails_in_everything_plan_and_apply_print() {
    let env = Env::demo().await;
    let plan = env.path("p.json");
    let mut all = String::new();
    for format in ["table", "markdown", "json"] {
        let mut c = env.cmd();
        c.args(["--redact", "-v", "plan", "--format", format, "--out"]).arg(env.path(&format!("p-{format}.json")));
        let out = run(c).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        all += &text(&out.stdout);
        all += &text(&out.stderr);
    }
    std::fs::copy(env.path("p-table.json"), &plan).unwrap();
    let mut c = env.cmd();
    c.args(["--redact", "-v", "apply", "--format", "json"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    all += &text(&out.stdout);
    all += &text(&out.stderr);
    assert!(all.contains("***@acme.example"), "masked addresses are shown: {all}");
    let state = crate::common::demo_state();
    for email in state.users.iter().filter_map(|u| u.email.as_deref()) {
        assert!(!all.contains(email), "{email} printed under --redact:\n{all}");
    }
}

/// `auth0-sync demo | head -1`: the demo goes on when its reader has gone, without a
/// panic (it once died "failed printing to stdout: Broken pipe").
#[test]
fn a_closed_pipe_does_not_panic_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = bin(dir.path());
    c.arg("demo").stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
}
