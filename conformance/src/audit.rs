//! The audit checks: stored decisions carry their feedback and page, and a candidate
//! graph is previewed over them (`POST /api/graph/preview`) without anything written.

use serde_json::{Value, json};

use crate::checks::parts;
use crate::client::{Client, expect_error, expect_status};
use crate::{Outcome, Target};

/// A word no skill of the suite's graph knows: a message with it alone abstains (or
/// goes to a channel's default), until a candidate graph gives it to devops.
const UNKNOWN: &str = "qzxvlorp";

pub(crate) fn audit_checks(c: &Client, t: &Target, out: &mut Vec<Outcome>) {
    let (r, g, _, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    let route = |body: Value| crate::routing::route(c, t, &body);
    let list = |query: &str| {
        c.call(
            "GET",
            &r(&format!("/api/route/decisions{query}")),
            Some(viewer),
            None,
            &[],
        )
    };
    let mut corrected = String::new();
    check(
        "decisions carry their feedback and page with before",
        &mut || {
            let asked =
                route(json!({"message": format!("{UNKNOWN} please"), "complexity": "complex"}))?;
            if asked["agent"] == "devops" {
                return Err(format!("{UNKNOWN} should not go to devops yet: {asked}"));
            }
            corrected = asked["decisionId"]
                .as_str()
                .ok_or("no decisionId")?
                .to_owned();
            let newer = route(json!({"message": "plan the next sprint"}))?;
            crate::routing::feedback(c, t, &corrected, "devops")?;
            let with = list("?feedback=only&limit=1000")?;
            expect_status(&with, 200, "feedback=only")?;
            let items = with.body["decisions"].as_array().ok_or("no decisions")?;
            if items.iter().any(|d| d["feedback"].is_null()) {
                return Err("feedback=only listed a decision without feedback".into());
            }
            let ours = items
                .iter()
                .find(|d| d["decisionId"] == corrected.as_str())
                .ok_or("the corrected decision is not listed with feedback=only")?;
            if ours["feedback"]["correctAgent"] != "devops"
                || !ours["feedback"]["createdAt"].is_string()
                || ours["complexity"] != "complex"
            {
                return Err(format!("feedback or complexity not as given: {ours}"));
            }
            // Newest first, one a page: the first page is the newer decision, `before` its
            // id gives the corrected one.
            let first = list("?limit=1")?;
            expect_status(&first, 200, "limit=1")?;
            if first.body["decisions"][0]["decisionId"] != newer["decisionId"]
                || !first.body["decisions"][0]["feedback"].is_null()
            {
                return Err(format!(
                    "first page is not the newest decision: {}",
                    first.body
                ));
            }
            let next = first.body["next"]
                .as_str()
                .ok_or("a full page has no next")?;
            let second = list(&format!("?limit=1&before={next}"))?;
            expect_status(&second, 200, "before")?;
            if second.body["decisions"][0]["decisionId"] != corrected.as_str() {
                return Err(format!(
                    "the page before {next} is not the older decision: {}",
                    second.body
                ));
            }
            let all = list("?limit=1000")?;
            if all.body["decisions"]
                .as_array()
                .is_some_and(|d| d.len() < 1000)
                && !all.body["next"].is_null()
            {
                return Err("the last page has a next".into());
            }
            expect_error(&list("?feedback=maybe")?, 400, "feedback=maybe")?;
            expect_error(
                &list("?before=dec_nope")?,
                404,
                "before an unknown decision",
            )
        },
    );
    check(
        "a preview replays stored decisions and writes nothing",
        &mut || {
            let current = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
            expect_status(&current, 200, "graph")?;
            let mut candidate = current.body.clone();
            if let Some(o) = candidate.as_object_mut() {
                o.remove("version");
            }
            candidate["skills"]
            .as_array_mut()
            .ok_or("graph has no skills")?
            .push(json!({"id": "triage", "agent": "devops", "keywords": [{"phrase": UNKNOWN, "weight": 5}]}));
            let body = candidate.to_string();
            let versions = c.call("GET", &g("/api/graph/versions"), Some(viewer), None, &[])?;
            let newest = list("?limit=1")?;
            let preview = |query: &str, token: &str, body: &str| {
                c.call(
                    "POST",
                    &g(&format!("/api/graph/preview{query}")),
                    Some(token),
                    Some(body),
                    &[],
                )
            };
            expect_error(&preview("", viewer, &body)?, 403, "viewer preview")?;
            let bad = json!({"agents": [], "skills": [{"id": "x", "agent": "ghost"}]}).to_string();
            expect_error(&preview("", op, &bad)?, 422, "invalid candidate")?;
            expect_error(&preview("?limit=0", op, &body)?, 400, "limit=0")?;
            expect_error(&preview("?sample=101", op, &body)?, 400, "sample=101")?;
            let p = preview("?limit=1000", op, &body)?;
            expect_status(&p, 200, "preview")?;
            let v = &p.body;
            if v["currentVersion"] != current.body["version"]
                && Some(v["currentVersion"].as_str().unwrap_or(""))
                    != current.etag.as_deref().map(|e| e.trim_matches('"'))
            {
                return Err(format!(
                    "currentVersion {} is not the current graph",
                    v["currentVersion"]
                ));
            }
            if v["candidateVersion"] == v["currentVersion"] {
                return Err("the candidate has the current version".into());
            }
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            if n("replayed") < 2 || n("changed") < 1 || n("withFeedback") < 1 || n("fixed") < 1 {
                return Err(format!(
                    "the corrected decision does not show as fixed: {v}"
                ));
            }
            if n("changed") != n("reassigned") + n("newlyAbstain") + n("newlyRoute") {
                return Err(format!("changed is not the sum of its kinds: {v}"));
            }
            let (before, after) = (v["accuracyBefore"].as_f64(), v["accuracyAfter"].as_f64());
            if !matches!((before, after), (Some(b), Some(a)) if a > b) {
                return Err(format!("accuracy does not rise: {before:?} -> {after:?}"));
            }
            let ours = v["sample"]
                .as_array()
                .and_then(|s| s.iter().find(|d| d["decisionId"] == corrected.as_str()))
                .ok_or_else(|| format!("the corrected decision is not in the sample: {v}"))?;
            if ours["after"]["agent"] != "devops"
                || ours["before"]["agent"] == "devops"
                || ours["feedback"]["correctAgent"] != "devops"
                || !ours["after"]["confidence"].is_number()
            {
                return Err(format!("the sample does not show both answers: {ours}"));
            }
            // Nothing was written: the graph, its versions and the decisions are as they were.
            let after_graph = c.call("GET", &g("/api/graph"), Some(viewer), None, &[])?;
            let after_versions =
                c.call("GET", &g("/api/graph/versions"), Some(viewer), None, &[])?;
            if after_graph.etag != current.etag || after_versions.body != versions.body {
                return Err("a preview changed the stored graph".into());
            }
            if list("?limit=1")?.body["decisions"] != newest.body["decisions"] {
                return Err("a preview stored a decision".into());
            }
            Ok(())
        },
    );
}
