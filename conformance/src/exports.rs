//! The export checks: the decisions (with their feedback) and the audit trail as
//! streamed NDJSON, oldest first, in a `from`/`to` window, operators only.

use serde_json::{Value, json};

use crate::checks::parts;
use crate::client::{Client, expect_error, expect_status};
use crate::{Outcome, Target};

/// The lines of an export as objects, each checked to be one, in (time, key) order.
fn lines(body: &str, key: &str) -> Result<Vec<Value>, String> {
    let mut out: Vec<Value> = Vec::new();
    for (i, l) in body.lines().enumerate() {
        let v: Value = serde_json::from_str(l)
            .map_err(|e| format!("line {}: not JSON ({e}): {l:.200}", i + 1))?;
        if !v.is_object() || !v["created_ms"].is_i64() {
            return Err(format!("line {}: not a stored row: {l:.200}", i + 1));
        }
        if let Some(prev) = out.last() {
            let order = |r: &Value| (r["created_ms"].as_i64(), r[key].to_string());
            if order(prev) > order(&v) {
                return Err(format!("line {}: out of order after {prev}", i + 1));
            }
        }
        out.push(v);
    }
    Ok(out)
}

pub(crate) fn export_checks(c: &Client, t: &Target, out: &mut Vec<Outcome>) {
    let (r, _, _, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    let get = |url: &str, token: &str| {
        c.raw(
            "GET",
            url,
            &[("authorization", &format!("Bearer {token}"))],
            b"",
        )
    };
    let ndjson = |url: &str| -> Result<String, String> {
        let got = get(url, op)?;
        if got.status != 200
            || !got
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("application/x-ndjson"))
        {
            return Err(format!(
                "{url}: {} {:?}: {:.300}",
                got.status, got.content_type, got.body
            ));
        }
        Ok(got.body)
    };
    check(
        "the decisions export streams every decision with its feedback as NDJSON, in its window",
        &mut || {
            let message = "export probe: plan the next sprint";
            let routed = crate::routing::route(c, t, &json!({ "message": message }))?;
            let id = routed["decisionId"].as_str().ok_or("no decisionId")?;
            crate::routing::feedback(c, t, id, "devops")?;
            let url = |q: &str| r(&format!("/api/route/decisions/export{q}"));
            let all = lines(&ndjson(&url("?to=2100-01-01"))?, "id")?;
            let ours = all
                .iter()
                .find(|d| d["id"] == id)
                .ok_or_else(|| format!("{id} is not in the export of {} decisions", all.len()))?;
            let fb = ours["feedback"].as_array().ok_or("no feedback array")?;
            if ours["message"] != message
                || !fb.iter().any(|f| f["correct_agent"] == "devops")
                || !ours["decision_json"].is_string()
            {
                return Err(format!("the exported decision is not as stored: {ours}"));
            }
            // The default window ends at the request: the decision, made before, is in it.
            if !lines(&ndjson(&url(""))?, "id")?
                .iter()
                .any(|d| d["id"] == id)
            {
                return Err("the export without a window misses the decision".into());
            }
            // A window after it, and one before everything, are empty.
            for q in [
                "?from=2100-01-01",
                "?to=1970-01-02",
                "?from=2100-01-01T00:00:00%2B01:00",
                // Ends before it starts.
                "?from=2026-02-01&to=2026-01-01",
            ] {
                let body = ndjson(&url(q))?;
                if !body.is_empty() {
                    return Err(format!("{q}: rows outside the window: {body:.200}"));
                }
            }
            // From its own time (as the API lists it) inclusive; to it exclusive.
            let listed = c.call(
                "GET",
                &r("/api/route/decisions?limit=1000"),
                Some(viewer),
                None,
                &[],
            )?;
            let created = listed.body["decisions"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["decisionId"] == id))
                .and_then(|d| d["createdAt"].as_str())
                .ok_or("the decision is not listed with its createdAt")?
                .replace('+', "%2B");
            let at = ours["created_ms"].as_i64().ok_or("no created_ms")?;
            let from = lines(
                &ndjson(&url(&format!("?from={created}&to=2100-01-01")))?,
                "id",
            )?;
            if !from.iter().any(|d| d["id"] == id)
                || from.iter().any(|d| d["created_ms"].as_i64() < Some(at))
            {
                return Err(format!(
                    "from={created} is not inclusive, or not a lower bound"
                ));
            }
            let before = lines(&ndjson(&url(&format!("?to={created}")))?, "id")?;
            if before
                .iter()
                .any(|d| d["id"] == id || d["created_ms"].as_i64() >= Some(at))
            {
                return Err(format!("to={created} is not exclusive"));
            }
            let refused = |q: &str, token: &str, status: u16| -> Result<(), String> {
                let got = get(&url(q), token)?;
                let code = serde_json::from_str::<Value>(&got.body)
                    .ok()
                    .and_then(|b| b["error"]["code"].as_str().map(str::to_owned));
                if got.status != status || code.is_none() {
                    return Err(format!("{q}: {} {:.200}", got.status, got.body));
                }
                Ok(())
            };
            refused("?from=yesterday", op, 400)?;
            refused("?from=2026-02-30", op, 400)?;
            refused("?since=2026-01-01", op, 400)?;
            refused("", viewer, 403)
        },
    );
    let Some(assistant) = &t.assistant else {
        return;
    };
    check(
        "the audit export streams the audit trail as NDJSON, oldest first",
        &mut || {
            let a = |p: &str| format!("{}{p}", assistant.trim_end_matches('/'));
            let newest = c.call("GET", &a("/api/audit?limit=1"), Some(viewer), None, &[])?;
            expect_status(&newest, 200, "audit")?;
            let seq = newest.body["entries"][0]["seq"].clone();
            let all = lines(&ndjson(&a("/api/audit/export?to=2100-01-01"))?, "seq")?;
            if !seq.is_null() && !all.iter().any(|e| e["seq"] == seq) {
                return Err(format!("audit entry {seq} is not in the export"));
            }
            if all
                .iter()
                .any(|e| !e["kind"].is_string() || !e["detail_json"].is_string())
            {
                return Err("an exported entry is not an audit row".into());
            }
            let later = ndjson(&a("/api/audit/export?from=2100-01-01"))?;
            if !later.is_empty() {
                return Err(format!("rows after 2100: {later:.200}"));
            }
            expect_error(
                &c.call("GET", &a("/api/audit/export?to=soon"), Some(op), None, &[])?,
                400,
                "to=soon",
            )?;
            expect_error(
                &c.call("GET", &a("/api/audit/export"), Some(viewer), None, &[])?,
                403,
                "a viewer's export",
            )
        },
    );
}
