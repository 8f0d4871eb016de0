//! `agency backup` under write load and `agency restore`: every approval acknowledged
//! before the backup began is in it, the restored server's ledger equals its
//! approvals, and it serves. A restore under a running server is refused.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::approvals_crash::held_and_approved;
use crate::util::*;

#[test]
fn a_backup_under_load_holds_every_acknowledged_approval_and_restores() {
    let data = TempDir::new("backup-data");
    let out = TempDir::new("backup-out");
    let file = out.path().join("agency-backup.db");
    let file_s = file.to_str().unwrap().to_owned();
    let data_s = data.path().to_str().unwrap().to_owned();
    let server = Server::start(data.path(), &["--example"], true);
    // (task, acknowledged at) for every approval answered.
    let acked: Mutex<Vec<(String, Instant)>> = Mutex::new(Vec::new());
    let stop = AtomicBool::new(false);
    let began = std::thread::scope(|s| {
        for t in 0..3 {
            let (base, acked, stop) = (server.base.clone(), &acked, &stop);
            s.spawn(move || {
                let agent = agent();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let task = format!("backup-{t}-{i}");
                    let body = json!({"taskId": task, "agent": "research", "action": "read",
                        "description": "under backup", "estimatedCostUsd": 0.0001})
                    .to_string();
                    let mut r = agent
                        .post(format!("{base}/api/approve"))
                        .header("authorization", &format!("Bearer {GATEWAY}"))
                        .header("content-type", "application/json")
                        .send(body)
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    let v: Value = r.body_mut().read_json().unwrap();
                    assert_eq!(v["decision"], "approved", "{v}");
                    acked.lock().unwrap().push((task, Instant::now()));
                }
            });
        }
        std::thread::sleep(Duration::from_millis(1500));
        let began = Instant::now();
        let (code, stdout, stderr) =
            agency_with(&["backup", "--out", &file_s, "--data", &data_s], &[]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("backup of"), "{stdout}");
        // Never over an existing file.
        let (code, _, stderr) = agency_with(&["backup", "--out", &file_s, "--data", &data_s], &[]);
        assert_ne!(code, 0);
        assert!(stderr.contains("never overwrites"), "{stderr}");
        stop.store(true, Ordering::SeqCst);
        began
    });
    // The server holds its data directory: no restore under it.
    let (code, _, stderr) = agency_with(&["restore", &file_s, "--data", &data_s], &[]);
    assert_ne!(code, 0);
    assert!(stderr.contains("stop it first"), "{stderr}");
    drop(server);

    let (code, stdout, stderr) = agency_with(&["restore", &file_s, "--data", &data_s], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("restored into"), "{stdout}");
    let server = Server::start(data.path(), &["--example"], true);
    let acked = acked.into_inner().unwrap();
    let before: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at < began)
        .map(|(t, _)| t)
        .collect();
    assert!(
        before.len() > 100,
        "only {} approvals before the backup",
        before.len()
    );
    let mut stored = std::collections::HashSet::new();
    let mut page = String::new();
    loop {
        let (s, list) = get(
            &server.url(&format!("/api/approvals?limit=1000{page}")),
            OPERATOR,
        );
        assert_eq!(s, 200, "{list}");
        let list = list["approvals"].as_array().unwrap().clone();
        for a in &list {
            assert_eq!(a["decision"], "approved", "{a}");
            stored.insert(a["taskId"].as_str().unwrap().to_owned());
        }
        match list.last() {
            Some(last) => page = format!("&before={}", last["number"]),
            None => break,
        }
    }
    let missing: Vec<&&String> = before.iter().filter(|t| !stored.contains(**t)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} approvals acknowledged before the backup began are not in it: {:?}",
        missing.len(),
        before.len(),
        &missing[..missing.len().min(5)]
    );
    // The ledger holds what the approvals hold (a reservation the snapshot caught
    // without its approval is given back at start).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (held, approved) = loop {
        let (held, approved) = held_and_approved(&server, OPERATOR);
        if held == approved || Instant::now() > deadline {
            break (held, approved);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        held, approved,
        "the ledger holds {held} µ$, the approvals {approved} µ$"
    );
    let (s, _) = get(&server.url("/health"), OPERATOR);
    assert_eq!(s, 200);
    eprintln!(
        "backup: {} approvals acknowledged in all, {} before the backup began, {} in the backup",
        acked.len(),
        before.len(),
        stored.len()
    );
    // What the restore replaced is kept beside it.
    assert!(
        std::fs::read_dir(data.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("replaced-")),
        "the replaced database is not kept"
    );
}

/// `[backup]`: a server with no backup yet takes one at start, into its `dir`.
#[test]
fn a_scheduled_backup_is_taken_at_start_when_due() {
    let data = TempDir::new("backup-scheduled");
    let dir = data.path().join("nightly");
    let config = data.path().join("agency.toml");
    std::fs::write(
        &config,
        format!(
            "[backup]\nevery = \"1d\"\nkeep = 2\ndir = {:?}\n",
            dir.to_str().unwrap()
        ),
    )
    .unwrap();
    let server = Server::start(
        data.path(),
        &["--example", "--config", config.to_str().unwrap()],
        true,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let taken = loop {
        let found: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("agency-") && n.ends_with(".db"))
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(taken.len(), 1, "{taken:?}");
    drop(server);
    // A config that asks for backups too often is refused at load, naming the key.
    std::fs::write(&config, "[backup]\nevery = \"5s\"\n").unwrap();
    let e = agency::config::Config::load(Some(&config), Vec::new()).unwrap_err();
    assert!(e.contains("backup.every"), "{e}");
}

/// `kill -9` in the middle of a backup leaves no file under the backup's name (only a
/// `.partial`), so nothing half-written reads as a backup.
#[test]
fn a_backup_killed_half_way_leaves_nothing_that_reads_as_whole() {
    let data = TempDir::new("backup-killed");
    let db = data.path().join("agency.db");
    drop(agency::store::Store::open(&db).unwrap());
    {
        // About 60 MB, so the copy takes long enough to be cut.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE filler (x BLOB);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
             INSERT INTO filler SELECT randomblob(1000) FROM n;",
        )
        .unwrap();
    }
    let mut cut = 0;
    for (i, delay) in [20u64, 60, 120].into_iter().enumerate() {
        let out = data.path().join(format!("b{i}.db"));
        let mut child = std::process::Command::new(bin())
            .args(["backup", "--out", out.to_str().unwrap(), "--data"])
            .arg(data.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let finished = child.wait().unwrap().success();
        if finished {
            agency::backup::check(&out).expect("a finished backup checks");
        } else {
            cut += 1;
            assert!(
                !out.exists(),
                "a backup killed after {delay} ms left {out:?}"
            );
        }
    }
    assert!(
        cut > 0,
        "no backup was cut: the database is too small to test this"
    );
}
