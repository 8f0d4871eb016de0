//! Backups of the local database and their restore.
//!
//! A backup is a consistent copy taken while the server runs: SQLite's `VACUUM INTO`
//! on a read-only connection of its own, so the copy is one snapshot (every commit
//! before it began, none after) and the server's writers go on meanwhile (WAL). It is
//! written under a `.partial` name, checked (`PRAGMA integrity_check`, the migrations
//! it has), synced, and only then renamed to its name: a backup killed half way leaves
//! a `.partial` file, never one that reads as whole.
//!
//! A restore needs the server stopped (the data directory's lock, [`DataLock`], which
//! a running server holds); it checks the backup as above, refuses one with a
//! migration this binary does not know (a newer Agency made it), and swaps it in: the
//! database it replaces (with its WAL) is moved aside into the data directory, not
//! deleted.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags};

/// The database file in a data directory.
pub const DB_FILE: &str = "agency.db";
/// The lock a running server holds on its data directory.
pub const LOCK_FILE: &str = "agency.lock";
/// What a scheduled backup's name starts with (then the time, `YYYYMMDDTHHMMSSZ`).
const SCHEDULED_PREFIX: &str = "agency-";

/// A data directory held by one process: the server, or a restore. The lock is the
/// operating system's (released when the process ends, `kill -9` included).
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

impl DataLock {
    /// Takes `dir`'s lock, or says who holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<DataLock> {
        let path = dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(DataLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => bail!(
                "{}: another agency process (a running server) uses this data directory; stop it first",
                dir.display()
            ),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("{}: cannot lock", path.display()))
            }
        }
    }
}

/// What a checked database holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its applied migrations (`service/name`).
    pub migrations: Vec<String>,
    /// How many approvals it has.
    pub approvals: i64,
}

/// Checks the database at `path`: whole (`PRAGMA integrity_check`), and made by this
/// binary or an older one (every migration it has is one this binary knows).
pub fn check(path: &Path) -> anyhow::Result<Checked> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("{}: cannot open as SQLite", path.display()))?;
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .with_context(|| format!("{}: not a readable SQLite database", path.display()))?;
    if integrity != "ok" {
        bail!("{}: integrity check failed: {integrity}", path.display());
    }
    let migrations: Vec<String> = conn
        .prepare("SELECT service || '/' || name FROM agency_migrations ORDER BY rowid")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .with_context(|| format!("{}: not an Agency database (no migrations)", path.display()))?;
    let known: Vec<String> = crate::store::migrations()
        .iter()
        .map(|m| format!("{}/{}", m.service, m.name))
        .collect();
    let newer: Vec<&String> = migrations.iter().filter(|m| !known.contains(m)).collect();
    if !newer.is_empty() {
        bail!(
            "{}: made by a newer Agency (migrations this binary does not know: {}); restore it with that version",
            path.display(),
            newer
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let approvals = conn
        .query_row("SELECT COUNT(*) FROM approvals", [], |r| r.get(0))
        .unwrap_or(0);
    Ok(Checked {
        migrations,
        approvals,
    })
}

/// A backup taken.
#[derive(Debug, Clone)]
pub struct Taken {
    pub path: PathBuf,
    pub bytes: u64,
    pub took: Duration,
    pub checked: Checked,
}

/// `path` with `.partial` appended: where a backup is written before it is whole.
fn partial_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

/// Copies the database at `db` (a running server's) to `out`, consistently, without
/// stopping the server; refuses to overwrite `out`.
pub fn take(db: &Path, out: &Path) -> anyhow::Result<Taken> {
    let started = Instant::now();
    if !db.exists() {
        bail!("{}: no database here", db.display());
    }
    if out.exists() {
        bail!(
            "{}: exists; a backup never overwrites a file",
            out.display()
        );
    }
    let partial = partial_of(out);
    let _ = std::fs::remove_file(&partial);
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("{}: cannot open", db.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let into = partial
        .to_str()
        .with_context(|| format!("{}: not a UTF-8 path", partial.display()))?;
    let copied = conn
        .execute("VACUUM INTO ?1", [into])
        .with_context(|| format!("{}: cannot write the backup", partial.display()));
    drop(conn);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let checked = match check(&partial) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e.context("the backup written does not check"));
        }
    };
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", partial.display()))?;
    std::fs::rename(&partial, out)
        .with_context(|| format!("{}: cannot rename to {}", partial.display(), out.display()))?;
    sync_dir(out);
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(Taken {
        path: out.to_owned(),
        bytes,
        took: started.elapsed(),
        checked,
    })
}

