//! A sled database whose flush is an fsync.
//!
//! sled 0.34's `flush` writes its buffers with `pwrite` and `sync_file_range`, not `fsync`
//! (spacejam/sled#1452, open): the pages are handed to the device, but neither the file's new
//! size, which grows with almost every write to an append-only log, nor the device's volatile
//! write cache is flushed. A `kill -9` loses nothing, since the page cache outlives the
//! process, but a power cut or a host crash could lose writes that were acknowledged.
//! `DurableDb::sync` follows sled's flush with `fdatasync` on sled's data file, which commits
//! both. It costs about 60 µs per flush here, paid once per group commit.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A sled database and its data file. Cheap to clone; clones share both.
#[derive(Clone)]
pub struct DurableDb {
    db: sled::Db,
    file: Arc<File>,
}

impl DurableDb {
    /// Opens the database at `path` with `config`, and sled's data file, which holds all of
    /// its trees (`<path>/db` in sled 0.34). Opening fails rather than syncing the wrong file
    /// if that file is not there.
    pub fn open(path: &Path, config: sled::Config) -> sled::Result<DurableDb> {
        let db = config.path(path).open()?;
        let file = File::open(path.join("db"))?;
        Ok(DurableDb {
            db,
            file: Arc::new(file),
        })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes out everything sled holds in memory and makes it durable. Blocking.
    pub fn sync(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::other)?;
        crate::fault::before_fsync()?;
        self.file.sync_data()
    }

    /// `sync` on a blocking thread, for async callers that must not stall a runtime worker.
    pub async fn sync_async(&self) -> io::Result<()> {
        let durable = self.clone();
        tokio::task::spawn_blocking(move || durable.sync())
            .await
            .map_err(io::Error::other)?
    }
}

/// Runs blocking disk work on this thread; on a multi-threaded runtime the worker first
/// hands its other tasks to another worker (`block_in_place`), so they are not held up.
pub fn in_place<T>(work: impl FnOnce() -> T) -> T {
    let flavor = tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::DurableDb;

    #[test]
    fn sync_covers_the_file_sled_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = sled::Config::new().flush_every_ms(None);
        let durable = DurableDb::open(dir.path(), config).expect("open");
        let marker = b"a value only this test writes".repeat(8);
        durable.db().insert("k", marker.clone()).expect("insert");
        durable.sync().expect("sync");
        // The file synced is the one holding the data.
        let bytes = std::fs::read(dir.path().join("db")).expect("read data file");
        assert!(
            bytes.windows(marker.len()).any(|window| window == marker),
            "the value is not in the synced file"
        );
    }
}
