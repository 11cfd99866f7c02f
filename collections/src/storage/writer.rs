//! Streaming writers: [`ObjectWriter`] writes a local file (creating its folder) or an S3
//! object (one request when small, a multipart upload of 8 MiB parts when big), and
//! [`TextWriter`] adds gzip for URLs ending in `.gz`. Both must be finished: an S3 object
//! only appears when its writer's `finish` succeeds.

use super::s3::{self, Multipart, S3Options};
use super::{local, Location, StorageOptions};
use crate::{Error, Result};
use std::io::{BufWriter, Write};

/// Size of the parts of a multipart upload (S3 wants at least 5 MiB but for the last).
pub const PART_SIZE: usize = 8 << 20;

/// An S3 object being written: the bytes not sent yet, and the upload once one part is.
struct S3Sink {
    opts: S3Options,
    bucket: String,
    key: String,
    buf: Vec<u8>,
    upload: Option<Multipart>,
}

enum Sink {
    Local(BufWriter<std::fs::File>),
    S3(Box<S3Sink>),
}

/// A writer of one object.
pub struct ObjectWriter {
    url: String,
    sink: Sink,
}

/// Turns an I/O error from a writer back into this crate's error when it is one.
pub fn unwrap_io(e: std::io::Error, url: &str) -> Error {
    match e.downcast::<Error>() {
        Ok(inner) => inner,
        Err(e) => Error::io(url, e),
    }
}

impl ObjectWriter {
    /// Starts writing `url` (replacing what is there when finished), with this process's
    /// own settings.
    pub fn create(url: &str) -> Result<ObjectWriter> {
        ObjectWriter::create_with(url, &StorageOptions::default())
    }

    /// Starts writing `url` with these settings.
    pub fn create_with(url: &str, storage: &StorageOptions) -> Result<ObjectWriter> {
        let sink = match Location::parse(url)? {
            Location::Local(path) => {
                local::create_parent(&path)?;
                let f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
                Sink::Local(BufWriter::with_capacity(1 << 20, f))
            }
            Location::S3 { bucket, key } => {
                if key.is_empty() || key.ends_with('/') {
                    return Err(Error::Invalid(format!("{url}: no object name")));
                }
                Sink::S3(Box::new(S3Sink {
                    opts: storage.s3_options(),
                    bucket,
                    key,
                    buf: Vec::new(),
                    upload: None,
                }))
            }
        };
        Ok(ObjectWriter {
            url: url.to_string(),
            sink,
        })
    }

    /// The URL being written.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Flushes everything and makes the object appear.
    pub fn finish(self) -> Result<()> {
        match self.sink {
            Sink::Local(mut f) => f.flush().map_err(|e| Error::io(&self.url, e)),
            Sink::S3(s) => match s.upload {
                None => s3::put(&s.opts, &s.bucket, &s.key, s.buf.into()),
                Some(mut up) => {
                    if !s.buf.is_empty() {
                        up.send(s.buf)?;
                    }
                    up.complete()
                }
            },
        }
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match &mut self.sink {
            Sink::Local(f) => f.write(data),
            Sink::S3(s) => {
                s.buf.extend_from_slice(data);
                if s.buf.len() >= PART_SIZE {
                    if s.upload.is_none() {
                        let up = Multipart::start(&s.opts, &s.bucket, &s.key)
                            .map_err(std::io::Error::other)?;
                        s.upload = Some(up);
                    }
                    let part = std::mem::replace(&mut s.buf, Vec::with_capacity(PART_SIZE));
                    if let Some(up) = &mut s.upload {
                        up.send(part).map_err(std::io::Error::other)?;
                    }
                }
                Ok(data.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Local(f) => f.flush(),
            Sink::S3(_) => Ok(()),
        }
    }
}

/// A text output: plain, or gzip-compressed when the URL ends in `.gz`.
pub enum TextWriter {
    /// Bytes as written.
    Plain(ObjectWriter),
    /// Gzip (fast level).
    Gzip(flate2::write::GzEncoder<ObjectWriter>),
}

impl TextWriter {
    /// Starts writing `url` with this process's own settings.
    pub fn create(url: &str) -> Result<TextWriter> {
        TextWriter::create_with(url, &StorageOptions::default())
    }

    /// Starts writing `url` with these settings.
    pub fn create_with(url: &str, storage: &StorageOptions) -> Result<TextWriter> {
        let w = ObjectWriter::create_with(url, storage)?;
        Ok(if url.ends_with(".gz") {
            TextWriter::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::fast(),
            ))
        } else {
            TextWriter::Plain(w)
        })
    }

    /// Finishes the compression and the object.
    pub fn finish(self) -> Result<()> {
        match self {
            TextWriter::Plain(w) => w.finish(),
            TextWriter::Gzip(g) => {
                let url = g.get_ref().url().to_string();
                g.finish().map_err(|e| unwrap_io(e, &url))?.finish()
            }
        }
    }
}

impl Write for TextWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            TextWriter::Plain(w) => w.write(data),
            TextWriter::Gzip(g) => g.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            TextWriter::Plain(w) => w.flush(),
            TextWriter::Gzip(g) => g.flush(),
        }
    }
}
