//! Storage URLs: `/local/path`, `relative/path`, `file:///abs/path` and `s3://bucket/key`,
//! parsed into a [`Location`] that says which backend serves them.

use crate::{Error, Result};
use std::fmt;
use std::path::PathBuf;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A file (or glob) on the local file system, as the process sees it.
    Local(PathBuf),
    /// An object (or key prefix or glob) in an S3 bucket.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key inside the bucket, without a leading `/` (may be empty: the whole bucket).
        key: String,
    },
}

impl Location {
    /// Parses a URL or a plain path. Schemes other than `file://` and `s3://` are errors.
    pub fn parse(url: &str) -> Result<Location> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Invalid(format!("{url}: no bucket name")));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                key: key.trim_start_matches('/').to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("file://") {
            // file:///abs → /abs; file://localhost/abs → /abs.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::Invalid(format!("{url}: no path")));
            }
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = url.split_once("://") {
            if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::Invalid(format!(
                    "{url}: unsupported scheme {scheme}:// (use a path, file:// or s3://)"
                )));
            }
        }
        Ok(Location::Local(PathBuf::from(url)))
    }

    /// Whether this is an S3 location.
    pub fn is_s3(&self) -> bool {
        matches!(self, Location::S3 { .. })
    }

    /// The location of `name` inside this one taken as a folder.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(p) => Location::Local(p.join(name)),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: match key.trim_end_matches('/') {
                    "" => name.to_string(),
                    k => format!("{k}/{name}"),
                },
            },
        }
    }

    /// The folder holding this location, if it has one.
    pub fn parent(&self) -> Option<Location> {
        match self {
            Location::Local(p) => p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| Location::Local(d.to_path_buf())),
            Location::S3 { bucket, key } => key.rsplit_once('/').map(|(k, _)| Location::S3 {
                bucket: bucket.clone(),
                key: k.to_string(),
            }),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Whether `url` names an S3 object (cheap test without parsing).
pub fn is_s3(url: &str) -> bool {
    url.starts_with("s3://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, key: &str) -> Location {
        Location::S3 {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    #[test]
    fn urls_parse_into_backends() {
        assert_eq!(
            Location::parse("s3://b/data/x.csv").unwrap(),
            s3("b", "data/x.csv")
        );
        assert_eq!(Location::parse("s3://b").unwrap(), s3("b", ""));
        assert_eq!(Location::parse("s3://b/").unwrap(), s3("b", ""));
        assert_eq!(Location::parse("s3://b//k").unwrap(), s3("b", "k"));
        assert_eq!(
            Location::parse("s3://b/logs/*.txt").unwrap(),
            s3("b", "logs/*.txt")
        );
        assert_eq!(
            Location::parse("/tmp/a.txt").unwrap(),
            Location::Local("/tmp/a.txt".into())
        );
        assert_eq!(
            Location::parse("rel/a.txt").unwrap(),
            Location::Local("rel/a.txt".into())
        );
        assert_eq!(
            Location::parse("file:///tmp/a b.txt").unwrap(),
            Location::Local("/tmp/a b.txt".into())
        );
        assert_eq!(
            Location::parse("file://localhost/tmp/x").unwrap(),
            Location::Local("/tmp/x".into())
        );
        for bad in ["s3://", "s3:///key", "gs://b/k", "http://h/x", "file://"] {
            let e = Location::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn join_parent_and_display_round_trip() {
        let d = Location::parse("s3://b/out").unwrap();
        assert_eq!(d.join("0.npy").to_string(), "s3://b/out/0.npy");
        assert_eq!(
            Location::parse("s3://b/").unwrap().join("x").to_string(),
            "s3://b/x"
        );
        assert_eq!(d.join("0.npy").parent(), Some(d.clone()));
        assert_eq!(Location::parse("s3://b/x").unwrap().parent(), None);
        let l = Location::parse("/tmp/o").unwrap();
        assert_eq!(l.join("a").to_string(), "/tmp/o/a");
        assert_eq!(Location::parse("a.txt").unwrap().parent(), None);
        assert!(is_s3("s3://b/k") && !is_s3("/s3://"));
    }
}
