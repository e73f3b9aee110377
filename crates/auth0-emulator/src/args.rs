//! Command-line arguments of `auth0-sync emulator`, kept with the emulator so that its
//! knobs and their defaults live in one place (the CLI only flattens them), and their
//! translation into [`EmulatorOptions`].

use crate::lifecycle::LifecycleArgs;
use crate::{EmulatorOptions, EndpointBuckets, Faults, RateLimit, ResetReading, RoleBatch};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Run a local Auth0 tenant emulator.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct EmulatorArgs {
    /// Tenant state file (JSON); loaded at start, saved on SIGINT/SIGTERM when the
    /// tenant changed.
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Token bucket refill rate (requests per second); needs --burst. Off by default.
    #[arg(long, value_name = "F", requires = "burst", value_parser = positive_f64)]
    pub rate: Option<f64>,
    /// Token bucket size (requests at once); needs --rate.
    #[arg(long, value_name = "N", requires = "rate", value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: Option<u32>,
    /// Sleep this many milliseconds before answering each request.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub latency_ms: u64,
    /// Share (0..=1) of requests answered 429 by fault injection.
    #[arg(long = "fault-429", value_name = "SHARE", default_value_t = 0.0, value_parser = share)]
    pub fault_429: f64,
    /// Share (0..=1) of requests answered 503 by fault injection.
    #[arg(long = "fault-503", value_name = "SHARE", default_value_t = 0.0, value_parser = share)]
    pub fault_503: f64,
    /// Seed of the fault injection sequence.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// On exit, write the request counts (as served by `GET /__emulator/stats`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub counts_file: Option<PathBuf>,
    /// Lifetime of issued tokens, in seconds (Auth0: 86400).
    #[arg(long, value_name = "SECS", default_value_t = 86400, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_lifetime: u64,
    /// Polls of `GET /api/v2/jobs/{id}` a job answers as not yet completed.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub job_polls: u32,
    /// Never write the state file (it is only read).
    #[arg(long)]
    pub no_save: bool,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    /// Seconds a job takes (counted down in `time_left_seconds`); 0: --job-polls decides.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub job_duration: u64,
    /// Seconds an export's download link stays valid (Auth0: 60); each job poll gives a new one.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub export_link_lifetime: u64,
    /// Gzip members an export file is written in.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub export_gzip_members: u32,
    /// Serve export files with `Content-Encoding: gzip`.
    #[arg(long)]
    pub export_content_encoding: bool,
    /// Seconds the search index (`GET /users`, and exports) lags behind the tenant.
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = non_negative_f64)]
    pub index_lag: f64,
    /// With --index-lag: exports read the tenant as it is, not the lagging index.
    #[arg(long)]
    pub export_from_primary: bool,
    /// How `POST /roles/{id}/users` answers a batch with one bad user.
    #[arg(long, value_name = "READING", value_enum, default_value_t = RoleBatch::RejectAll)]
    pub role_batch: RoleBatch,
    /// Seconds the tenant's `Date` and `x-ratelimit-reset` are ahead (or, negative, behind).
    #[arg(long, value_name = "SECS", default_value_t = 0, allow_hyphen_values = true)]
    pub clock_skew: i64,
    /// What `x-ratelimit-reset` means.
    #[arg(long, value_name = "READING", value_enum, default_value_t = ResetReading::NextToken)]
    pub reset_reading: ResetReading,
    /// Per-endpoint buckets of the self-service plans (read users 40 / 500 per minute, ...),
    /// refilled SPEED times as fast (1: the plans' rates).
    #[arg(long, value_name = "SPEED", num_args = 0..=1, default_missing_value = "1", value_parser = positive_f64)]
    pub endpoint_buckets: Option<f64>,
    /// `Retry-After` seconds of injected 429s; 0: every injected 429 says `Retry-After: 0`.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    pub fault_retry_after: u32,
}

fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{s:?} is not a share between 0 and 1")),
    }
}

impl EmulatorArgs {
    /// `--state FILE --listen ADDR` with every other knob at its default (off).
    pub fn new(state: PathBuf, listen: SocketAddr) -> Self {
        EmulatorArgs {
            state,
            listen,
            rate: None,
            burst: None,
            latency_ms: 0,
            fault_429: 0.0,
            fault_503: 0.0,
            seed: 0,
            counts_file: None,
            token_lifetime: 86400,
            job_polls: 1,
            no_save: false,
            lifecycle: LifecycleArgs::default(),
            job_duration: 0,
            export_link_lifetime: 60,
            export_gzip_members: 1,
            export_content_encoding: false,
            index_lag: 0.0,
            export_from_primary: false,
            role_batch: RoleBatch::RejectAll,
            clock_skew: 0,
            reset_reading: ResetReading::NextToken,
            endpoint_buckets: None,
            fault_retry_after: 1,
        }
    }

