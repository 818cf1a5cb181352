//! Reload on file change: the config file, every `file:` secret of the
//! sources (and Meta's verify token) and the TLS certificate and key are watched, and a change to any
//! of them reloads the configuration as SIGHUP does (all or nothing).
//!
//! Folders are watched, not files: editors and Kubernetes replace a file by
//! renaming another over it (a mounted Secret swaps its `..data` symlink), and
//! a watch on the old file would see nothing after the first rename. Events
//! are merged over [`SETTLE`], and a reload happens only when some watched
//! file's content differs from what the last look saw, so a burst of writes
//! is one reload and an unrelated file in the same folder is none.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc;

use crate::config::Config;

/// Quiet time after the last event before the files are looked at: long
/// enough for a writer to finish (a certificate and its key are written one
/// after the other), short enough that a rotation applies at once.
pub const SETTLE: Duration = Duration::from_millis(500);

/// The files a reload reads: the config file, the sources' `file:`
/// secrets and the TLS certificate and key. (The `[kafka.client]` files are
/// read by Kafka clients made at start-up: a change to them needs a restart.)
pub fn files(config: &Config, path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    for source in &config.sources {
        files.extend(
            source
                .secrets
                .iter()
                .chain(&source.verify_token)
                .filter_map(|secret| secret.strip_prefix("file:"))
                .map(|file| config.base_dir.join(file)),
        );
    }
    if let Some(tls) = &config.server.tls {
        files.push(config.base_dir.join(&tls.certificate));
        files.push(config.base_dir.join(&tls.key));
    }
    files
}

/// Watches a set of files for changes of content.
pub struct FileWatch {
    debouncer: Debouncer<RecommendedWatcher>,
    events: mpsc::UnboundedReceiver<DebounceEventResult>,
    folders: BTreeSet<PathBuf>,
    /// Each file's content as last seen (`None`: unreadable).
    seen: BTreeMap<PathBuf, Option<u64>>,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileWatch")
            .field("files", &self.seen.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FileWatch {
    /// Starts watching `files` (their folders, that is).
    pub fn new(files: Vec<PathBuf>) -> Result<Self, String> {
        let (sender, events) = mpsc::unbounded_channel();
        let debouncer = new_debouncer(SETTLE, move |result: DebounceEventResult| {
            let _ = sender.send(result);
        })
        .map_err(|err| format!("cannot watch the configuration's files: {err}"))?;
        let mut watch = Self {
            debouncer,
            events,
            folders: BTreeSet::new(),
            seen: BTreeMap::new(),
        };
        watch.watch(files);
        Ok(watch)
    }

    /// Watches `files` from now on, in place of the previous set (a reload
    /// may name other secret files). A file watched already keeps the
    /// content last seen of it, so that a write during the reload is still
    /// news to the next look; a new one is read now.
    pub fn watch(&mut self, files: Vec<PathBuf>) {
        let mut before = std::mem::take(&mut self.seen);
        self.seen = files
            .into_iter()
            .map(|file| {
                let content = before.remove(&file).unwrap_or_else(|| fingerprint(&file));
                (file, content)
            })
            .collect();
        let folders: BTreeSet<PathBuf> = self.seen.keys().map(|file| folder_of(file)).collect();
        for gone in self.folders.difference(&folders) {
            let _ = self.debouncer.watcher().unwatch(gone);
        }
        for folder in folders.difference(&self.folders) {
            if let Err(err) = self
                .debouncer
                .watcher()
                .watch(folder, RecursiveMode::NonRecursive)
            {
                tracing::warn!(folder = %folder.display(), "cannot watch for changes (a change there needs SIGHUP): {err}");
            }
        }
        self.folders = folders;
    }

    /// Waits until a watched file's content changes; returns the files that
    /// did.
    pub async fn changed(&mut self) -> Vec<PathBuf> {
        loop {
            match self.events.recv().await {
                Some(Ok(_events)) => {
                    let changed = self.look();
                    if !changed.is_empty() {
                        return changed;
                    }
                }
                // A lost event (the kernel's queue overflowed) may hide a
                // change: look at every file.
                Some(Err(err)) => {
                    tracing::warn!("watching the configuration's files: {err}");
                    let changed = self.look();
                    if !changed.is_empty() {
                        return changed;
                    }
                }
                // The debouncer is owned here and lives as long: never.
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// The files whose content is not what it was, now remembered as it is.
    fn look(&mut self) -> Vec<PathBuf> {
        let mut changed = Vec::new();
        for (file, seen) in &mut self.seen {
            let now = fingerprint(file);
            if now != *seen {
                *seen = now;
                changed.push(file.clone());
            }
        }
        changed
    }
}

fn folder_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// What the file holds, as a hash: secrets are compared, never kept.
fn fingerprint(file: &Path) -> Option<u64> {
    let content = std::fs::read(file).ok()?;
    let mut hasher = DefaultHasher::new();
    content.hash(&mut hasher);
    Some(hasher.finish())
}
