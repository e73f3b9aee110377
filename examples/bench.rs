//! Benchmark: plan and apply against the emulator at a tenant's rate limit, reporting
//! calls per route, wall time, the lower bound (calls ÷ rate) and their ratio, 429s met
//! and failed changes; and the planner's CPU time and peak memory at 1M × 1M users.
//!
//! ```sh
//! cargo run --release --example bench -- sync 10000          # 10k users, 16 req/s, burst 50, 20 ms
//! cargo run --release --example bench -- sync 100000 --plan-only --skip-per-user
//! cargo run --release --example bench -- sync 100000 --skip-per-user --create-via auto
//! cargo run --release --example bench -- sync 10000 --reset-reading bucket-full --share 1
//! cargo run --release --example bench -- planner 1000000     # pure planner, no I/O
//! ```
//!
//! `--share S` is the share of the tenant's budget the sync may take (AUTH0_RATE_SHARE,
//! default 0.5): the lower bound is then calls ÷ (rate × S), the budget actually
//! allowed. `--reset-reading next-token|bucket-full` picks the emulator's meaning of
//! `x-ratelimit-reset`; `--skew SECS` offsets the tenant's clock; `--fault-429 P
//! --fault-503 P` inject faults (the ratio then means little: count the failures).
//!
//! Generated data: N source users; the tenant holds the same users with 5% missing on
//! each side and 10% with changed roles, 10 roles, plus 2% users of another connection.
//! Not a test: timings are noisy; it prints ratios and call counts from one run.

use auth0_emulator::state::{ClientApp, StateConnection, StateRole, StateUser};
use auth0_emulator::{Emulator, EmulatorOptions, Faults, RateLimit, ResetReading, TenantState};
use auth0_sync::apply::{ApplyOptions, CreateVia};
use auth0_sync::auth0::Auth0Client;
use auth0_sync::commands::plan::{PlanArgs, make_plan};
use auth0_sync::model::{DesiredState, DesiredUser, NameSet, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::planner::{DeleteCap, Policy};
use auth0_sync::settings::{SourceArgs, TenantArgs};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const DB: &str = "Username-Password-Authentication";
const ROLES: usize = 10;

fn role_name(i: usize) -> String {
    format!("role-{i:02}")
}

/// Roles of source user `i`: one or two of the ten.
fn roles_of(i: usize) -> Vec<usize> {
    if i.is_multiple_of(3) { vec![i % ROLES, (i / 7) % ROLES] } else { vec![i % ROLES] }
}

/// In the tenant, 10% of users hold a different role set.
fn tenant_roles_of(i: usize) -> Vec<usize> {
    if i % 10 == 3 { vec![(i + 1) % ROLES] } else { roles_of(i) }
}

fn email(i: usize) -> String {
    format!("user{i:07}@bench.example")
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn planner_bench(n: usize) {
    let rss0 = peak_rss_mib();
    let mut desired = DesiredState::default();
    for i in 0..n {
        if i % 20 == 0 {
            continue; // 5% missing from the source
        }
        let e = email(i);
        let roles = roles_of(i).into_iter().map(role_name).collect();
        desired.users.insert(e.clone(), DesiredUser { email: e, roles, ..Default::default() });
    }
    desired.rows = n as u64;
    let mut tenant = TenantSnapshot::default();
    for r in 0..ROLES {
        tenant.roles.insert(format!("rol_{r:016}"), TenantRole { id: format!("rol_{r:016}"), name: role_name(r) });
    }
    for i in 0..n {
        if i % 20 == 1 {
            continue; // 5% missing from the tenant
        }
        let id = format!("auth0|{i:024}");
        let role_ids: NameSet = tenant_roles_of(i).into_iter().map(|r| format!("rol_{r:016}")).collect();
        tenant.users.insert(
            id.clone(),
            TenantUser {
                user_id: id,
                email: Some(email(i)),
                connection: DB.into(),
                blocked: false,
                blocked_by_sync: false,
                role_ids,
                linked_to: None,
                synced: Default::default(),
            },
        );
    }
    let built = peak_rss_mib();
    let policy = Policy { connection: DB.into(), delete_cap: DeleteCap::Unlimited, ..Default::default() };
    let t = Instant::now();
    let cs = auth0_sync::planner::plan(&desired, &tenant, &policy).expect("plan");
    let elapsed = t.elapsed();
    let peak = peak_rss_mib();
    println!(
        "| planner | {n} × {n} users | {} changes | {:.2} s | peak RSS {:.0} MiB (inputs {:.0} MiB, planning +{:.0} MiB) |",
        cs.changes.len(),
        elapsed.as_secs_f64(),
        peak,
        built - rss0,
        peak - built
    );
}

fn tenant_state(n: usize) -> TenantState {
    let mut s = TenantState {
        clients: vec![ClientApp {
            client_id: "bench".into(),
            client_secret: "bench-secret".into(),
            scopes: auth0_sync::commands::check::REQUIRED_SCOPES.iter().map(|s| s.to_string()).collect(),
        }],
        connections: vec![
            StateConnection { id: "con_BenchDatabase001".into(), name: DB.into(), ..Default::default() },
            StateConnection {
                id: "con_BenchGoogle00001".into(),
                name: "google-oauth2".into(),
                strategy: "google-oauth2".into(),
                ..Default::default()
            },
        ],
        roles: (0..ROLES)
            .map(|r| StateRole { id: format!("rol_Bench{r:011}"), name: role_name(r), description: String::new() })
            .collect(),
        users: Vec::new(),
    };
    for i in 0..n {
        if i % 20 == 1 {
            continue;
        }
        s.users.push(StateUser {
            user_id: format!("auth0|{i:024x}"),
            email: Some(email(i)),
            email_verified: true,
            connection: DB.into(),
            roles: tenant_roles_of(i)
                .into_iter()
                .map(|r| format!("rol_Bench{r:011}"))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            ..Default::default()
        });
    }
    for i in 0..n / 50 {
        s.users.push(StateUser {
            user_id: format!("google-oauth2|{i:021}"),
            email: Some(format!("social{i}@bench.example")),
            connection: "google-oauth2".into(),
            ..Default::default()
        });
    }
    s
}

fn source_db(n: usize, path: &std::path::Path) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE staff(email TEXT, role TEXT);").unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx.prepare("INSERT INTO staff VALUES (?1, ?2)").unwrap();
        for i in 0..n {
            if i % 20 == 0 {
                continue;
            }
            for r in roles_of(i).into_iter().collect::<BTreeSet<_>>() {
                st.execute((email(i), role_name(r))).unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0))).filter(|(_, v)| *v > 0).collect()
}

