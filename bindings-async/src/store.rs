//! Where snapshots go: `Action::Persist` is awaited before the driver runs any later
//! action, because with rotating refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2)
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
    /// Store `snapshot` durably, replacing the previous one. The driver awaits this
    /// before it performs any later action.
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

fn io(path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        error,
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
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
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path, e));
    }
    Ok(())
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
            version: SNAPSHOT_VERSION,
            tokens: Some(StoredTokens {
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