/// Makes a rename in `file`'s directory durable (best effort where unsupported).
fn sync_dir(file: &Path) {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

/// A restore done.
#[derive(Debug, Clone)]
pub struct Restored {
    pub checked: Checked,
    /// Where the database it replaced was moved, if there was one.
    pub replaced: Option<PathBuf>,
}

/// Swaps the backup at `backup` in as `data_dir`'s database, with no server running
/// on it.
pub fn restore(backup: &Path, data_dir: &Path) -> anyhow::Result<Restored> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("{}: cannot create", data_dir.display()))?;
    let _lock = DataLock::acquire(data_dir)?;
    let checked = check(backup)?;
    let db = data_dir.join(DB_FILE);
    let incoming = data_dir.join(format!("{DB_FILE}.restoring"));
    std::fs::copy(backup, &incoming).with_context(|| {
        format!(
            "{}: cannot copy to {}",
            backup.display(),
            incoming.display()
        )
    })?;
    File::open(&incoming)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("{}: cannot sync", incoming.display()))?;
    let mut replaced = None;
    if db.exists() {
        // The old database's log is folded into it first, so that a crash at any step
        // below leaves a whole database under its name (the old one, or the restored
        // one) and no log of the old one beside the new.
        let old =
            Connection::open(&db).with_context(|| format!("{}: cannot open", db.display()))?;
        old.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .with_context(|| format!("{}: cannot checkpoint its log", db.display()))?;
        drop(old);
        let aside = data_dir.join(format!("replaced-{}", stamp(crate::store::now_ms())));
        std::fs::create_dir_all(&aside)
            .with_context(|| format!("{}: cannot create", aside.display()))?;
        let kept = aside.join(DB_FILE);
        std::fs::copy(&db, &kept)
            .and_then(|_| File::open(&kept)?.sync_all())
            .with_context(|| {
                format!("{}: cannot keep a copy in {}", db.display(), kept.display())
            })?;
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(data_dir.join(format!("{DB_FILE}{suffix}")));
        }
        replaced = Some(aside);
    }
    // One rename replaces the database whole.
    std::fs::rename(&incoming, &db)
        .with_context(|| format!("{}: cannot rename to {}", incoming.display(), db.display()))?;
    sync_dir(&db);
    Ok(Restored { checked, replaced })
}

/// `20261207T031500Z` for a time in milliseconds: sorts as it reads.
fn stamp(ms: i64) -> String {
    let (y, mo, d) = agency_approval::civil(ms);
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Whether `name` is a scheduled backup's (`agency-YYYYMMDDTHHMMSSZ.db`, then
/// `suffix`): a file named otherwise is never pruned.
fn is_scheduled(name: &str, suffix: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(SCHEDULED_PREFIX)
        .and_then(|r| r.strip_suffix(suffix))
        .and_then(|r| r.strip_suffix(".db"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 8 | 15) || c.is_ascii_digit())
}

/// The scheduled backups in `dir`, oldest first.
fn scheduled(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| is_scheduled(n, ""))
        })
        .collect();
    found.sort();
    found
}