fn report(
    label: &str,
    calls: &BTreeMap<String, u64>,
    status: &BTreeMap<String, u64>,
    secs: f64,
    extra: &str,
    rate: f64,
) {
    let total: u64 = calls.values().sum();
    let bound = total as f64 / rate;
    println!(
        "| {label} | {total} calls | {secs:.1} s | lower bound {bound:.1} s | ratio {:.2} | 429s: {} | {extra} |",
        if bound > 0.0 { secs / bound } else { 0.0 },
        status.get("429").copied().unwrap_or(0)
    );
    for (route, n) in calls {
        println!("|   | {route}: {n} | | | | | |");
    }
}

struct SyncOpts {
    plan_only: bool,
    skip_per_user: bool,
    rate: f64,
    burst: u32,
    latency_ms: u64,
    create_via: CreateVia,
    share: f64,
    reset_reading: ResetReading,
    skew: i64,
    faults: Option<Faults>,
}

async fn sync_bench(n: usize, o: SyncOpts) {
    let SyncOpts { plan_only, skip_per_user, rate, burst, latency_ms, create_via, share, reset_reading, skew, faults } =
        o;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hr.sqlite");
    source_db(n, &db);
    let opts = EmulatorOptions {
        rate_limit: Some(RateLimit { burst, per_second: rate }),
        latency_ms,
        reset_reading,
        clock_skew_secs: skew,
        faults,
        ..Default::default()
    };
    let emulator = Emulator::start_with("127.0.0.1:0".parse().unwrap(), tenant_state(n), None, opts).await.unwrap();
    let args = PlanArgs {
        source: SourceArgs {
            users_db_query: Some("SELECT email, role FROM staff".into()),
            users_db_url: Some(format!("sqlite:{}", db.display())),
            ..Default::default()
        },
        tenant: TenantArgs {
            auth0_url: Some(emulator.base_url()),
            auth0_client_id: Some("bench".into()),
            auth0_client_secret: Some("bench-secret".into()),
            auth0_connection: Some(DB.into()),
            auth0_rate_share: Some(share.to_string()),
            ..Default::default()
        },
        safety: auth0_sync::settings::args::SafetyArgs { allow_mass_delete: true, ..Default::default() },
        concurrency: 8,
        ..Default::default()
    };
    let settings = args.resolve().expect("bench settings");
    let allowed = rate * share;
    println!(
        "\n{n} source users, tenant at {rate} req/s burst {burst}, {latency_ms} ms latency, reset = {reset_reading:?}, clock skew {skew} s; the sync may take {share} of it: {allowed} req/s\n"
    );
    println!("| phase | calls | wall | lower bound | ratio | 429s | notes |\n|---|---|---|---|---|---|---|");
    let (c0, s0) = (emulator.request_counts(), emulator.status_counts());
    let t = Instant::now();
    let plan = make_plan(&settings).await.expect("plan");
    let secs = t.elapsed().as_secs_f64();
    let s = &plan.changeset.summary;
    report(
        "plan",
        &diff(&emulator.request_counts(), &c0),
        &diff(&emulator.status_counts(), &s0),
        secs,
        &format!("{} creates, {} role updates, {} deletes", s.create_user, s.update_roles, s.delete_user),
        allowed,
    );
    // The same snapshot with the per-user role strategy, for comparison.
    if skip_per_user {
        println!(
            "| plan (per-user roles) | skipped: about {} calls, {:.0} s at {allowed} req/s | | | | | |",
            plan.changeset.summary.connection_users,
            f64::from(plan.changeset.summary.connection_users) / allowed
        );
    }
    let (c0, s0) = (emulator.request_counts(), emulator.status_counts());
    let t = Instant::now();
    let mut per_user = settings.clone();
    per_user.role_lookup = auth0_sync::auth0::RoleLookup::PerUser;
    if !skip_per_user {
        let again = make_plan(&per_user).await.expect("plan per user");
        assert_eq!(again.changeset.changes, plan.changeset.changes, "both strategies plan the same changes");
        report(
            "plan (per-user roles)",
            &diff(&emulator.request_counts(), &c0),
            &diff(&emulator.status_counts(), &s0),
            t.elapsed().as_secs_f64(),
            "same plan",
            allowed,
        );
    }
    if !plan_only {
        let path = dir.path().join("plan.json");
        plan.write_new(&path, false).unwrap();
        let auth0 = settings.tenant.auth0.clone();
        let client = Auth0Client::connect(&auth0).await.unwrap();
        let (c0, s0) = (emulator.request_counts(), emulator.status_counts());
        let t = Instant::now();
        let opts = ApplyOptions { concurrency: 8, create_via, ..Default::default() };
        let report_ =
            auth0_sync::apply::apply(&client, &path, &plan, &opts, &tokio_util::sync::CancellationToken::new())
                .await
                .expect("apply");
        let secs = t.elapsed().as_secs_f64();
        report(
            "apply",
            &diff(&emulator.request_counts(), &c0),
            &diff(&emulator.status_counts(), &s0),
            secs,
            &format!(
                "{} failed changes; measured tenant rate {:.2} req/s, pace {:.2}",
                report_.failed(),
                client.limiter().measured_rate(auth0_sync::auth0::Group::WriteUsers).unwrap_or(0.0),
                client.limiter().pace(auth0_sync::auth0::Group::WriteUsers).unwrap_or(0.0)
            ),
            allowed,
        );
    }
    emulator.shutdown().await.unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value =
        |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).and_then(|v| v.parse::<f64>().ok());
    match args.first().map(String::as_str) {
        Some("planner") => planner_bench(num(1, 1_000_000)),
        Some("sync") => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let create_via = match args.iter().position(|a| a == "--create-via").and_then(|i| args.get(i + 1)) {
                None => CreateVia::Api,
                Some(v) => match <CreateVia as clap::ValueEnum>::from_str(v, true) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("--create-via: {e}");
                        std::process::exit(2);
                    }
                },
            };
            let reset_reading = match args.iter().position(|a| a == "--reset-reading").and_then(|i| args.get(i + 1)) {
                None => ResetReading::NextToken,
                Some(v) => match <ResetReading as clap::ValueEnum>::from_str(v, true) {
                    Ok(r) => r,
                    Err(e) => {
                        eprintln!("--reset-reading: {e}");
                        std::process::exit(2);
                    }
                },
            };
            rt.block_on(sync_bench(
                num(1, 10_000),
                SyncOpts {
                    plan_only: flag("--plan-only"),
                    skip_per_user: flag("--skip-per-user"),
                    rate: value("--rate").unwrap_or(16.0),
                    burst: value("--burst").unwrap_or(50.0) as u32,
                    latency_ms: value("--latency-ms").unwrap_or(20.0) as u64,
                    create_via,
                    share: value("--share").unwrap_or(auth0_sync::settings::args::DEFAULT_RATE_SHARE),
                    reset_reading,
                    skew: value("--skew").unwrap_or(0.0) as i64,
                    faults: (value("--fault-429").is_some() || value("--fault-503").is_some()).then(|| Faults {
                        rate_429: value("--fault-429").unwrap_or(0.0),
                        rate_503: value("--fault-503").unwrap_or(0.0),
                        seed: value("--seed").unwrap_or(7.0) as u64,
                    }),
                },
            ));
        }
        _ => {
            eprintln!(
                "usage: bench planner [N] | bench sync [N] [--plan-only] [--skip-per-user] [--rate R] [--burst B] [--latency-ms L] [--create-via api|import|auto] [--share S] [--reset-reading next-token|bucket-full] [--skew SECS] [--fault-429 P] [--fault-503 P] [--seed N]"
            )
        }
    }
}
