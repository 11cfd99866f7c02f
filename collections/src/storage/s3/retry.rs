//! S3 failures sorted into this crate's errors (missing bucket, missing key, access denied,
//! network failure, server unavailable, other), and the bounded retry with exponential backoff of the transient
//! ones (server errors, throttling, connection failures).

use crate::Error;
use s3::error::S3Error;
use std::future::Future;
use std::time::Duration;

/// What one failed request means.
#[derive(Debug)]
pub enum Failure {
    /// Worth another try (5xx, 429, connection refused/reset, time-out).
    Transient(Error),
    /// Final.
    Fatal(Error),
}

/// The `<Code>` of an S3 XML error body.
fn code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let len = body[start..].find("</Code>")?;
    Some(&body[start..start + len])
}

/// Sorts a rust-s3 error about `url`; `attempts` is how many requests were made so far.
pub fn classify(e: S3Error, url: &str, attempts: u32) -> Failure {
    let url = url.to_string();
    match e {
        S3Error::HttpFailWithBody(status, body) => {
            let c = code(&body).unwrap_or("");
            let message = || match c {
                "" => format!("HTTP {status}"),
                c => format!("HTTP {status} {c}"),
            };
            match (status, c) {
                (_, "NoSuchBucket") => Failure::Fatal(Error::NoSuchBucket { url }),
                (_, "NoSuchKey") | (404, "") => Failure::Fatal(Error::NoSuchKey { url }),
                (401 | 403, _)
                | (_, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") => {
                    Failure::Fatal(Error::AccessDenied {
                        url,
                        message: message(),
                    })
                }
                (429 | 500..=599, _) => Failure::Transient(Error::Unavailable {
                    url,
                    attempts,
                    message: message(),
                }),
                _ => Failure::Fatal(Error::Storage {
                    url,
                    message: message(),
                }),
            }
        }
        S3Error::Reqwest(e) => {
            let mut message = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                message = format!("{message}: {s}");
                src = s.source();
            }
            Failure::Transient(Error::Network {
                url,
                attempts,
                message,
            })
        }
        S3Error::Io(e) => Failure::Transient(Error::Network {
            url,
            attempts,
            message: e.to_string(),
        }),
        other => Failure::Fatal(Error::Storage {
            url,
            message: other.to_string(),
        }),
    }
}

/// Delay before retry `n` (1-based): 100 ms doubling, capped at 2 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis((100u64 << n.saturating_sub(1).min(5)).min(2000))
}

/// Runs `op` until it succeeds, fails for good, or has been tried `1 + retries` times.
pub async fn with_retry<T, F, Fut>(url: &str, retries: u32, mut op: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, S3Error>>,
{
    let mut attempts = 0;
    loop {
        attempts += 1;
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => match classify(e, url, attempts) {
                Failure::Transient(e) if attempts <= retries => {
                    tracing::debug!("retrying after: {e}");
                    tokio::time::sleep(backoff(attempts)).await;
                }
                Failure::Transient(e) | Failure::Fatal(e) => return Err(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, code: &str) -> Error {
        let body = format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code></Error>");
        match classify(S3Error::HttpFailWithBody(status, body), "s3://b/k", 1) {
            Failure::Transient(e) | Failure::Fatal(e) => e,
        }
    }

    #[test]
    fn status_and_code_pick_the_variant() {
        assert!(matches!(
            http(404, "NoSuchBucket"),
            Error::NoSuchBucket { .. }
        ));
        assert!(matches!(http(404, "NoSuchKey"), Error::NoSuchKey { .. }));
        assert!(matches!(http(404, ""), Error::NoSuchKey { .. }));
        assert!(matches!(
            http(403, "InvalidAccessKeyId"),
            Error::AccessDenied { .. }
        ));
        assert!(matches!(http(403, ""), Error::AccessDenied { .. }));
        assert!(matches!(http(400, "InvalidRange"), Error::Storage { .. }));
        let transient = |s| {
            matches!(
                classify(S3Error::HttpFailWithBody(s, String::new()), "u", 1),
                Failure::Transient(_)
            )
        };
        assert!(transient(503) && transient(500) && transient(429) && !transient(400));
        assert!(http(404, "NoSuchKey").to_string().contains("s3://b/k"));
    }

    fn server_error(status: u16) -> S3Error {
        S3Error::HttpFailWithBody(status, "<Error><Code>SlowDown</Code></Error>".into())
    }

    #[tokio::test]
    async fn transient_failures_are_retried_a_bounded_number_of_times_and_fatal_ones_not() {
        let mut calls = 0;
        let ok = with_retry("s3://b/k", 4, || {
            calls += 1;
            let n = calls;
            async move {
                if n < 3 {
                    Err(server_error(503))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!((ok.unwrap(), calls), (7, 3));
        calls = 0;
        let gave_up: Result<u8, Error> = with_retry("s3://b/k", 2, || {
            calls += 1;
            async { Err(server_error(500)) }
        })
        .await;
        let gave_up = gave_up.unwrap_err();
        assert!(matches!(gave_up, Error::Unavailable { attempts: 3, .. }));
        let e = gave_up.to_string();
        assert_eq!(calls, 3, "1 + 2 retries");
        assert_eq!(
            e,
            "s3://b/k: object store unavailable after 3 attempts: HTTP 500 SlowDown"
        );
        calls = 0;
        let fatal: Result<u8, Error> = with_retry("s3://b/k", 4, || {
            calls += 1;
            async {
                Err(S3Error::HttpFailWithBody(
                    404,
                    "<Code>NoSuchKey</Code>".into(),
                ))
            }
        })
        .await;
        assert!(matches!(fatal, Err(Error::NoSuchKey { .. })));
        assert_eq!(calls, 1, "a missing key is not retried");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_millis(2000));
    }
}
