//! Where snapshots go: an `Action::Persist` is stored before any action drained after
//! it runs (whichever task drained it), because with rotating refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)
//! the old refresh token is already spent when the new one arrives.

use async_trait::async_trait;
use bearerflow::session::{Snapshot, SnapshotError};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A snapshot could not be saved or loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The file system failed.
    Io {
        /// The file involved.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The stored snapshot cannot be read (not a snapshot, or from a newer version).
    Snapshot {
        /// The file involved.
        path: PathBuf,
        /// Why.
        error: SnapshotError,
    },
    /// A store-specific failure.
    Other(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            StoreError::Snapshot { path, error } => write!(f, "{}: {error}", path.display()),
            StoreError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { error, .. } => Some(error),
            StoreError::Snapshot { error, .. } => Some(error),
            StoreError::Other(_) => None,
        }
    }
}

/// Durable storage for one session's [`Snapshot`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Store `snapshot` durably, replacing the previous one. Every action the session
    /// emitted after this `Persist` waits until it returns.
    async fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The stored snapshot, if there is one.
    async fn load(&self) -> Result<Option<Snapshot>, StoreError>;
}

/// Keeps the snapshot in memory: for tests and for processes that start fresh each time.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<(Option<Snapshot>, u64)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that already holds `snapshot` (a previous process's tokens).
    pub fn with(snapshot: Snapshot) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new((Some(snapshot), 0)),
        }
    }

    /// The snapshot held now.
    pub fn get(&self) -> Option<Snapshot> {
        match self.inner.lock() {
            Ok(g) => g.0.clone(),
            Err(p) => p.into_inner().0.clone(),
        }
    }

    /// How many times [`Store::save`] was called.
    pub fn saves(&self) -> u64 {
        match self.inner.lock() {
            Ok(g) => g.1,
            Err(p) => p.into_inner().1,
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.0 = Some(snapshot.clone());
        g.1 += 1;
        Ok(())
    }

    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        Ok(self.get())
    }
}

/// One JSON file per session ([`Snapshot::to_json`]). Saves are atomic: the snapshot is
/// written to a temporary file beside the target, flushed to disk, then renamed over
/// it, so a crash leaves either the old or the new snapshot, never half of one. On unix
/// the file is created with mode `0600` and a missing parent directory with `0700`:
/// it holds refresh tokens.
///
/// The temporary file has a random name in the store's directory and is created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`: a file or a symbolic link planted at a predictable
/// name cannot make a save write through it (the open fails, and a fresh random name
/// is tried), and the rename replaces a link at the target itself rather than
/// following it.
#[derive(Debug, Clone)]
pub struct JsonFileStore {
    path: PathBuf,
}

