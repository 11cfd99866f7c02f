//! Values spilled to disk: one file a value in a directory of the worker's own (made on the
//! first spill, removed when the store goes), and the books of which keys are being written
//! and which are in files. File reads and writes themselves run on blocking threads
//! ([`write_file`], [`read_file`]); only unlinks happen inline.

use bytes::Bytes;
use rask_protocol::Key;
use rustc_hash::FxHashMap as HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Spill directories are named `rask-spill-<pid>-<n>`, so a nanny can remove those of a
/// worker process that died without cleaning up.
pub const DIR_PREFIX: &str = "rask-spill-";

/// A directory of spill files, removed with everything in it when dropped.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
}

impl SpillDir {
    /// Makes a fresh directory inside `base` (default: the system's temporary directory).
    pub fn create(base: Option<&Path>) -> io::Result<SpillDir> {
        static N: AtomicU64 = AtomicU64::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        std::fs::create_dir_all(&base)?;
        loop {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{DIR_PREFIX}{}-{n}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(SpillDir { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), "cannot remove the spill directory: {e}");
        }
    }
}

/// Removes the spill directories process `pid` left in `base` (default: the temporary
/// directory); returns how many.
pub fn remove_dirs_of(base: Option<&Path>, pid: u32) -> usize {
    let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let prefix = format!("{DIR_PREFIX}{pid}-");
    let Ok(entries) = std::fs::read_dir(&base) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

/// Writes one spill file (blocking).
pub fn write_file(path: &Path, value: &[u8]) -> io::Result<()> {
    std::fs::write(path, value)
}

/// Reads one spill file back (blocking).
pub fn read_file(path: &Path) -> io::Result<Bytes> {
    std::fs::read(path).map(Bytes::from)
}

/// Where a value that is not in memory's LRU is.
#[derive(Debug, Clone)]
pub enum Spilled {
    /// Being written: still in memory.
    Writing(Bytes),
    /// In a file of this size.
    File(PathBuf, u64),
}

/// How a write ended, as far as the books go.
#[derive(Debug, PartialEq)]
pub enum Written {
    /// The value is now only in its file.
    Stored,
    /// The write failed: the value, to keep in memory.
    Failed(Bytes),
    /// The key was freed or replaced while writing; its file was removed.
    Stale,
}

/// The books of spilled values.
#[derive(Debug, Default)]
pub struct Disk {
    base: Option<PathBuf>,
    dir: Option<SpillDir>,
    next: u64,
    writing: HashMap<Key, (Bytes, u64)>,
    writing_bytes: u64,
    files: HashMap<Key, (u64, u64)>,
    file_bytes: u64,
}

impl Disk {
    /// Books for a store spilling into a fresh directory inside `base` (made on first use).
    pub fn new(base: Option<PathBuf>) -> Disk {
        Disk {
            base,
            ..Disk::default()
        }
    }

    fn file(&self, id: u64) -> PathBuf {
        let dir = self
            .dir
            .as_ref()
            .expect("files exist only once the directory does");
        dir.path().join(format!("{id}.bin"))
    }

    /// Starts spilling `key`: returns the file to write `value` to (on a blocking thread) and
    /// the write's id for [`Disk::written`].
    pub fn begin(&mut self, key: Key, value: Bytes) -> io::Result<(PathBuf, u64)> {
        if self.dir.is_none() {
            let dir = SpillDir::create(self.base.as_deref())?;
            tracing::info!(dir = %dir.path().display(), "spilling to disk");
            self.dir = Some(dir);
        }
        self.next += 1;
        let id = self.next;
        self.writing_bytes += value.len() as u64;
        if let Some((old, _)) = self.writing.insert(key, (value, id)) {
            self.writing_bytes -= old.len() as u64;
        }
        Ok((self.file(id), id))
    }

    /// Records the end of write `id` of `key`.
    pub fn written(&mut self, key: &Key, id: u64, ok: bool) -> Written {
        let path = self.file(id);
        match self.writing.get(key) {
            Some((_, current)) if *current == id => {}
            _ => {
                let _ = std::fs::remove_file(path);
                return Written::Stale;
            }
        }
        let (value, _) = self.writing.remove(key).expect("checked");
        self.writing_bytes -= value.len() as u64;
        if !ok {
            let _ = std::fs::remove_file(path);
            return Written::Failed(value);
        }
        let n = value.len() as u64;
        self.file_bytes += n;
        if let Some((old_id, old_n)) = self.files.insert(key.clone(), (id, n)) {
            self.file_bytes -= old_n;
            let _ = std::fs::remove_file(self.file(old_id));
        }
        Written::Stored
    }

    /// Where `key` is, if spilled.
    pub fn get(&self, key: &Key) -> Option<Spilled> {
        if let Some((v, _)) = self.writing.get(key) {
            return Some(Spilled::Writing(v.clone()));
        }
        let (id, n) = self.files.get(key)?;
        Some(Spilled::File(self.file(*id), *n))
    }

    /// Forgets `key`, removing its file; returns whether it was spilled.
    pub fn remove(&mut self, key: &Key) -> bool {
        if let Some((v, _)) = self.writing.remove(key) {
            // The write's end finds the key gone and removes the file.
            self.writing_bytes -= v.len() as u64;
            return true;
        }
        match self.files.remove(key) {
            Some((id, n)) => {
                self.file_bytes -= n;
                if let Err(e) = std::fs::remove_file(self.file(id)) {
                    tracing::warn!(%key, "cannot remove a spill file: {e}");
                }
                true
            }
            None => false,
        }
    }

    /// Bytes being written (still in memory).
    pub fn writing_bytes(&self) -> u64 {
        self.writing_bytes
    }

    /// Bytes in files.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Number of values spilled or being spilled.
    pub fn len(&self) -> usize {
        self.writing.len() + self.files.len()
    }

    /// Nothing spilled?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every spilled key with its size.
    pub fn sizes(&self) -> impl Iterator<Item = (&Key, u64)> {
        let writing = self.writing.iter().map(|(k, (v, _))| (k, v.len() as u64));
        writing.chain(self.files.iter().map(|(k, (_, n))| (k, *n)))
    }

    /// The spill directory, once made.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(SpillDir::path)
    }

    /// Removes the directory now (before a process exit that skips destructors).
    pub fn remove_dir(&mut self) {
        self.files.clear();
        self.dir = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spill(disk: &mut Disk, key: &Key, value: &Bytes) -> PathBuf {
        let (path, id) = disk.begin(key.clone(), value.clone()).unwrap();
        assert!(matches!(disk.get(key), Some(Spilled::Writing(_))));
        assert_eq!(disk.writing_bytes(), value.len() as u64);
        write_file(&path, value).unwrap();
        assert_eq!(disk.written(key, id, true), Written::Stored);
        path
    }

    #[test]
    fn spill_and_read_back_round_trip_then_free_deletes_the_file() {
        let base = tempdir();
        let mut disk = Disk::new(Some(base.clone()));
        let key = Key::new("k/with/slashes");
        let value = Bytes::from((0..100_000u32).map(|i| i as u8).collect::<Vec<_>>());
        let path = spill(&mut disk, &key, &value);
        assert!(path.starts_with(&base) && path.exists());
        assert_eq!((disk.writing_bytes(), disk.file_bytes()), (0, 100_000));
        let Some(Spilled::File(p, n)) = disk.get(&key) else {
            panic!("not in a file")
        };
        assert_eq!((p.as_path(), n), (path.as_path(), 100_000));
        assert_eq!(read_file(&p).unwrap(), value);
        assert!(disk.remove(&key));
        assert!(!path.exists(), "freeing must delete the spill file");
        assert!(disk.get(&key).is_none() && disk.is_empty());
        assert_eq!(disk.file_bytes(), 0);
        let dir = disk.dir().unwrap().to_path_buf();
        drop(disk);
        assert!(!dir.exists(), "the spill directory goes with the store");
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_key_freed_while_being_written_leaves_no_file() {
        let base = tempdir();
        let mut disk = Disk::new(Some(base.clone()));
        let key = Key::new("k");
        let value = Bytes::from_static(b"hello");
        let (path, id) = disk.begin(key.clone(), value.clone()).unwrap();
        assert!(disk.remove(&key));
        write_file(&path, &value).unwrap();
        assert_eq!(disk.written(&key, id, true), Written::Stale);
        assert!(!path.exists());
        // A failed write hands the value back.
        let (path, id) = disk.begin(key.clone(), value.clone()).unwrap();
        assert_eq!(disk.written(&key, id, false), Written::Failed(value));
        assert!(!path.exists() && disk.is_empty());
        drop(disk);
        std::fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_nanny_removes_the_directories_a_dead_worker_left() {
        let base = tempdir();
        let dir = SpillDir::create(Some(&base)).unwrap();
        let path = dir.path().to_path_buf();
        std::mem::forget(dir); // as if the process died
        assert!(path.exists());
        assert_eq!(remove_dirs_of(Some(&base), std::process::id()), 1);
        assert!(!path.exists());
        std::fs::remove_dir_all(base).unwrap();
    }

    fn tempdir() -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rask-spill-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
