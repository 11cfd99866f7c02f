//! [`StorageOptions`]: how storage URLs reach their backends, given in code (Dask's
//! `storage_options`) and carried inside the arguments of every task that reads or writes,
//! so a stock worker uses the client's settings, not its own environment. Its methods are
//! the storage layer's operations under those options.

use super::s3::{self, S3Options};
use super::{glob, local, writer, Location, ObjectMeta, ObjectReader, ObjectWriter};
use crate::{Error, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Settings of the storage backends for one read or write.
///
/// The default (`s3: None`) means "whatever the process resolving the URL has": the options
/// given to [`S3Options::set_current`] there, else its `AWS_*` environment variables. With
/// explicit [`S3Options`], the client's listing and the workers' reads and writes all use
/// them, whatever the workers' environment.
///
/// The options travel inside task arguments: through the scheduler (and its journal, when
/// it keeps one) to the workers. `Debug` never shows the secret key or the session token,
/// and errors name only URLs; still, prefer short-lived credentials in a shared cluster.
///
/// ```no_run
/// # fn main() -> rask_collections::Result<()> {
/// use rask_collections::storage::{S3Options, StorageOptions};
/// let opts = StorageOptions::s3(S3Options::with_endpoint(
///     "http://minio:9000", "eu-west-1", "AKIA…", "secret",
/// ));
/// let objects = opts.expand(&["s3://data/2024/*.csv"])?;
/// let head = opts.read_range(&objects[0].url, 0, Some(100))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StorageOptions {
    /// Explicit S3 settings for `s3://` URLs (`None`: the resolving process's own). Boxed:
    /// the options ride in many task specs, most of which hold none.
    pub s3: Option<Box<S3Options>>,
}

impl StorageOptions {
    /// Explicit S3 settings.
    pub fn s3(opts: S3Options) -> StorageOptions {
        StorageOptions {
            s3: Some(Box::new(opts)),
        }
    }

    /// The S3 settings in force here: the explicit ones, else [`S3Options::current`].
    pub fn s3_options(&self) -> S3Options {
        match &self.s3 {
            Some(o) => S3Options::clone(o),
            None => S3Options::current(),
        }
    }

    /// The objects named by paths, URLs or patterns, sorted within each pattern.
    ///
    /// A plain local path must exist. A plain `s3://bucket/key` names that object, or, if
    /// there is none, every object under `key/` (a folder); when there is neither, the error
    /// is [`Error::NoSuchKey`]. A pattern matching nothing is [`Error::NoFiles`].
    pub fn expand(&self, patterns: &[&str]) -> Result<Vec<ObjectMeta>> {
        let mut out = Vec::new();
        for p in patterns {
            match Location::parse(p)? {
                Location::Local(path) => out.extend(local::expand(p, &path)?),
                Location::S3 { bucket, key } => out.extend(self.expand_s3(p, &bucket, &key)?),
            }
        }
        Ok(out)
    }

    fn expand_s3(&self, pattern: &str, bucket: &str, key: &str) -> Result<Vec<ObjectMeta>> {
        let opts = self.s3_options();
        let meta = |l: s3::Listed| ObjectMeta {
            url: format!("s3://{bucket}/{}", l.key),
            size: l.size,
            version: xxhash_rust::xxh3::xxh3_64(l.etag.as_bytes()),
        };
        if glob::has_glob(key) {
            let g = glob::KeyGlob::new(key, pattern)?;
            let found: Vec<ObjectMeta> = s3::list(&opts, bucket, glob::literal_prefix(key))
                .map_err(|e| about(e, pattern))?
                .into_iter()
                .filter(|l| g.matches(&l.key))
                .map(meta)
                .collect();
            if found.is_empty() {
                return Err(Error::NoFiles(pattern.to_string()));
            }
            return Ok(found);
        }
        let listed = s3::list(&opts, bucket, key).map_err(|e| about(e, pattern))?;
        if let Some(exact) = listed.iter().find(|l| l.key == key) {
            return Ok(vec![meta(exact.clone())]);
        }
        let folder = match key {
            "" => String::new(),
            k => format!("{}/", k.trim_end_matches('/')),
        };
        let under: Vec<ObjectMeta> = listed
            .into_iter()
            .filter(|l| l.key.starts_with(&folder))
            .map(meta)
            .collect();
        if under.is_empty() {
            return Err(Error::NoSuchKey {
                url: pattern.to_string(),
            });
        }
        Ok(under)
    }

