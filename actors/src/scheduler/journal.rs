//! The scheduler's journal: an append-only file of what clients asked for (their message
//! batches, as received) so a restarted scheduler can rebuild the task graph. A writer thread
//! appends records and fsyncs after each burst (group commit), so the actor never waits on
//! the disk. A record is `len: u32 LE | checksum: u32 LE | postcard payload`; reading stops at
//! the first torn or corrupt record (the tail a crash may leave).

use crate::{Error, Result};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// File name of the journal inside the scheduler's local directory.
pub const FILE_NAME: &str = "scheduler.journal";

/// Records larger than this are taken for corruption when reading.
const MAX_RECORD: usize = 1 << 30;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// A batch of client messages (`FromClient`, encoded as on the wire) from client `client`.
    Client {
        /// The client's id in this journal.
        client: u32,
        /// The batch's frames.
        frames: Vec<serde_bytes::ByteBuf>,
    },
    /// The client left (disconnected or went silent): everything it wanted was released.
    ClientGone {
        /// The client's id in this journal.
        client: u32,
    },
    /// The names of the workers connected now (written when the set changes). After a
    /// restart, the recovery window ends as soon as all of them are back.
    Workers {
        /// Worker names.
        names: Vec<String>,
    },
}

enum Cmd {
    Append(Vec<u8>),
    /// Replace the whole file with these records (written to a temporary file, fsynced,
    /// renamed over the journal).
    Rewrite(Vec<u8>),
    /// Reply once everything before has reached the disk.
    Sync(mpsc::Sender<()>),
}

/// An open journal. Dropping it lets the writer thread finish and exit.
pub struct Journal {
    tx: mpsc::Sender<Cmd>,
    path: PathBuf,
    /// Bytes appended since the file was last rewritten.
    appended: u64,
}

fn checksum(payload: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64(payload) as u32
}

