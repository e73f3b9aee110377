//! The tenant's clock as seen from here: `x-ratelimit-reset` and date-valued
//! `Retry-After` are instants on Auth0's clock, so a client whose clock runs a few
//! seconds ahead would read every reset as past (and retry at once), one behind would
//! wait too long. Every answer carries `Date`; the offset between it and the local
//! clock turns those instants into waits on ours.

use reqwest::header::HeaderMap;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Offsets kept to estimate from (the most recent ones).
const SAMPLES: usize = 64;

/// Estimates `server clock − local clock` from the `Date` headers of answers.
///
/// `Date` has whole seconds and is written before the answer travels, so each answer
/// gives `offset ≥ Date − received` (on the local clock). The largest of the recent
/// lower bounds is the estimate: it is never ahead of the server by more than the
/// answer's travel time, so waits computed with it are never too short, and at most
/// about a second too long.
#[derive(Debug, Default)]
pub struct ServerClock {
    samples: Mutex<VecDeque<f64>>,
}

impl ServerClock {
    /// Learns from an answer's `Date` header, received at `received` (local clock).
    pub fn observe(&self, headers: &HeaderMap, received: SystemTime) {
        let Some(date) = headers.get(reqwest::header::DATE).and_then(|v| v.to_str().ok()) else {
            return;
        };
        let Some(server) = http_date_secs(date) else {
            return;
        };
        let Some(local) = unix_secs(received) else {
            return;
        };
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() == SAMPLES {
            s.pop_front();
        }
        s.push_back(server - local);
    }

    /// `server − local` in seconds; 0 before any `Date` was seen.
    pub fn offset(&self) -> f64 {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().copied().fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x)))).unwrap_or(0.0)
    }

    /// The server's time now, in UNIX seconds.
    pub fn server_now(&self) -> f64 {
        unix_secs(SystemTime::now()).unwrap_or(0.0) + self.offset()
    }
}

fn unix_secs(t: SystemTime) -> Option<f64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) as UNIX seconds.
pub fn http_date_secs(raw: &str) -> Option<f64> {
    let at = chrono::DateTime::parse_from_rfc2822(raw.trim()).ok()?;
    Some(at.timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::Duration;

    fn date(secs: u64) -> HeaderMap {
        let t = chrono::DateTime::<chrono::Utc>::from(UNIX_EPOCH + Duration::from_secs(secs));
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_str(&t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).unwrap());
        h
    }

    #[test]
    fn offset_is_the_largest_lower_bound() {
        let c = ServerClock::default();
        assert_eq!(c.offset(), 0.0);
        // Server 30 s ahead; answers received 0.1 s and 0.9 s into a server second.
        let local = |s: f64| UNIX_EPOCH + Duration::from_secs_f64(s);
        c.observe(&date(1_000_030), local(1_000_000.9));
        assert!((c.offset() - 29.1).abs() < 1e-6, "{}", c.offset());
        c.observe(&date(1_000_031), local(1_000_001.1));
        assert!((c.offset() - 29.9).abs() < 1e-6, "{}", c.offset());
        assert!(c.offset() <= 30.0, "never ahead of the server");
        // A server behind the client gives a negative offset.
        let behind = ServerClock::default();
        behind.observe(&date(999_700), local(1_000_000.2));
        assert!((behind.offset() + 300.2).abs() < 1e-6, "{}", behind.offset());
    }

    #[test]
    fn answers_without_a_date_teach_nothing() {
        let c = ServerClock::default();
        c.observe(&HeaderMap::new(), SystemTime::now());
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_static("yesterday"));
        c.observe(&h, SystemTime::now());
        assert_eq!(c.offset(), 0.0);
    }
}