    /// A whole object.
    pub fn read(&self, url: &str) -> Result<Bytes> {
        self.read_range(url, 0, None)
    }

    /// Bytes `[start, end)` of an object (`end: None`: to its end; a range past the end is
    /// cut there).
    pub fn read_range(&self, url: &str, start: u64, end: Option<u64>) -> Result<Bytes> {
        match Location::parse(url)? {
            Location::Local(path) => local::read_range(&path, start, end),
            Location::S3 { bucket, key } => s3::get(&self.s3_options(), &bucket, &key, start, end),
        }
    }

    /// An object of `size` bytes (as listed) read front to back in ranged requests.
    pub fn open(&self, url: &str, size: u64) -> ObjectReader {
        ObjectReader::new(url, size, self)
    }

    /// Makes sure a folder exists for writing into: created (with its parents) on the local
    /// file system; nothing to do for `s3://` prefixes, which exist once an object is under
    /// them.
    pub fn create_dir(&self, url: &str) -> Result<()> {
        match Location::parse(url)? {
            Location::Local(path) => {
                std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))
            }
            Location::S3 { .. } => Ok(()),
        }
    }

    /// Writes `data` as a whole object (creating local folders; multipart for big S3
    /// objects).
    pub fn write(&self, url: &str, data: &[u8]) -> Result<()> {
        let mut w = ObjectWriter::create_with(url, self)?;
        std::io::Write::write_all(&mut w, data).map_err(|e| writer::unwrap_io(e, url))?;
        w.finish()
    }
}

/// The same error about `url` (listing errors name the prefix listed, not the pattern).
fn about(e: Error, url: &str) -> Error {
    let url = url.to_string();
    match e {
        Error::NoSuchKey { .. } => Error::NoSuchKey { url },
        Error::NoSuchBucket { .. } => Error::NoSuchBucket { url },
        Error::AccessDenied { message, .. } => Error::AccessDenied { url, message },
        Error::Network {
            attempts, message, ..
        } => Error::Network {
            url,
            attempts,
            message,
        },
        Error::Unavailable {
            attempts, message, ..
        } => Error::Unavailable {
            url,
            attempts,
            message,
        },
        Error::Storage { message, .. } => Error::Storage { url, message },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_options() -> StorageOptions {
        StorageOptions::s3(S3Options {
            session_token: Some("token-NOT-TO-BE-SEEN".into()),
            ..S3Options::with_endpoint(
                "http://127.0.0.1:9",
                "eu-west-1",
                "AKIDVISIBLE",
                "secret-NOT-TO-BE-SEEN",
            )
        })
    }

    #[test]
    fn options_survive_the_task_encoding() {
        let opts = secret_options();
        let bytes = rask_protocol::encode_value(&opts).unwrap();
        let back: StorageOptions = rask_protocol::decode_value(&bytes).unwrap();
        assert_eq!(back, opts);
        assert_eq!(back.s3_options(), *opts.s3.clone().unwrap());
    }

    #[test]
    fn debug_output_redacts_the_secret_key_and_the_session_token() {
        let opts = secret_options();
        let block = super::super::blocks::blocks(
            &[ObjectMeta {
                url: "s3://b/k.txt".into(),
                size: 10,
                version: 1,
            }],
            None,
            &opts,
        );
        for shown in [
            format!("{opts:?}"),
            format!("{opts:#?}"),
            format!("{block:?}"),
        ] {
            assert!(!shown.contains("NOT-TO-BE-SEEN"), "{shown}");
            assert!(
                shown.contains("AKIDVISIBLE") && shown.contains("<redacted>"),
                "{shown}"
            );
        }
        let anonymous = format!("{:?}", S3Options::anonymous("eu-west-1"));
        assert!(anonymous.contains("secret_key: None"), "{anonymous}");
    }
}
