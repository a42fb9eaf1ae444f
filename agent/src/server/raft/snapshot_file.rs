//! Snapshot files on disk: written atomically, the newest one wins.
//!
//! A file is `snapshot-<term>-<index>.bin`, named after the last log id it covers, and holds
//! `MAGIC`, the length of the header as a little-endian `u32`, the header (`SnapshotHeader`,
//! a versioned record: the Raft metadata and the length of the data), then the catalog's own
//! snapshot bytes. Rules:
//! 1. A file is written as `<name>.tmp`, fsynced, renamed into place, and then the directory
//!    is fsynced, so a crash leaves either the old snapshot or the complete new one.
//! 2. After a write, files older than the new one are deleted. A deletion lost in a crash is
//!    harmless, because readers take the newest file.
//! 3. Writes are serialised by a lock: openraft builds snapshots in a spawned task, which can
//!    overlap with installing one received from the leader.
//! 4. A header longer than `HEADER_BYTES_MAX`, or data shorter or longer than the header says,
//!    is an error, never a partial read.

use super::record::SnapshotHeader;
use super::types::SnapshotMeta;
use legate_catalog::codec;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".bin";
const TEMP_SUFFIX: &str = ".tmp";

/// The header holds a membership of a handful of servers; a megabyte is far beyond that,
/// and bounds what a corrupt length prefix could make the decoder allocate.
const HEADER_BYTES_MAX: u64 = 1 << 20;

/// Marks a Legate snapshot file; files of other origins (or of the unversioned format of
/// Legate 0.1) are refused by name rather than misread.
const MAGIC: &[u8; 8] = b"LGSNAP\0\x01";

fn invalid(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// The directory of snapshot files. Clones share the write lock.
#[derive(Clone, Debug)]
pub struct SnapshotDir {
    path: PathBuf,
    write_lock: Arc<Mutex<()>>,
}

impl SnapshotDir {
    /// Creates the directory if needed and removes temp files left by a crash mid-write.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<SnapshotDir> {
        let path = path.into();
        fs::create_dir_all(&path)?;
        for entry in fs::read_dir(&path)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(TEMP_SUFFIX) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(SnapshotDir {
            path,
            write_lock: Arc::default(),
        })
    }

    /// Writes a snapshot durably (rule 1) and deletes older ones (rule 2).
    pub fn write(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        self.write_with(meta, data.len() as u64, |writer| writer.write_all(data))
    }

    /// Like `write`, but the data is produced by `write_data` straight into the file, so a
    /// large snapshot never sits whole in memory. `write_data` must write exactly
    /// `data_len` bytes; anything else is an error and leaves no snapshot behind.
    pub fn write_with(
        &self,
        meta: &SnapshotMeta,
        data_len: u64,
        write_data: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let position = position(meta);
        let name = format!("{PREFIX}{}-{}{SUFFIX}", position.0, position.1);
        let final_path = self.path.join(&name);
        let temp_path = self.path.join(format!("{name}{TEMP_SUFFIX}"));
        let file = File::create(&temp_path)?;
        let mut writer = BufWriter::new(&file);
        let header = codec::encode(&SnapshotHeader::new(meta, data_len));
        writer.write_all(MAGIC)?;
        writer.write_all(&(header.len() as u32).to_le_bytes())?;
        writer.write_all(&header)?;
        let mut counted = Counted {
            inner: &mut writer,
            written: 0,
        };
        let produced = write_data(&mut counted);
        let written = counted.written;
        if let Err(error) = produced.and_then(|()| {
            if written == data_len {
                Ok(())
            } else {
                Err(invalid(format!(
                    "snapshot data was {written} bytes, not {data_len}"
                )))
            }
        }) {
            drop(writer);
            let _ = fs::remove_file(&temp_path);
            return Err(error);
        }
        writer.flush()?;
        drop(writer);
        file.sync_all()?;
        fs::rename(&temp_path, &final_path)?;
        sync_dir(&self.path)?;
        for (older, path) in self.list()? {
            if older < position {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// Reads the newest snapshot, if there is one.
    pub fn latest(&self) -> io::Result<Option<(SnapshotMeta, Vec<u8>)>> {
        let newest = self
            .list()?
            .into_iter()
            .max_by_key(|(position, _)| *position);
        match newest {
            None => Ok(None),
            Some((_, path)) => read(&path).map(Some),
        }
    }

    /// The snapshot files with their (term, index), in no particular order.
    fn list(&self) -> io::Result<Vec<((u64, u64), PathBuf)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name();
            if let Some(position) = parse_name(&name.to_string_lossy()) {
                files.push((position, entry.path()));
            }
        }
        Ok(files)
    }
}

/// Where a snapshot sits in the log: (term, index) of its last log id, which orders
/// snapshots the way log ids order.
fn position(meta: &SnapshotMeta) -> (u64, u64) {
    meta.last_log_id
        .as_ref()
        .map_or((0, 0), |log_id| (log_id.leader_id.term, log_id.index))
}

fn parse_name(name: &str) -> Option<(u64, u64)> {
    let middle = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (term, index) = middle.split_once('-')?;
    Some((term.parse().ok()?, index.parse().ok()?))
}

fn read(path: &Path) -> io::Result<(SnapshotMeta, Vec<u8>)> {
    decode(BufReader::new(File::open(path)?), path)
}

/// Reads a snapshot file's contents from `reader` (rule 4); `path` names it in errors.
pub fn decode(mut reader: impl Read, path: &Path) -> io::Result<(SnapshotMeta, Vec<u8>)> {
    let mut magic = [0u8; 8];
    reader.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(invalid(format!(
            "{} is not a snapshot this release can read (unknown format marker)",
            path.display()
        )));
    }
    let mut length = [0u8; 4];
    reader.read_exact(&mut length)?;
    let length = u64::from(u32::from_le_bytes(length));
    if length > HEADER_BYTES_MAX {
        return Err(invalid(format!(
            "{}: a {length}-byte snapshot header is past the limit",
            path.display()
        )));
    }
    let mut header = vec![0u8; length as usize];
    reader.read_exact(&mut header)?;
    let header: SnapshotHeader = codec::decode(&header).map_err(invalid)?;
    let (meta, data_len) = (header.meta(), header.data_len());
    let mut data = Vec::new();
    // One byte past the promised length is enough to notice a longer file.
    reader
        .take(data_len.saturating_add(1))
        .read_to_end(&mut data)?;
    if data.len() as u64 != data_len {
        return Err(invalid(format!(
            "{}: the data does not match the {data_len} bytes its header promises",
            path.display(),
        )));
    }
    Ok((meta, data))
}

/// Makes a rename in `dir` durable (POSIX needs the directory itself fsynced).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Counts the bytes written through it, to check a streamed snapshot's length.
struct Counted<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