/// The server's schedule (`[backup]`): when the newest backup in `dir` is `every` old
/// or more (or there is none), takes one, then keeps the newest `keep`. What it did.
pub fn scheduled_round(
    db: &Path,
    dir: &Path,
    every: Duration,
    keep: usize,
    now_ms: i64,
) -> anyhow::Result<Option<Taken>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    // A backup cut off by a crash left its .partial: never a backup, so it goes.
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| is_scheduled(n, ".partial"))
        {
            let _ = std::fs::remove_file(&p);
        }
    }
    // Names carry the time they were taken, and sort as they read.
    let newest = scheduled(dir).last().cloned();
    let due_after = format!(
        "{SCHEDULED_PREFIX}{}.db",
        stamp(now_ms - every.as_millis() as i64)
    );
    let due = newest.is_none_or(|p| p.file_name().and_then(|n| n.to_str()) <= Some(&due_after));
    if !due {
        return Ok(None);
    }
    let out = dir.join(format!("{SCHEDULED_PREFIX}{}.db", stamp(now_ms)));
    let taken = take(db, &out)?;
    let all = scheduled(dir);
    for old in &all[..all.len().saturating_sub(keep.max(1))] {
        std::fs::remove_file(old).with_context(|| format!("{}: cannot prune", old.display()))?;
    }
    Ok(Some(taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("agency-backup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_backup_is_whole_checked_and_never_overwrites() {
        let dir = temp("take");
        let db = dir.join(DB_FILE);
        drop(crate::store::Store::open(&db).unwrap());
        let out = dir.join("b.db");
        let t = take(&db, &out).unwrap();
        assert!(t.bytes > 0 && !partial_of(&out).exists());
        assert_eq!(t.checked.migrations.len(), crate::store::migrations().len());
        let again = take(&db, &out).unwrap_err().to_string();
        assert!(again.contains("never overwrites"), "{again}");
        // A file that is not a database, and one from a newer Agency, do not check.
        std::fs::write(dir.join("junk.db"), b"not sqlite at all, not at all").unwrap();
        assert!(check(&dir.join("junk.db")).is_err());
        let conn = Connection::open(&out).unwrap();
        conn.execute(
            "INSERT INTO agency_migrations (service, name, applied_ms) VALUES ('assistant', '9999_future', 0)",
            [],
        )
        .unwrap();
        drop(conn);
        let newer = check(&out).unwrap_err().to_string();
        assert!(
            newer.contains("newer Agency") && newer.contains("assistant/9999_future"),
            "{newer}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restore_needs_the_data_directory_free_and_keeps_what_it_replaces() {
        let dir = temp("restore");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let db = data.join(DB_FILE);
        drop(crate::store::Store::open(&db).unwrap());
        let out = dir.join("b.db");
        take(&db, &out).unwrap();
        let held = DataLock::acquire(&data).unwrap();
        let refused = restore(&out, &data).unwrap_err().to_string();
        assert!(refused.contains("stop it first"), "{refused}");
        drop(held);
        let r = restore(&out, &data).unwrap();
        let aside = r.replaced.unwrap();
        assert!(aside.join(DB_FILE).exists() && db.exists());
        assert!(crate::store::Store::open(&db).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_schedule_takes_when_due_and_keeps_the_newest() {
        let dir = temp("schedule");
        let db = dir.join(DB_FILE);
        drop(crate::store::Store::open(&db).unwrap());
        let backups = dir.join("backups");
        let day = Duration::from_secs(86_400);
        let t0 = 1_796_000_000_000;
        std::fs::create_dir_all(&backups).unwrap();
        std::fs::write(backups.join("agency-20000101T000000Z.db.partial"), b"cut").unwrap();
        for i in 0..3 {
            let took = scheduled_round(&db, &backups, day, 2, t0 + i * 86_400_000).unwrap();
            assert!(took.is_some(), "round {i}");
        }
        // Not a day after the newest yet.
        assert!(
            scheduled_round(&db, &backups, day, 2, t0 + 3 * 86_400_000 - 1000)
                .unwrap()
                .is_none()
        );
        let left = scheduled(&backups);
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(
            left[1]
                .to_str()
                .unwrap()
                .ends_with(&format!("{}.db", stamp(t0 + 2 * 86_400_000)))
        );
        assert!(!backups.join("agency-20000101T000000Z.db.partial").exists());
        // A file the schedule did not name is never pruned.
        std::fs::write(backups.join("agency-2026-12-07.db"), b"by hand").unwrap();
        scheduled_round(&db, &backups, day, 1, t0 + 9 * 86_400_000).unwrap();
        assert!(backups.join("agency-2026-12-07.db").exists());
        assert_eq!(scheduled(&backups).len(), 1);
        assert_eq!(stamp(t0), "20261130T005320Z");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
