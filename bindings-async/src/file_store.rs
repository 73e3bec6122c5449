//! A [`TokenStore`] for the processes of one machine: the snapshot in a JSON file, and
//! beside it a lock file that serializes every change and records the refresh lease.

use crate::shared_store::{Swap, TokenStore};
use crate::store::{io, write_atomically, JsonFileStore, StoreError};
use async_trait::async_trait;
use bearerflow::session::Snapshot;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A shared store for the processes of one machine.
///
/// - The snapshot is `path`, written atomically ([`JsonFileStore`]: a temporary file,
///   flushed, renamed over the target; mode `0600`).
/// - `path` + `.lock` is an advisory lock file (`flock(2)`), held only for the moment a
///   compare-and-swap or a lease change takes, never across a refresh, so a process
///   that dies while holding it (the kernel releases `flock` locks with the process)
///   blocks nobody.
/// - The refresh lease is a record in the lock file: the holder's random id and the
///   unix millisecond its lease runs out. A dead holder's lease runs out by itself.
/// - Changes are found by polling the snapshot file's metadata (inode, size,
///   modification time: the atomic rename gives every save a new inode) every
///   [`FileTokenStore::poll_interval`], and reading the file when it changed.
///
/// The processes must share a clock (one machine does) for lease expiry.
#[derive(Debug)]
pub struct FileTokenStore {
    file: JsonFileStore,
    lock: PathBuf,
    holder: String,
    poll: Duration,
}

impl FileTokenStore {
    /// A store at `path` (created on the first save), its lock file beside it.
    pub fn new(path: impl Into<PathBuf>) -> Result<FileTokenStore, StoreError> {
        let path = path.into();
        let mut lock = path.clone().into_os_string();
        lock.push(".lock");
        let mut id = [0u8; 16];
        getrandom::fill(&mut id)
            .map_err(|e| StoreError::Other(format!("no random holder id: {e}")))?;
        let holder: String = id.iter().map(|b| format!("{b:02x}")).collect();
        Ok(FileTokenStore {
            file: JsonFileStore::new(path),
            lock: PathBuf::from(lock),
            holder,
            poll: Duration::from_millis(100),
        })
    }

    /// How often [`TokenStore::changed`] looks at the file (default 100 ms).
    pub fn poll_interval(mut self, every: Duration) -> FileTokenStore {
        self.poll = every.max(Duration::from_millis(1));
        self
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The lock file.
    pub fn lock_path(&self) -> &Path {
        &self.lock
    }

    /// Run `f` on the lock file while holding its exclusive `flock`.
    async fn locked<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut std::fs::File, &Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let lock = self.lock.clone();
        let target = self.file.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut file = open_lock(&lock)?;
            flock(&file, &lock)?;
            // Unlocked when `file` is closed.
            f(&mut file, &target)
        })
        .await
        .map_err(|e| StoreError::Other(format!("the store task failed: {e}")))?
    }
}

fn open_lock(lock: &Path) -> Result<std::fs::File, StoreError> {
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(dir).map_err(|e| io(dir, e))?;
        }
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(lock).map_err(|e| io(lock, e))
}

#[cfg(unix)]
fn flock(file: &std::fs::File, path: &Path) -> Result<(), StoreError> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| io(path, e.into()))
}

#[cfg(not(unix))]
fn flock(_file: &std::fs::File, _path: &Path) -> Result<(), StoreError> {
    Err(StoreError::Other(
        "FileTokenStore needs flock(2): unix only".to_string(),
    ))
}

fn read_snapshot(path: &Path) -> Result<Option<Snapshot>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    Snapshot::from_json(&bytes)
        .map(Some)
        .map_err(|error| StoreError::Snapshot {
            path: path.to_path_buf(),
            error,
        })
}

/// The lease record: `<holder> <until unix ms>`. Anything else (empty, a torn write)
/// is no lease.
fn read_lease(file: &mut std::fs::File, path: &Path) -> Result<Option<(String, u64)>, StoreError> {
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| io(path, e))?;
    if file.read_to_string(&mut text).is_err() {
        return Ok(None);
    }
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next().and_then(|u| u.parse().ok())) {
        (Some(holder), Some(until)) => Ok(Some((holder.to_string(), until))),
        _ => Ok(None),
    }
}

fn write_lease(file: &mut std::fs::File, path: &Path, record: &str) -> Result<(), StoreError> {
    (|| {
        file.set_len(0)?;
        file.seek(std::io::SeekFrom::Start(0))?;
        file.write_all(record.as_bytes())?;
        file.sync_data()
    })()
    .map_err(|e| io(path, e))
}

/// What identifies one version of the snapshot file.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Stamp {
    ino: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some(Stamp {
        ino,
        len: m.len(),
        modified: m.modified().ok(),
    })
}

