//! Retention: records past their period are archived (gzipped NDJSON per kind and day)
//! and then deleted; what is recent or still in flight stays; the archive reads back
//! with `agency archive read`; archiving the same rows again (a crash between the
//! archive and the delete) writes the same files, not a second copy.

use agency::retention::{RetentionConfig, round};
use rusqlite::params;

use crate::util::*;

const DAY: i64 = 86_400_000;

/// A real routing decision's JSON, as the router stores it.
fn a_decision() -> String {
    let (code, out, err) = agency_with(
        &["route", "--graph", "examples/graph", "deploy the hotfix"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out)
        .unwrap()
        .to_string()
}

fn seed(db: &std::path::Path, now: i64, decision: &str) {
    let c = rusqlite::Connection::open(db).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for i in 0..2500i64 {
        // Spread over three old days, and a recent one each tenth.
        let at = if i % 10 == 0 {
            now - DAY
        } else {
            now - (100 + i % 3) * DAY + i
        };
        let id = format!("dec_{i:05}");
        tx.execute(
            "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, 'deploy it', 'slack', 'devops', 'keyword', 'g1', ?3)",
            params![id, at, decision],
        )
        .unwrap();
        if i % 2 == 0 {
            tx.execute(
                "INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?1, 'codegen', ?2)",
                params![id, at + 1],
            )
            .unwrap();
        }
    }
    for (i, status) in ["done", "dead", "queued", "held"].iter().enumerate() {
        let id = format!("evt_{i}");
        tx.execute(
            "INSERT INTO webhook_events (id, platform, source, platform_event_id, kind, event_json, status, next_at_ms, received_ms, updated_ms) VALUES (?1, 'slack', 'T1', ?1, 'message', '{}', ?2, 0, ?3, ?3)",
            params![id, status, now - 40 * DAY],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO webhook_attempts (event_id, n, at_ms, ms, status) VALUES (?1, 1, ?2, 5, 200)",
            params![id, now - 40 * DAY],
        )
        .unwrap();
    }
    for (at, kind) in [(now - 400 * DAY, "halt"), (now - 10 * DAY, "resume")] {
        tx.execute(
            "INSERT INTO audit (created_ms, kind, actor, detail_json) VALUES (?1, ?2, 'operator', '{}')",
            params![at, kind],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn records_past_retention_are_archived_then_deleted_and_read_back() {
    let data = TempDir::new("retention");
    let db = data.path().join("agency.db");
    let store = agency::store::Store::open(&db).unwrap();
    let now = 1_796_600_000_000;
    let decision = a_decision();
    seed(&db, now, &decision);
    let archive = data.path().join("archive");
    let config = RetentionConfig::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let pruned = rt.block_on(round(&store, &archive, &config, now)).unwrap();
    // 2,250 old decisions (with their feedback inside), the two settled old events,
    // the audit entry older than a year.
    assert_eq!(
        pruned.rows,
        vec![("decisions", 2250), ("audit", 1), ("events", 2)],
        "{pruned:?}"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM decisions"), 250);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM feedback"), 250);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM webhook_events"),
        2,
        "queued and held stay"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM webhook_attempts"), 2);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM audit"), 1);

    let dir = archive.to_str().unwrap();
    let read = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["archive", "read", dir];
        args.extend_from_slice(extra);
        let (code, out, err) = agency_with(&args, &[]);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let decisions = read(&["--kind", "decisions"]);
    assert_eq!(decisions.len(), 2250);
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d["feedback"].as_array().is_some_and(|f| f.len() == 1))
            .count(),
        1000,
        "each even decision carries its feedback"
    );
    let events = read(&["--kind", "events"]);
    assert!(
        events
            .iter()
            .all(|e| e["attempts"].as_array().is_some_and(|a| a.len() == 1))
    );
    // One day only.
    let first_day = agency_kit::retention::day_path(now - 102 * DAY).replace('/', "-");
    let one = read(&[
        "--kind",
        "decisions",
        "--from",
        &first_day,
        "--to",
        &first_day,
    ]);
    assert!(!one.is_empty() && one.len() < 2250, "{}", one.len());

    // A crash after the archive and before the delete: the same rows again, archived
    // again under the same names, read back once.
    let files_before = agency::retention::archived(&archive, None, None, None).unwrap();
    let again = TempDir::new("retention-again");
    let db2 = again.path().join("agency.db");
    let store2 = agency::store::Store::open(&db2).unwrap();
    seed(&db2, now, &decision);
    rt.block_on(round(&store2, &archive, &config, now)).unwrap();
    assert_eq!(
        agency::retention::archived(&archive, None, None, None).unwrap(),
        files_before
    );
    assert_eq!(read(&["--kind", "decisions"]).len(), 2250);
    // A file cut half way is not taken for a whole one.
    std::fs::write(
        archive.join("decisions/junk.ndjson.gz.partial"),
        b"\x1f\x8b half",
    )
    .unwrap();
    assert_eq!(read(&[]).len(), 2250 + 2 + 1);
    let (code, _, err) = agency_with(&["archive", "read", dir, "--from", "yesterday"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    // Relearning reads the archived decisions too, past what the database still holds.
    let learned = data.path().join("learned.json");
    let (code, out, err) = agency_with(
        &[
            "skills",
            "learn",
            "--from-audit",
            data.path().to_str().unwrap(),
            "--graph",
            "examples/graph",
            "--archive",
            dir,
            "--out",
            learned.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("with 2250 archived decisions from"), "{out}");
    // 1,250 decisions with feedback: the 250 recent ones stored, 1,000 archived.
    assert!(out.contains("1250 decisions with feedback"), "{out}");
    // Periods under 30 days are refused at load.
    let cfg = data.path().join("agency.toml");
    std::fs::write(&cfg, "[retention]\nevents_days = 7\n").unwrap();
    let e = agency::config::Config::load(Some(&cfg), Vec::new()).unwrap_err();
    assert!(e.contains("retention.events_days"), "{e}");
    // Feedback is kept at least as long as its decisions.
    std::fs::write(&cfg, "[retention]\ndecisions_days = 180\n").unwrap();
    let e = agency::config::Config::load(Some(&cfg), Vec::new()).unwrap_err();
    assert!(e.contains("retention.feedback_days (90)"), "{e}");
}

/// An export runs over many pages, through runs of decisions stored in the same
/// millisecond (the page boundary falls inside them), each decision once, in (time, id)
/// order, with its feedback inside; a window takes exactly its rows.
#[test]
fn an_export_streams_every_row_once_in_order_across_pages() {
    let data = TempDir::new("export");
    let db = data.path().join("agency.db");
    agency::store::Store::open(&db).unwrap();
    let now = agency::store::now_ms();
    let base = now - 5 * DAY;
    let decision = a_decision();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..2600i64 {
            // Runs of 700 decisions in one millisecond.
            let at = base + i / 700;
            let id = format!("dec_{:05}", 2600 - i);
            tx.execute(
                "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, 'deploy it', 'slack', 'devops', 'keyword', 'g1', ?3)",
                params![id, at, decision],
            )
            .unwrap();
            if i % 3 == 0 {
                tx.execute(
                    "INSERT INTO feedback (decision_id, correct_agent, created_ms) VALUES (?1, 'codegen', ?2)",
                    params![id, at + 1],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let server = Server::start(data.path(), &["--example"], true);
    let export = |query: &str| {
        let mut r = agent()
            .get(&format!(
                "{}/api/route/decisions/export{query}",
                server.base
            ))
            .header("authorization", &format!("Bearer {OPERATOR}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{query}");
        let text = r
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let all = export("");
    assert_eq!(all.len(), 2600);
    let keys: Vec<(i64, String)> = all
        .iter()
        .map(|d| {
            (
                d["created_ms"].as_i64().unwrap(),
                d["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "out of order, or a row twice");
    let with_feedback = all
        .iter()
        .filter(|d| d["feedback"].as_array().is_some_and(|f| f.len() == 1))
        .count();
    assert_eq!(with_feedback, 867);
    // The second and third runs: [base + 1, base + 3).
    let window = export(&format!(
        "?from={}&to={}",
        agency::store::rfc3339(base + 1),
        agency::store::rfc3339(base + 3)
    ));
    assert_eq!(window.len(), 1400);
    assert!(window.iter().all(|d| {
        let t = d["created_ms"].as_i64().unwrap();
        (base + 1..base + 3).contains(&t)
    }));
}

/// `kill -9` while the server prunes (its round at start): every old decision is, at
/// each kill, still in the database or in an archive file that reads whole (a file cut
/// short is only ever a `.partial`); a last run finishes the job with each decision
/// archived and none left.
#[test]
fn a_prune_killed_half_way_loses_nothing() {
    let data = TempDir::new("retention-killed");
    let db = data.path().join("agency.db");
    agency::store::Store::open(&db).unwrap();
    let now = agency::store::now_ms();
    let decision = a_decision();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        let tx = c.unchecked_transaction().unwrap();
        for i in 0..60_000i64 {
            // Over twenty old days.
            let at = now - (100 + i % 20) * DAY + i;
            tx.execute(
                "INSERT INTO decisions (id, created_ms, message, channel, agent, reason, graph_version, decision_json) VALUES (?1, ?2, 'deploy it', 'slack', 'devops', 'keyword', 'g1', ?3)",
                params![format!("dec_{i:06}"), at, decision],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let archive = data.path().join("archive");
    // Whole files only (each must read to its end), each decision counted once.
    let accounted = || {
        let mut ids = std::collections::BTreeSet::new();
        let files = if archive.exists() {
            agency::retention::archived(&archive, Some("decisions"), None, None).unwrap()
        } else {
            Vec::new()
        };
        for f in files {
            agency::retention::read_lines(&f, |_, l| {
                let v: serde_json::Value = serde_json::from_str(l)?;
                ids.insert(v["id"].as_str().unwrap_or_default().to_owned());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{} does not read whole: {e:#}", f.display()));
        }
        let c = rusqlite::Connection::open(&db).unwrap();
        let mut q = c.prepare("SELECT id FROM decisions").unwrap();
        let stored: Vec<String> = q
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let left = stored.len();
        ids.extend(stored);
        (ids.len(), left)
    };
    let mut cut_short = 0;
    for delay in [0u64, 20, 50, 100, 200, 400] {
        let server = Server::start(data.path(), &["--example", "--engine", "native"], false);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        drop(server); // SIGKILL
        let (all, left) = accounted();
        eprintln!("killed after {delay} ms: {left} decisions still stored");
        assert_eq!(all, 60_000, "killed after {delay} ms: decisions lost");
        if left > 0 && left < 60_000 {
            cut_short += 1;
        }
    }
    assert!(cut_short > 0, "no kill landed while the prune ran");
    // A last run to the end: everything archived, nothing left.
    let server = Server::start(data.path(), &["--example", "--engine", "native"], false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while accounted().1 > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(server);
    assert_eq!(accounted(), (60_000, 0));
}
