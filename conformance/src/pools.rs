//! Agent pools and conversations: a graph whose code generator runs three instances
//! (weights 1, 1, 2) and whose conversations keep their agent (switch margin 0.6) is
//! uploaded for these checks, and the suite's graph is put back after them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::checks::parts;
use crate::client::{Client, expect_error, expect_status};
use crate::{GRAPH, Outcome, Target};

/// The suite's graph with a pool for `codegen` and affinity.
fn pooled_graph() -> Result<String, String> {
    let mut g: Value = serde_json::from_str(GRAPH).map_err(|e| e.to_string())?;
    let codegen = g["agents"]
        .as_array_mut()
        .and_then(|a| a.iter_mut().find(|a| a["id"] == "codegen"))
        .ok_or("no codegen in the suite's graph")?;
    codegen["instances"] = json!([
        {"id": "cg-1"},
        {"id": "cg-2", "weight": 1},
        {"id": "cg-3", "weight": 2}
    ]);
    g["affinity"] = json!({"ttlSeconds": 600, "switchMargin": 0.6});
    Ok(g.to_string())
}

pub(crate) fn pool_checks(c: &Client, t: &Target, out: &mut Vec<Outcome>) {
    let (r, g, gw, op, viewer) = parts(t);
    let mut check = |name: &'static str, f: &mut dyn FnMut() -> Result<(), String>| {
        out.push(Outcome { name, result: f() })
    };
    let route = |body: Value| crate::routing::route(c, t, &body);
    let report = |instance: &str, body: &str| {
        c.call(
            "PUT",
            &g(&format!("/api/agents/codegen/instances/{instance}")),
            Some(op),
            Some(body),
            &[],
        )
    };
    let bug = "there is a bug: the app crashes with a stack trace";
    let mut uploaded = false;
    check(
        "a graph with an agent pool and affinity is accepted",
        &mut || {
            let resp = c.call(
                "PUT",
                &g("/api/graph"),
                Some(op),
                Some(&pooled_graph()?),
                &[],
            )?;
            expect_status(&resp, 200, "PUT /api/graph")?;
            uploaded = true;
            let agents = c.call("GET", &g("/api/agents"), Some(viewer), None, &[])?;
            let codegen = agents.body["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["id"] == "codegen").cloned())
                .ok_or("codegen not listed")?;
            let ids: Vec<&str> = codegen["instances"]
                .as_array()
                .map(|i| i.iter().filter_map(|i| i["id"].as_str()).collect())
                .unwrap_or_default();
            if ids != ["cg-1", "cg-2", "cg-3"] || codegen["instances"][2]["weight"] != 2.0 {
                return Err(format!("codegen's instances: {codegen}"));
            }
            Ok(())
        },
    );
    if !uploaded {
        return;
    }
    check(
        "a pool spreads work by weight and names the instance",
        &mut || {
            let mut counts = BTreeMap::new();
            let n = 200;
            for _ in 0..n {
                let d = route(json!({"message": bug}))?;
                if d["agent"] != "codegen"
                    || d["reason"] != "match"
                    || d["conversation"] != Value::Null
                {
                    return Err(format!("unexpected decision {d}"));
                }
                let i = d["instance"].as_str().ok_or(format!("no instance: {d}"))?;
                *counts.entry(i.to_owned()).or_insert(0usize) += 1;
            }
            let share = |i: &str| *counts.get(i).unwrap_or(&0) as f64 / n as f64;
            // Expected 1/4, 1/4, 1/2; four standard deviations of 200 draws either way.
            if !(0.35..=0.65).contains(&share("cg-3"))
                || !(0.10..=0.40).contains(&share("cg-1"))
                || !(0.10..=0.40).contains(&share("cg-2"))
            {
                return Err(format!("shares out of line with weights 1/1/2: {counts:?}"));
            }
            // An agent without a pool names no instance.
            let d = route(json!({"message": "deploy to production"}))?;
            if d["agent"] != "devops" || d["instance"] != Value::Null {
                return Err(format!("devops has no pool: {d}"));
            }
            Ok(())
        },
    );
    // With monitoring and the fakes, the probes report every instance (the fake
    // gateway's health URLs say which are down and their load) and these checks steer
    // the fakes; without, they report as the gateway would.
    let probed = t.monitoring.is_some() && t.webhooks.is_some();
    let fakes = t
        .webhooks
        .as_ref()
        .map(|w| w.fakes.clone())
        .unwrap_or_default();
    let set_down = |down: &[&str]| -> Result<(), String> {
        if probed {
            let names: Vec<String> = down.iter().map(|i| format!("codegen/{i}")).collect();
            let body = json!({ "instancesDown": names }).to_string();
            let r = c.call("POST", &format!("{fakes}/_control"), None, Some(&body), &[])?;
            return expect_status(&r, 200, "the fakes' control");
        }
        for i in ["cg-1", "cg-2", "cg-3"] {
            let body = json!({ "healthy": !down.contains(&i) }).to_string();
            expect_status(&report(i, &body)?, 200, "an instance report")?;
        }
        Ok(())
    };
    // Waits (probes run every second or faster) until codegen in GET /api/agents
    // satisfies `ok`.
    let codegen_until = |what: &str, ok: &dyn Fn(&Value) -> bool| -> Result<Value, String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let agents = c.call("GET", &g("/api/agents"), Some(viewer), None, &[])?;
            let codegen = agents.body["agents"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["id"] == "codegen").cloned())
                .ok_or("codegen not listed")?;
            if ok(&codegen) {
                return Ok(codegen);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("codegen never became {what}: {codegen}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let healthy = |a: &Value, i: usize| a["instances"][i]["healthy"] == true;
    check(
        "a down instance is skipped; all down hands the agent over",
        &mut || {
            let loaded = report("cg-1", r#"{"healthy": true, "load": 0.5}"#)?;
            expect_status(&loaded, 200, "cg-1 load")?;
            if loaded.body["load"] != 0.5 || !loaded.body["expiresAt"].is_string() {
                return Err(format!("report answer: {}", loaded.body));
            }
            set_down(&["cg-3"])?;
            codegen_until("down on cg-3 only", &|a| {
                healthy(a, 0) && healthy(a, 1) && !healthy(a, 2)
            })?;
            for _ in 0..40 {
                let d = route(json!({"message": bug}))?;
                if d["agent"] != "codegen" || d["instance"] == "cg-3" {
                    return Err(format!("went to a down instance: {d}"));
                }
            }
            set_down(&["cg-1", "cg-2", "cg-3"])?;
            let all_down = codegen_until("down", &|a| a["healthy"] == false);
            let d = route(json!({"message": bug}));
            set_down(&[])?;
            let codegen = all_down?;
            let d = d?;
            if d["agent"] != "pm" || d["reason"] != "fallback" || d["fallbackFrom"] != "codegen" {
                return Err(format!("expected codegen's fallback pm: {d}"));
            }
            if codegen["instances"][0]["healthy"] != false {
                return Err(format!(
                    "codegen should be down with its instances: {codegen}"
                ));
            }
            codegen_until("up", &|a| {
                a["healthy"] == true && (0..3).all(|i| healthy(a, i))
            })?;
            let d = route(json!({"message": bug}))?;
            if d["agent"] != "codegen" {
                return Err(format!("codegen should be back: {d}"));
            }
            Ok(())
        },
    );
    if probed {
        check(
            "the probes report each instance's health and load",
            &mut || {
                let body = json!({ "instanceLoad": { "codegen/cg-1": 0.9 } }).to_string();
                let r = c.call("POST", &format!("{fakes}/_control"), None, Some(&body), &[])?;
                expect_status(&r, 200, "the fakes' control")?;
                let seen = codegen_until("loaded 0.9 on cg-1", &|a| {
                    a["instances"][0]["load"] == 0.9 && a["instances"][1]["load"] == 0.25
                });
                let body = json!({ "instanceLoad": {} }).to_string();
                c.call("POST", &format!("{fakes}/_control"), None, Some(&body), &[])?;
                let seen = seen?;
                if !seen["instances"][0]["reportedAt"].is_string() {
                    return Err(format!("no reportedAt: {seen}"));
                }
                Ok(())
            },
        );
    }
    check("instance reports are validated", &mut || {
        expect_error(
            &report("cg-1", r#"{"healthy": true, "load": 1.5}"#)?,
            400,
            "load 1.5",
        )?;
        expect_error(
            &report("cg-1", r#"{"healthy": "yes"}"#)?,
            400,
            "healthy as a string",
        )?;
        expect_error(
            &report("cg-9", r#"{"healthy": true}"#)?,
            404,
            "unknown instance",
        )?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/agents/devops/instances/cg-1"),
                Some(op),
                Some(r#"{"healthy": true}"#),
                &[],
            )?,
            404,
            "an agent without that instance",
        )?;
        expect_error(
            &c.call(
                "PUT",
                &g("/api/agents/codegen/instances/cg-1"),
                Some(viewer),
                Some(r#"{"healthy": true}"#),
                &[],
            )?,
            403,
            "viewer",
        )
    });
    check(
        "a conversation keeps its agent and switches on clear evidence",
        &mut || {
            let conv = format!("conformance-{}", std::process::id());
            let first = route(
                json!({"message": "deploy the release to production", "channel": "slack", "conversationId": conv}),
            )?;
            if first["agent"] != "devops"
                || first["conversation"]
                    != json!({"id": conv, "heldBy": null, "followed": "message"})
            {
                return Err(format!("first message: {first}"));
            }
            let alone = route(json!({"message": "and what about tomorrow?", "channel": "slack"}))?;
            if alone["agent"] == "devops" {
                return Err(format!(
                    "the follow-up alone should not reach devops: {alone}"
                ));
            }
            let follow = route(
                json!({"message": "and what about tomorrow?", "channel": "slack", "conversationId": conv}),
            )?;
            if follow["agent"] != "devops"
                || follow["reason"] != "affinity"
                || follow["conversation"]
                    != json!({"id": conv, "heldBy": "devops", "followed": "conversation"})
            {
                return Err(format!("the follow-up should stay with devops: {follow}"));
            }
            let switch =
                route(json!({"message": bug, "channel": "slack", "conversationId": conv}))?;
            if switch["agent"] != "codegen"
                || switch["reason"] != "match"
                || switch["conversation"]["heldBy"] != "devops"
                || switch["conversation"]["followed"] != "message"
            {
                return Err(format!(
                    "a clear new topic should switch to codegen: {switch}"
                ));
            }
            // Now codegen's, on one instance while it is healthy.
            let instance = switch["instance"].clone();
            for _ in 0..5 {
                let again = route(json!({"message": "ok, and then?", "conversationId": conv}))?;
                if again["agent"] != "codegen" || again["instance"] != instance {
                    return Err(format!("should stay with codegen on {instance}: {again}"));
                }
            }
            // The decision is stored as answered, conversation and all.
            let id = follow["decisionId"].as_str().ok_or("no decisionId")?;
            let listed = c.call(
                "GET",
                &r("/api/route/decisions?limit=20"),
                Some(viewer),
                None,
                &[],
            )?;
            let stored = listed.body["decisions"]
                .as_array()
                .and_then(|d| d.iter().find(|d| d["decisionId"] == id).cloned())
                .ok_or(format!("decision {id} not listed"))?;
            if stored["reason"] != "affinity" || stored["conversation"] != follow["conversation"] {
                return Err(format!("stored as {stored}"));
            }
            expect_error(
                &c.call(
                    "POST",
                    &r("/api/route"),
                    Some(gw),
                    Some(&json!({"message": "hi", "conversationId": ""}).to_string()),
                    &[],
                )?,
                400,
                "an empty conversationId",
            )
        },
    );
    check("the suite's graph is put back", &mut || {
        let resp = c.call("PUT", &g("/api/graph"), Some(op), Some(GRAPH), &[])?;
        expect_status(&resp, 200, "PUT /api/graph")
    });
}