impl JsonFileStore {
    /// A store at `path` (created on the first save).
    pub fn new(path: impl Into<PathBuf>) -> JsonFileStore {
        JsonFileStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
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
    let (tmp, mut file) = create_temporary(path, &mut random_suffix).map_err(|e| io(path, e))?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        sync_directory(path);
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    Ok(())
}

/// Attempts at a fresh random temporary name before giving up (a collision of 64
/// random bits means someone is planting files; a few tries tell that from bad luck).
const TEMPORARY_ATTEMPTS: usize = 4;

/// Create a new temporary file beside `path`, `<name>.<16 hex digits>.tmp`, exclusively
/// and without following a link (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode `0600` on unix;
/// `create_new` elsewhere, which is exclusive too).
fn create_temporary(
    path: &Path,
    suffix: &mut dyn FnMut() -> std::io::Result<u64>,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    let base = path.file_name().unwrap_or_default().to_os_string();
    let mut last = None;
    for _ in 0..TEMPORARY_ATTEMPTS {
        let mut name = base.clone();
        name.push(format!(".{:016x}.tmp", suffix()?));
        let tmp = path.with_file_name(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        }
        match options.open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary file could be created")))
}

/// 64 random bits from the operating system.
fn random_suffix() -> std::io::Result<u64> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(u64::from_le_bytes(random))
}

/// Flush the directory entry of a rename to disk (unix; best effort: the data is
/// already synced, and some file systems refuse to sync a directory).
fn sync_directory(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[async_trait]
impl Store for JsonFileStore {
    async fn save(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let json = snapshot.to_json();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_atomically(&path, json.as_bytes()))
            .await
            .map_err(|e| StoreError::Other(format!("the save task failed: {e}")))?
    }

    async fn load(&self) -> Result<Option<Snapshot>, StoreError> {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&self.path, e)),
        };
        Snapshot::from_json(&bytes)
            .map(Some)
            .map_err(|error| StoreError::Snapshot {
                path: self.path.clone(),
                error,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bearerflow::session::{StoredTokens, SNAPSHOT_VERSION};

    fn snapshot(access: &str) -> Snapshot {
        Snapshot {
            revision: 0,
            client_issuer: None,
            version: SNAPSHOT_VERSION,
            tokens: Some(StoredTokens {
                issuer: None,
                access_token: access.into(),
                refresh_token: Some("rt-secret".into()),
                received_at: 1,
                expires_at: Some(2),
                scope: None,
                generation: 3,
                refresh_at: None,
            }),
            client: None,
            server: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "bearerflow-async-{name}-{}-{}",
            std::process::id(),
            crate::now().0
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn file_store_round_trips_and_replaces() {
        let dir = temp_dir("store");
        let store = JsonFileStore::new(dir.join("nested").join("s.json"));
        assert!(store.load().await.unwrap().is_none());
        store.save(&snapshot("at-1")).await.unwrap();
        store.save(&snapshot("at-2")).await.unwrap();
        let back = store.load().await.unwrap().unwrap();
        assert_eq!(back, snapshot("at-2"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(dir.join("nested"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_planted_link_is_never_written_through() {
        let dir = temp_dir("planted");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        // Links at every name the old scheme used, and at the target itself.
        let pid = std::process::id();
        for name in [format!("s.json.tmp{pid}"), "s.json.tmp".to_string()] {
            std::os::unix::fs::symlink(&victim, dir.join(name)).unwrap();
        }
        let store = JsonFileStore::new(&path);
        store.save(&snapshot("at-1")).await.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(store.load().await.unwrap(), Some(snapshot("at-1")));
        // The target a symlink: the rename replaces the link, not the file it names.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        store.save(&snapshot("at-2")).await.unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        // A link (even a dangling one) at the temporary name itself: O_EXCL |
        // O_NOFOLLOW refuse it, and the next name is used.
        std::fs::remove_file(&victim).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("s.json.0000000000000001.tmp")).unwrap();
        let mut next = 0u64;
        let (tmp, _file) = create_temporary(&path, &mut || {
            next += 1;
            Ok(next)
        })
        .unwrap();
        assert_eq!(tmp, dir.join("s.json.0000000000000002.tmp"));
        assert!(!victim.exists(), "the link was not followed");
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&tmp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Links at every name: a typed error, nothing written anywhere.
        let err = create_temporary(&path, &mut || Ok(1)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(!victim.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn corrupt_file_is_a_typed_error() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        std::fs::write(&path, b"{not json").unwrap();
        let err = JsonFileStore::new(&path).load().await.unwrap_err();
        assert!(matches!(err, StoreError::Snapshot { .. }), "{err}");
        assert!(err.to_string().contains("s.json"));
        std::fs::write(&path, br#"{"version": 99}"#).unwrap();
        let err = JsonFileStore::new(&path).load().await.unwrap_err();
        assert!(err.to_string().contains("99"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn memory_store_counts_saves() {
        let store = MemoryStore::new();
        assert!(store.load().await.unwrap().is_none());
        store.save(&snapshot("a")).await.unwrap();
        store.save(&snapshot("b")).await.unwrap();
        assert_eq!(store.saves(), 2);
        assert_eq!(store.get(), Some(snapshot("b")));
        // Debug never shows the tokens.
        let dbg = format!("{store:?}");
        assert!(
            !dbg.contains("rt-secret") && !dbg.contains("\"b\""),
            "{dbg}"
        );
    }
}