    /// The run options these arguments ask for (defaults for the rest).
    pub fn options(&self) -> EmulatorOptions {
        let rate_limit = match (self.rate, self.burst) {
            (Some(per_second), Some(burst)) => Some(RateLimit { burst, per_second }),
            _ => None,
        };
        let faults = (self.fault_429 > 0.0 || self.fault_503 > 0.0).then_some(Faults {
            rate_429: self.fault_429,
            rate_503: self.fault_503,
            seed: self.seed,
        });
        EmulatorOptions {
            token_lifetime: Duration::from_secs(self.token_lifetime),
            rate_limit,
            latency_ms: self.latency_ms,
            faults,
            counts_file: self.counts_file.clone(),
            job_pending_polls: self.job_polls,
            lifecycle: self.lifecycle.options(),
            job_duration: Duration::from_secs(self.job_duration),
            export_url_lifetime: Duration::from_secs(self.export_link_lifetime),
            export_gzip_members: self.export_gzip_members,
            export_content_encoding: self.export_content_encoding,
            index_lag: Duration::from_secs_f64(self.index_lag),
            export_from_index: !self.export_from_primary,
            role_batch: self.role_batch,
            clock_skew_secs: self.clock_skew,
            reset_reading: self.reset_reading,
            endpoint_buckets: self.endpoint_buckets.map(|speed| EndpointBuckets { speed }),
            fault_retry_after: self.fault_retry_after,
            ..EmulatorOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn parse(argv: &[&str]) -> Result<EmulatorArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("emulator").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_are_off() {
        let a = parse(&["--state", "t.json"]).expect("parses");
        assert_eq!(a.listen, "127.0.0.1:0".parse().unwrap());
        let o = a.options();
        assert_eq!(o.rate_limit, None);
        assert_eq!(o.faults, None);
        assert_eq!(o.latency_ms, 0);
        assert_eq!(o.token_lifetime, Duration::from_secs(86400));
        assert_eq!(o.counts_file, None);
        assert_eq!(o, EmulatorOptions { counts_file: None, ..EmulatorOptions::default() }, "every knob off");
    }

    #[test]
    fn the_stricter_readings_map_to_options() {
        let a = parse(&[
            "--state",
            "t.json",
            "--job-duration",
            "300",
            "--export-link-lifetime",
            "5",
            "--export-gzip-members",
            "3",
            "--export-content-encoding",
            "--index-lag",
            "2.5",
            "--export-from-primary",
            "--role-batch",
            "partial",
            "--clock-skew",
            "-300",
            "--reset-reading",
            "bucket-full",
            "--endpoint-buckets",
            "--fault-retry-after",
            "0",
        ])
        .expect("parses");
        let o = a.options();
        assert_eq!(o.job_duration, Duration::from_secs(300));
        assert_eq!(o.export_url_lifetime, Duration::from_secs(5));
        assert_eq!(o.export_gzip_members, 3);
        assert!(o.export_content_encoding);
        assert_eq!(o.index_lag, Duration::from_millis(2500));
        assert!(!o.export_from_index);
        assert_eq!(o.role_batch, RoleBatch::Partial);
        assert_eq!(o.clock_skew_secs, -300);
        assert_eq!(o.reset_reading, ResetReading::BucketFull);
        assert_eq!(o.endpoint_buckets, Some(EndpointBuckets { speed: 1.0 }));
        assert_eq!(o.fault_retry_after, 0);
        let fast = parse(&["--state", "t", "--endpoint-buckets", "10"]).unwrap().options();
        assert_eq!(fast.endpoint_buckets, Some(EndpointBuckets { speed: 10.0 }));
    }

    #[test]
    fn every_knob_maps_to_an_option() {
        let a = parse(&[
            "--state",
            "t.json",
            "--listen",
            "127.0.0.1:4000",
            "--rate",
            "16",
            "--burst",
            "50",
            "--latency-ms",
            "5",
            "--fault-429",
            "0.1",
            "--fault-503",
            "0.05",
            "--seed",
            "7",
            "--counts-file",
            "c.json",
            "--token-lifetime",
            "60",
        ])
        .expect("parses");
        let o = a.options();
        assert_eq!(o.rate_limit, Some(RateLimit { burst: 50, per_second: 16.0 }));
        assert_eq!(o.faults, Some(Faults { rate_429: 0.1, rate_503: 0.05, seed: 7 }));
        assert_eq!(o.latency_ms, 5);
        assert_eq!(o.counts_file, Some(PathBuf::from("c.json")));
        assert_eq!(o.token_lifetime, Duration::from_secs(60));
    }

    #[test]
    fn rate_and_burst_go_together_and_shares_are_bounded() {
        assert!(parse(&["--state", "t", "--rate", "2"]).is_err());
        assert!(parse(&["--state", "t", "--burst", "2"]).is_err());
        assert!(parse(&["--state", "t", "--rate", "0", "--burst", "2"]).is_err());
        assert!(parse(&["--state", "t", "--rate", "1", "--burst", "0"]).is_err());
        assert!(parse(&["--state", "t", "--fault-429", "1.5"]).is_err());
        assert!(parse(&[]).is_err(), "--state is required");
    }
}
