//! The events API: bad queries refused, filters by source and status, pages that do not
//! overlap, and no event showing the capabilities in its replyTo (token, response URL).

use super::*;

pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    let (c, t) = (h.c, h.t);
    check(
        "webhooks: the events API lists, filters, pages and hides capabilities",
        &mut || {
            let list = |q: &str, token: Option<&str>| {
                c.call("GET", &h.url(&format!("/api/events{q}")), token, None, &[])
            };
            expect_error(&list("", None)?, 401, "no token")?;
            expect_error(
                &list("?status=bogus", Some(&t.viewer_token))?,
                400,
                "unknown status",
            )?;
            expect_error(&list("?limit=0", Some(&t.viewer_token))?, 400, "limit 0")?;
            expect_error(
                &list("?before=evt_nope", Some(&t.viewer_token))?,
                404,
                "unknown before",
            )?;
            let page = list(&format!("?source={SOURCE}&limit=2"), Some(&t.viewer_token))?;
            expect_status(&page, 200, "page 1")?;
            let first = page.body["events"].as_array().cloned().unwrap_or_default();
            let next = page.body["nextBefore"]
                .as_str()
                .ok_or(format!("no nextBefore on a full page: {}", page.body))?;
            let page2 = list(
                &format!("?source={SOURCE}&limit=2&before={next}"),
                Some(&t.viewer_token),
            )?;
            let second = page2.body["events"].as_array().cloned().unwrap_or_default();
            if first.len() != 2
                || second.is_empty()
                || second
                    .iter()
                    .any(|e| first.iter().any(|f| f["id"] == e["id"]))
            {
                return Err("pages overlap or are short".into());
            }
            let done = list("?status=done&limit=1000", Some(&t.viewer_token))?;
            if done.body["events"]
                .as_array()
                .is_some_and(|a| a.iter().any(|e| e["status"] != "done"))
            {
                return Err("the status filter lets others through".into());
            }
            expect_error(
                &c.call(
                    "GET",
                    &h.url("/api/events/evt_nope"),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?,
                404,
                "unknown event",
            )?;
            let all = list("?limit=1000", Some(&t.viewer_token))?;
            for e in all.body["events"].as_array().cloned().unwrap_or_default() {
                let d = c.call(
                    "GET",
                    &h.url(&format!("/api/events/{}", e["id"].as_str().unwrap_or(""))),
                    Some(&t.viewer_token),
                    None,
                    &[],
                )?;
                let to = &d.body["payload"]["replyTo"];
                // The webhook service keeps capabilities; an event holds a reference.
                let hidden = |v: &Value| {
                    v == "(hidden)" || v.as_str().is_some_and(|s| s.starts_with("cap_"))
                };
                for secret in ["token", "responseUrl"] {
                    if to.get(secret).is_some_and(|v| !hidden(v)) {
                        return Err(format!("event {} shows its {secret}", e["id"]));
                    }
                }
            }
            Ok(())
        },
    );
}