/// Encodes one record with its length and checksum.
pub fn frame(record: &Record) -> Result<Vec<u8>> {
    let payload = postcard::to_allocvec(record)
        .map_err(|e| Error::Journal(format!("cannot encode a journal record: {e}")))?;
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Decodes every whole, intact record of `data`; returns them and how many bytes they span.
pub fn parse(data: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while data.len() - at >= 8 {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        let sum = u32::from_le_bytes(data[at + 4..at + 8].try_into().expect("4 bytes"));
        if len > MAX_RECORD || data.len() - at - 8 < len {
            break;
        }
        let payload = &data[at + 8..at + 8 + len];
        if checksum(payload) != sum {
            break;
        }
        match postcard::from_bytes::<Record>(payload) {
            Ok(r) => records.push(r),
            Err(_) => break,
        }
        at += 8 + len;
    }
    (records, at)
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, returning it and the records already there.
    /// A torn tail is cut off.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<Record>)> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Journal(format!(
                "cannot create journal directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let mut data = Vec::new();
        if path.exists() {
            File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .map_err(|e| Error::Journal(format!("cannot read {}: {e}", path.display())))?;
        }
        let (records, good) = parse(&data);
        if good < data.len() {
            tracing::warn!(
                path = %path.display(),
                "journal has {} bytes of torn or corrupt tail; ignoring them",
                data.len() - good
            );
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::Journal(format!("cannot open {}: {e}", path.display())))?;
        let mut file = file;
        file.set_len(good as u64)
            .and_then(|_| file.seek(SeekFrom::Start(good as u64)))
            .map_err(|e| Error::Journal(format!("cannot trim {}: {e}", path.display())))?;
        let (tx, rx) = mpsc::channel();
        let thread_path = path.clone();
        std::thread::Builder::new()
            .name("rask-journal".into())
            .spawn(move || writer(file, good as u64, &thread_path, rx))
            .map_err(|e| Error::Journal(format!("cannot start the journal thread: {e}")))?;
        Ok((
            Journal {
                tx,
                path,
                appended: good as u64,
            },
            records,
        ))
    }

    /// Where the journal lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended since the file was last rewritten.
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Appends a record (written and fsynced in the background).
    pub fn append(&mut self, record: &Record) {
        match frame(record) {
            Ok(bytes) => {
                self.appended += bytes.len() as u64;
                let _ = self.tx.send(Cmd::Append(bytes));
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// Appends a client's message batch.
    pub fn client_batch(&mut self, client: u32, frames: &[Bytes]) {
        self.append(&Record::Client {
            client,
            frames: frames
                .iter()
                .map(|f| serde_bytes::ByteBuf::from(f.to_vec()))
                .collect(),
        });
    }

    /// Replaces the journal's contents with `records` (a snapshot of the live graph).
    pub fn rewrite(&mut self, records: &[Record]) {
        let mut bytes = Vec::new();
        for r in records {
            match frame(r) {
                Ok(b) => bytes.extend_from_slice(&b),
                Err(e) => {
                    tracing::error!("{e}; journal not compacted");
                    return;
                }
            }
        }
        self.appended = 0;
        let _ = self.tx.send(Cmd::Rewrite(bytes));
    }

    /// Blocks until everything appended so far is on disk.
    pub fn sync(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Cmd::Sync(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

fn writer(file: File, mut len: u64, path: &Path, rx: mpsc::Receiver<Cmd>) {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut waiting: Vec<mpsc::Sender<()>> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(cmd) = next.take() {
            match cmd {
                Cmd::Append(bytes) => {
                    if let Err(e) = out.write_all(&bytes) {
                        tracing::error!("cannot append to the journal {}: {e}", path.display());
                    }
                    len += bytes.len() as u64;
                }
                Cmd::Rewrite(bytes) => match rewrite(path, &bytes) {
                    Ok(file) => {
                        out = BufWriter::with_capacity(1 << 20, file);
                        len = bytes.len() as u64;
                    }
                    Err(e) => tracing::error!("cannot compact the journal {}: {e}", path.display()),
                },
                Cmd::Sync(done) => waiting.push(done),
            }
            next = rx.try_recv().ok();
        }
        let synced = out.flush().and_then(|_| out.get_ref().sync_data());
        if let Err(e) = synced {
            tracing::error!(
                "cannot sync the journal {} ({len} bytes): {e}",
                path.display()
            );
        }
        for w in waiting.drain(..) {
            let _ = w.send(());
        }
    }
}

fn rewrite(path: &Path, bytes: &[u8]) -> std::io::Result<File> {
    let tmp = path.with_extension("journal.tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    OpenOptions::new().append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u32) -> Record {
        Record::Client {
            client: i,
            frames: vec![serde_bytes::ByteBuf::from(vec![i as u8; i as usize])],
        }
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut j, old) = Journal::open(dir.path()).unwrap();
            assert!(old.is_empty());
            for i in 0..5 {
                j.append(&rec(i));
            }
            j.append(&Record::ClientGone { client: 3 });
            j.sync();
        }
        // A crash mid-write leaves half a record.
        let path = dir.path().join(FILE_NAME);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&frame(&rec(9)).unwrap()[..7]).unwrap();
        drop(f);
        let (mut j, back) = Journal::open(dir.path()).unwrap();
        assert_eq!(back.len(), 6);
        assert_eq!(back[4], rec(4));
        assert_eq!(back[5], Record::ClientGone { client: 3 });
        j.append(&rec(7));
        j.sync();
        drop(j);
        let (_, again) = Journal::open(dir.path()).unwrap();
        assert_eq!(again.len(), 7);
        assert_eq!(again[6], rec(7));
    }

    #[test]
    fn corrupt_records_end_the_readable_part() {
        let mut data = Vec::new();
        for i in 0..3 {
            data.extend(frame(&rec(i)).unwrap());
        }
        let first_two = frame(&rec(0)).unwrap().len() + frame(&rec(1)).unwrap().len();
        data[first_two + 9] ^= 0xff;
        let (records, good) = parse(&data);
        assert_eq!(records.len(), 2);
        assert_eq!(good, first_two);
        // Random bytes never panic (`RASK_FUZZ_ITERS` raises the count; scripts/fuzz.sh).
        let iters: usize = std::env::var("RASK_FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2000);
        let mut seed = 7u64;
        for _ in 0..iters {
            let junk: Vec<u8> = (0..64)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = parse(&junk);
        }
    }

    #[test]
    fn rewrite_replaces_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        for i in 0..4 {
            j.append(&rec(i));
        }
        j.rewrite(&[rec(8)]);
        j.append(&rec(9));
        j.sync();
        drop(j);
        let (_, back) = Journal::open(dir.path()).unwrap();
        assert_eq!(back, vec![rec(8), rec(9)]);
    }
}
