//! The S3 backend: listing, whole and ranged reads, single and multipart uploads through
//! rust-s3, each request retried on transient failures and its errors sorted into this
//! crate's variants. Calls are synchronous (they run on the shared S3 runtime).

pub mod config;
pub mod retry;

pub use config::S3Options;

use crate::Result;
use bytes::Bytes;
use retry::with_retry;
use s3::serde_types::Part;
use std::sync::Arc;

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag (changes when the object does).
    pub etag: String,
}

fn url(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// Every object whose key starts with `prefix`, in key order.
pub fn list(opts: &S3Options, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
    let b = config::bucket(opts, bucket)?;
    let (u, prefix, retries) = (url(bucket, prefix), prefix.to_string(), opts.retries);
    config::block_on(async move {
        let pages = with_retry(&u, retries, || b.list(prefix.clone(), None)).await?;
        let mut out: Vec<Listed> = pages
            .into_iter()
            .flat_map(|p| p.contents)
            .map(|o| Listed {
                key: o.key,
                size: o.size,
                etag: o.e_tag.unwrap_or(o.last_modified),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    })
}

/// Bytes `[start, end)` of an object (`end: None`: to its end). A range past the end is cut
/// at the end; `start` must be inside the object unless it is empty and `start` is 0.
pub fn get(
    opts: &S3Options,
    bucket: &str,
    key: &str,
    start: u64,
    end: Option<u64>,
) -> Result<Bytes> {
    if end.is_some_and(|e| e <= start) {
        return Ok(Bytes::new());
    }
    let b = config::bucket(opts, bucket)?;
    let (u, key, retries) = (url(bucket, key), key.to_string(), opts.retries);
    config::block_on(async move {
        let r = with_retry(&u, retries, || {
            let (b, key) = (b.clone(), key.clone());
            async move {
                match (start, end) {
                    (0, None) => b.get_object(&key).await,
                    (s, e) => b.get_object_range(&key, s, e.map(|e| e - 1)).await,
                }
            }
        })
        .await?;
        Ok(r.into_bytes())
    })
}

/// Stores `data` as one object (one request; see [`Multipart`] for big objects).
pub fn put(opts: &S3Options, bucket: &str, key: &str, data: Bytes) -> Result<()> {
    let b = config::bucket(opts, bucket)?;
    let (u, key, retries) = (url(bucket, key), key.to_string(), opts.retries);
    config::block_on(async move {
        with_retry(&u, retries, || {
            let (b, key, data) = (b.clone(), key.clone(), data.clone());
            async move { b.put_object(&key, &data).await }
        })
        .await
        .map(drop)
    })
}

/// Deletes an object.
pub fn delete(opts: &S3Options, bucket: &str, key: &str) -> Result<()> {
    let b = config::bucket(opts, bucket)?;
    let (u, key, retries) = (url(bucket, key), key.to_string(), opts.retries);
    config::block_on(async move {
        with_retry(&u, retries, || b.delete_object(&key))
            .await
            .map(drop)
    })
}

/// Creates a bucket (path-style, for S3-compatible servers and tests).
pub fn create_bucket(opts: &S3Options, bucket: &str) -> Result<()> {
    let (region, creds) = (opts.region()?, opts.credentials()?);
    let (u, name, retries) = (url(bucket, ""), bucket.to_string(), opts.retries);
    config::block_on(async move {
        with_retry(&u, retries, || {
            let (name, region, creds) = (name.clone(), region.clone(), creds.clone());
            async move {
                s3::Bucket::create_with_path_style(&name, region, creds, Default::default()).await
            }
        })
        .await
        .map(drop)
    })
}

/// A multipart upload in progress: parts of at least 5 MiB (except the last) sent as they
/// come, completed by [`Multipart::complete`], aborted when dropped unfinished.
pub struct Multipart {
    bucket: Arc<s3::Bucket>,
    key: String,
    upload_id: String,
    parts: Vec<Part>,
    retries: u32,
    done: bool,
}

impl Multipart {
    /// Starts an upload to `s3://bucket/key`.
    pub fn start(opts: &S3Options, bucket: &str, key: &str) -> Result<Multipart> {
        let b = config::bucket(opts, bucket)?;
        let (u, k, retries) = (url(bucket, key), key.to_string(), opts.retries);
        let b2 = b.clone();
        let upload_id = config::block_on(async move {
            with_retry(&u, retries, || {
                b2.initiate_multipart_upload(&k, "application/octet-stream")
            })
            .await
        })?
        .upload_id;
        Ok(Multipart {
            bucket: b,
            key: key.to_string(),
            upload_id,
            parts: Vec::new(),
            retries,
            done: false,
        })
    }

    /// Owned copies of what a request of this upload needs: bucket, key, upload id, URL.
    fn ids(&self) -> (Arc<s3::Bucket>, String, String, String) {
        (
            self.bucket.clone(),
            self.key.clone(),
            self.upload_id.clone(),
            url(&self.bucket.name, &self.key),
        )
    }

    /// Sends the next part.
    pub fn send(&mut self, chunk: Vec<u8>) -> Result<()> {
        let n = self.parts.len() as u32 + 1;
        let (b, key, id, u) = self.ids();
        let retries = self.retries;
        let part = config::block_on(async move {
            with_retry(&u, retries, || {
                let (b, key, id, chunk) = (b.clone(), key.clone(), id.clone(), chunk.clone());
                async move {
                    b.put_multipart_chunk(chunk, &key, n, &id, "application/octet-stream")
                        .await
                }
            })
            .await
        })?;
        self.parts.push(part);
        Ok(())
    }

    /// Completes the upload: the object appears.
    pub fn complete(mut self) -> Result<()> {
        let (b, key, id, u) = self.ids();
        let (parts, retries) = (std::mem::take(&mut self.parts), self.retries);
        self.done = true;
        config::block_on(async move {
            with_retry(&u, retries, || {
                b.complete_multipart_upload(&key, &id, parts.clone())
            })
            .await
            .map(drop)
        })
    }
}

impl Drop for Multipart {
    fn drop(&mut self) {
        if !self.done {
            let (b, key, id, _) = self.ids();
            let _ = config::block_on(async move { b.abort_upload(&key, &id).await });
        }
    }
}
