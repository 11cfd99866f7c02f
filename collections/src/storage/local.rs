//! The local file-system backend: glob expansion, whole and ranged reads, writes that create
//! their folders.

use super::ObjectMeta;
use crate::{Error, Result};
use bytes::Bytes;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

fn meta(path: &Path) -> Result<ObjectMeta> {
    let m = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    Ok(ObjectMeta {
        url: path.display().to_string(),
        size: m.len(),
        version: mtime,
    })
}

/// The files a path or glob pattern names, sorted. A plain path that does not exist, or a
/// pattern matching nothing, is an error naming it.
pub fn expand(pattern: &str, path: &Path) -> Result<Vec<ObjectMeta>> {
    if !super::glob::has_glob(pattern) {
        return Ok(vec![meta(path)?]);
    }
    let text = path.to_string_lossy();
    let paths = glob::glob(&text).map_err(|e| Error::Pattern {
        pattern: pattern.to_string(),
        message: e.to_string(),
    })?;
    let mut found: Vec<PathBuf> = paths
        .filter_map(|r| r.ok())
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        return Err(Error::NoFiles(pattern.to_string()));
    }
    found.sort();
    found.iter().map(|p| meta(p)).collect()
}

/// Bytes `[start, end)` of a file (`end: None`: to its end; cut at the end).
pub fn read_range(path: &Path, start: u64, end: Option<u64>) -> Result<Bytes> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = Vec::new();
    if start > 0 {
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(path, e))?;
    }
    match end {
        Some(e) => {
            buf.reserve(e.saturating_sub(start) as usize);
            (&mut f).take(e.saturating_sub(start)).read_to_end(&mut buf)
        }
        None => f.read_to_end(&mut buf),
    }
    .map_err(|e| Error::io(path, e))?;
    Ok(Bytes::from(buf))
}

/// Creates the folder holding `path`, if it has one.
pub fn create_parent(path: &Path) -> Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e)),
        None => Ok(()),
    }
}