#[async_trait]
impl TokenStore for FileTokenStore {
    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        crate::Store::load(&self.file).await
    }

    async fn swap(&self, snapshot: &Snapshot) -> Result<Swap, StoreError> {
        let json = snapshot.to_json();
        let revision = snapshot.revision;
        self.locked(move |_, target| {
            if let Some(current) = read_snapshot(target)? {
                if current.revision >= revision {
                    return Ok(Swap::Conflict(Box::new(current)));
                }
            }
            write_atomically(target, json.as_bytes())?;
            Ok(Swap::Stored)
        })
        .await
    }

    async fn acquire_lease(&self, ttl: Duration) -> Result<bool, StoreError> {
        let holder = self.holder.clone();
        let ttl = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let lock = self.lock.clone();
        self.locked(move |file, _| {
            let now = crate::now().0;
            if let Some((who, until)) = read_lease(file, &lock)? {
                if who != holder && until > now {
                    return Ok(false);
                }
            }
            write_lease(
                file,
                &lock,
                &format!("{holder} {}\n", now.saturating_add(ttl)),
            )?;
            Ok(true)
        })
        .await
    }

    async fn release_lease(&self) -> Result<(), StoreError> {
        let holder = self.holder.clone();
        let lock = self.lock.clone();
        self.locked(move |file, _| {
            if let Some((who, _)) = read_lease(file, &lock)? {
                if who == holder {
                    write_lease(file, &lock, "")?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn changed(&self, seen: u64) -> Result<Snapshot, StoreError> {
        let mut last: Option<Option<Stamp>> = None;
        loop {
            let now = stamp(self.file.path());
            if last != Some(now) {
                last = Some(now);
                if now.is_some() {
                    if let Some(s) = TokenStore::load(self).await? {
                        if s.revision > seen {
                            return Ok(s);
                        }
                    }
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bearerflow::session::SNAPSHOT_VERSION;

    fn snapshot(revision: u64) -> Snapshot {
        Snapshot {
            version: SNAPSHOT_VERSION,
            revision,
            ..Snapshot::default()
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bearerflow-filetokenstore-{name}-{}-{}",
            std::process::id(),
            crate::now().0
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("tokens.json")
    }

    #[tokio::test]
    async fn swap_keeps_only_newer_revisions() {
        let path = temp("swap");
        let a = FileTokenStore::new(&path).unwrap();
        assert!(matches!(a.swap(&snapshot(1)).await.unwrap(), Swap::Stored));
        assert!(matches!(a.swap(&snapshot(2)).await.unwrap(), Swap::Stored));
        match a.swap(&snapshot(2)).await.unwrap() {
            Swap::Conflict(s) => assert_eq!(s.revision, 2),
            Swap::Stored => panic!("an equal revision replaced the stored one"),
        }
        match a.swap(&snapshot(1)).await.unwrap() {
            Swap::Conflict(s) => assert_eq!(s.revision, 2),
            Swap::Stored => panic!("an older revision replaced the stored one"),
        }
        // A retry after a failed save skips a revision: still newer, still stored.
        assert!(matches!(a.swap(&snapshot(4)).await.unwrap(), Swap::Stored));
        assert_eq!(a.load().await.unwrap().map(|s| s.revision), Some(4));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn one_lease_holder_until_release_or_expiry() {
        let path = temp("lease");
        let a = FileTokenStore::new(&path).unwrap();
        let b = FileTokenStore::new(&path).unwrap();
        assert!(a.acquire_lease(Duration::from_secs(60)).await.unwrap());
        assert!(!b.acquire_lease(Duration::from_secs(60)).await.unwrap());
        // Renewed by its holder.
        assert!(a.acquire_lease(Duration::from_secs(60)).await.unwrap());
        // Releasing someone else's lease does nothing.
        b.release_lease().await.unwrap();
        assert!(!b.acquire_lease(Duration::from_secs(60)).await.unwrap());
        a.release_lease().await.unwrap();
        assert!(b.acquire_lease(Duration::from_millis(1)).await.unwrap());
        // b's lease ran out (1 ms, and a write under the lock since): a takes it.
        let until = crate::now().0 + 2;
        while crate::now().0 <= until {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(a.acquire_lease(Duration::from_secs(60)).await.unwrap());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn changed_returns_a_newer_revision() {
        let path = temp("changed");
        let a = FileTokenStore::new(&path)
            .unwrap()
            .poll_interval(Duration::from_millis(5));
        let b = std::sync::Arc::new(FileTokenStore::new(&path).unwrap());
        a.swap(&snapshot(1)).await.unwrap();
        let waiter = {
            let b = std::sync::Arc::clone(&b);
            tokio::spawn(async move { b.changed(1).await })
        };
        a.swap(&snapshot(2)).await.unwrap();
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.revision, 2);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
