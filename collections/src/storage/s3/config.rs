//! How to reach S3: endpoint, region, addressing and credentials, from explicit
//! [`S3Options`] or the usual `AWS_*` environment variables; the rust-s3 bucket handles
//! built from them (cached, so connections are reused) and the small tokio runtime that
//! runs their requests for the synchronous callers (client planning, worker tasks).

use crate::{Error, Result};
use s3::creds::Credentials;
use s3::{Bucket, Region};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Connection settings of the S3 backend.
///
/// [`S3Options::from_env`] reads `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`),
/// `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`; without an access key requests are anonymous (public buckets).
/// Explicit options set with [`S3Options::set_current`] take the place of the environment in
/// that process. To hand options to the workers, give them to a reader or writer inside
/// [`StorageOptions`](crate::storage::StorageOptions): they travel with its tasks.
///
/// `Debug` shows the access key id but never the secret key or the session token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct S3Options {
    /// Endpoint URL for S3-compatible servers (`http://127.0.0.1:9000`); `None`: AWS.
    pub endpoint: Option<String>,
    /// Region name (signing and, without an endpoint, the AWS host).
    pub region: String,
    /// Access key id; `None` with `secret_key` `None`: anonymous requests.
    pub access_key: Option<String>,
    /// Secret access key.
    pub secret_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key` (needed by most
    /// local servers; the default whenever an endpoint is given).
    pub path_style: bool,
    /// Extra attempts after a transient failure (5xx, 429, connection errors).
    pub retries: u32,
    /// Time limit of one request.
    pub timeout: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: "us-east-1".into(),
            access_key: None,
            secret_key: None,
            session_token: None,
            path_style: false,
            retries: 4,
            timeout: Duration::from_secs(60),
        }
    }
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("secret_key", &hidden(&self.secret_key))
            .field("session_token", &hidden(&self.session_token))
            .field("path_style", &self.path_style)
            .field("retries", &self.retries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn var(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

impl S3Options {
    /// The options the `AWS_*` environment variables give (see the type's docs).
    pub fn from_env() -> S3Options {
        let endpoint = var(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
        S3Options {
            path_style: endpoint.is_some(),
            endpoint,
            region: var(&["AWS_REGION", "AWS_DEFAULT_REGION"])
                .unwrap_or_else(|| "us-east-1".into()),
            access_key: var(&["AWS_ACCESS_KEY_ID"]),
            secret_key: var(&["AWS_SECRET_ACCESS_KEY"]),
            session_token: var(&["AWS_SESSION_TOKEN"]),
            ..S3Options::default()
        }
    }

    /// The options `s3://` URLs use in this process: those given to
    /// [`S3Options::set_current`], else [`S3Options::from_env`].
    pub fn current() -> S3Options {
        match explicit()
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some(o) => o.clone(),
            None => S3Options::from_env(),
        }
    }

    /// Makes `opts` the options of every `s3://` URL in this process (`None`: back to the
    /// environment).
    pub fn set_current(opts: Option<S3Options>) {
        *explicit().write().unwrap_or_else(|p| p.into_inner()) = opts;
    }

    /// Options for anonymous requests (public buckets) to AWS in `region`.
    pub fn anonymous(region: &str) -> S3Options {
        S3Options {
            region: region.to_string(),
            ..S3Options::default()
        }
    }

    /// Options for an S3-compatible server at `endpoint` with these keys (path-style).
    pub fn with_endpoint(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Self {
        S3Options {
            endpoint: Some(endpoint.to_string()),
            region: region.to_string(),
            access_key: Some(access_key.to_string()),
            secret_key: Some(secret_key.to_string()),
            path_style: true,
            ..S3Options::default()
        }
    }

    /// The rust-s3 region (a custom one naming the endpoint, when there is one).
    pub fn region(&self) -> Result<Region> {
        Ok(match &self.endpoint {
            Some(e) => Region::Custom {
                region: self.region.clone(),
                endpoint: e.trim_end_matches('/').to_string(),
            },
            None => self
                .region
                .parse()
                .map_err(|e| Error::Invalid(format!("S3 region {}: {e}", self.region)))?,
        })
    }

    /// The rust-s3 credentials (anonymous without keys).
    pub fn credentials(&self) -> Result<Credentials> {
        let creds = match (&self.access_key, &self.secret_key) {
            (None, None) => Credentials::anonymous(),
            (a, s) => Credentials::new(
                a.as_deref(),
                s.as_deref(),
                None,
                self.session_token.as_deref(),
                None,
            ),
        };
        creds.map_err(|e| Error::Invalid(format!("S3 credentials: {e}")))
    }

    /// A rust-s3 handle on `bucket` with these options (not cached).
    pub fn bucket(&self, bucket: &str) -> Result<Box<Bucket>> {
        let invalid = |e: s3::error::S3Error| Error::Invalid(format!("s3://{bucket}: {e}"));
        let b = Bucket::new(bucket, self.region()?, self.credentials()?).map_err(invalid)?;
        let b = b.with_request_timeout(self.timeout).map_err(invalid)?;
        Ok(if self.path_style {
            b.with_path_style()
        } else {
            b
        })
    }
}

fn explicit() -> &'static std::sync::RwLock<Option<S3Options>> {
    static EXPLICIT: OnceLock<std::sync::RwLock<Option<S3Options>>> = OnceLock::new();
    EXPLICIT.get_or_init(Default::default)
}

/// A cached bucket handle for these options (handles share one connection pool each).
pub fn bucket(opts: &S3Options, name: &str) -> Result<Arc<Bucket>> {
    type Cache = Mutex<HashMap<(S3Options, String), Arc<Bucket>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (opts.clone(), name.to_string());
    if let Some(b) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(b.clone());
    }
    let b: Arc<Bucket> = Arc::from(opts.bucket(name)?);
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, b.clone());
    Ok(b)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // Retries are ours (bounded, with backoff, see `retry`): rust-s3's own (one more try
        // of reads after a second) would multiply them.
        s3::set_retries(0);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("rask-s3")
            .enable_all()
            .build()
            .expect("cannot start the S3 I/O runtime")
    })
}

/// Runs `fut` on the shared S3 runtime and waits for it. Safe from plain threads (compute
/// pool) and from inside another tokio runtime (the caller's thread just blocks).
pub fn block_on<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().expect("the S3 runtime dropped a request")
}
