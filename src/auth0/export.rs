//! Reading a users-export file. It lives behind a pre-signed link that expires after
//! 60 s (a new one comes with every `GET /jobs/{id}`), may be large, and is gzip'd
//! NDJSON in one or several concatenated gzip members, served with or without
//! `Content-Encoding: gzip`. So the download uses its own HTTP client without automatic
//! decompression and without a total timeout (only connect and read timeouts), streams
//! into an unnamed temporary file, and the parser sniffs the gzip magic bytes (plain
//! NDJSON is read as it is) and reads every member.

use super::Auth0Error;
use super::client::Auth0Client;
use super::transport::decode_error;
use super::wire::User;
use reqwest::{Method, Url};
use std::io::{BufRead, BufReader, Read, Seek, Write};

/// Times an expired or refused download link is replaced by fetching the job again.
pub(super) const LINK_REFRESHES: u32 = 3;

/// Why a download did not give the file.
enum Failure {
    /// Worth trying with a fresh link (refused, expired, or cut off).
    Retry(String),
    Fatal(Auth0Error),
}

impl Auth0Client {
    /// Downloads and parses the file of the completed export job `job` (`id`),
    /// fetching the job again for a fresh link when one is refused or expired.
    pub(super) async fn read_export(&self, id: &str, mut job: serde_json::Value) -> Result<Vec<User>, Auth0Error> {
        let mut refreshes = 0;
        loop {
            let location = job["location"].as_str().map(str::to_owned).ok_or_else(|| {
                decode_error(&Method::GET, "/api/v2/jobs/{id}", "completed export job without a location".into())
            })?;
            match self.download(&location).await {
                Ok(file) => {
                    return tokio::task::spawn_blocking(move || parse_export(file)).await.map_err(|e| {
                        decode_error(&Method::GET, "(export file)", format!("the parser stopped: {e}"))
                    })?;
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(why)) if refreshes < LINK_REFRESHES => {
                    refreshes += 1;
                    tracing::info!(job = id, refresh = refreshes, reason = %why, "export download failed; fetching the job again for a fresh link");
                    job = self.job(id).await?;
                }
                Err(Failure::Retry(why)) => {
                    return Err(Auth0Error::Api {
                        method: "GET".into(),
                        path: "(export download)".into(),
                        status: 0,
                        message: format!("the export file could not be downloaded ({why}), also with {LINK_REFRESHES} fresh links"),
                        error_code: None,
                        help: "check that this machine can reach the export location (an S3 URL of Auth0's, outside the tenant's domain), then run plan again".into(),
                    });
                }
            }
        }
    }

    /// GET of a pre-signed URL (no Authorization header) into an unnamed temp file.
    async fn download(&self, location: &str) -> Result<std::fs::File, Failure> {
        let origin_only = |u: &str| Url::parse(u).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        if self.cancel.is_cancelled() {
            return Err(Failure::Fatal(Auth0Error::Cancelled {
                method: "GET".into(),
                path: "(export download)".into(),
            }));
        }
        let mut resp = match self.inner.download.get(location).send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => {
                return Err(Failure::Fatal(Auth0Error::Network {
                    url: origin_only(location),
                    message: format!("export download: {}", e.without_url()),
                }));
            }
            Err(e) => return Err(Failure::Retry(e.without_url().to_string())),
        };
        let status = resp.status();
        if !status.is_success() {
            // An expired link answers 403 (S3 AccessDenied "Request has expired").
            return Err(Failure::Retry(format!("the link answered {status}")));
        }
        let io = |e: std::io::Error| {
            Failure::Fatal(decode_error(&Method::GET, "(export file)", format!("cannot write a temporary file: {e}")))
        };
        let mut file = tempfile::tempfile().map_err(io)?;
        let mut bytes = 0u64;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    bytes += chunk.len() as u64;
                    file.write_all(&chunk).map_err(io)?;
                }
                Ok(None) => break,
                Err(e) => return Err(Failure::Retry(format!("cut off after {bytes} bytes: {}", e.without_url()))),
            }
        }
        file.flush().map_err(io)?;
        file.rewind().map_err(io)?;
        tracing::debug!(bytes, "downloaded the export file");
        Ok(file)
    }
}

/// Parses an export file: gzip (any number of members) when it starts with the gzip
/// magic bytes, plain NDJSON otherwise; one user per non-blank line.
pub(super) fn parse_export<R: Read + Seek>(mut file: R) -> Result<Vec<User>, Auth0Error> {
    let bad = |m: String| decode_error(&Method::GET, "(export file)", m);
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(bad(format!("cannot read it: {e}"))),
        }
    }
    file.rewind().map_err(|e| bad(format!("cannot read it: {e}")))?;
    let gzip = got == 2 && magic == [0x1f, 0x8b];
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(BufReader::new(file))))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut users = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| {
            bad(format!("line {}: {} ({e})", n + 1, if gzip { "broken gzip data" } else { "not text" }))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let user: User =
            super::wire::from_slice_with_path(line.as_bytes()).map_err(|e| bad(format!("line {}: {e}", n + 1)))?;
        users.push(user);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn lines(range: std::ops::Range<usize>) -> String {
        range
            .map(|i| {
                format!(
                    "{{\"user_id\":\"auth0|{i}\",\"email\":\"u{i}@x.io\",\"identities\":[{{\"connection\":\"DB\",\"provider\":\"auth0\"}}]}}\n"
                )
            })
            .collect()
    }

    fn gzip(s: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_gzip_member_is_read() {
        // Three members, split mid-way as a chunked writer would.
        let mut file = gzip(&lines(0..500));
        file.extend(gzip(&lines(500..1000)));
        file.extend(gzip(&lines(1000..1500)));
        let users = parse_export(Cursor::new(file)).unwrap();
        assert_eq!(users.len(), 1500);
        assert_eq!(users[1499].user_id, "auth0|1499");
    }

    #[test]
    fn plain_ndjson_and_empty_files_are_read_too() {
        let users = parse_export(Cursor::new(lines(0..3).into_bytes())).unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users[0].connection(), Some("DB"));
        assert!(parse_export(Cursor::new(Vec::new())).unwrap().is_empty());
        assert!(parse_export(Cursor::new(gzip(""))).unwrap().is_empty());
    }

    #[test]
    fn broken_lines_name_their_number() {
        let mut text = lines(0..2);
        text.push_str("{\"email\":\"no-id@x.io\"}\n");
        let e = parse_export(Cursor::new(gzip(&text))).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("user_id"), "{e}");
        let mut truncated = gzip(&lines(0..50));
        truncated.truncate(truncated.len() / 2);
        let e = parse_export(Cursor::new(truncated)).unwrap_err().to_string();
        assert!(e.contains("gzip") || e.contains("line"), "{e}");
    }
}
