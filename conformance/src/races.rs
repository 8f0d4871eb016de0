//! The assistant's checks under concurrency: many requests at once against one budget
//! or one approval.

use serde_json::json;

use crate::assistant::{Assistant, fresh};
use crate::client::{Client, expect_status};

/// Eight operators decide one pending approval at once: exactly one may win, and only
/// its decision is audited.
pub(crate) fn racing_decisions(api: &Assistant<'_>) -> Result<(), String> {
    let c = Client::new();
    let (a, op) = (|p: &str| api.url(p), api.op);

    let p = api.approve(
        &c,
        &json!({"taskId": fresh("race"), "agent": "devops", "action": "deploy", "description": "c",
                       "estimatedCostUsd": 0.01, "environment": "production"}),
    )?;
    let id = p.body["approvalId"].as_str().ok_or("no approvalId")?;
    let url = a(&format!("/api/approvals/{id}/decision"));
    let statuses: Vec<Result<u16, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let url = &url;
                scope.spawn(move || {
                    let c = Client::new();
                    let verb = if i % 2 == 0 { "approve" } else { "deny" };
                    let body = json!({"decision": verb, "by": format!("op{i}")}).to_string();
                    c.call("POST", url, Some(op), Some(&body), &[])
                        .map(|r| r.status)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let mut won = 0;
    for s in statuses {
        match s? {
            200 => won += 1,
            409 => {}
            other => return Err(format!("a racing decision got {other}")),
        }
    }
    if won != 1 {
        return Err(format!("{won} racing decisions succeeded; exactly one may"));
    }
    let audit = api.view(&c, "/api/audit?limit=200")?;
    let human = audit.body["entries"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|e| e["approvalId"] == id && e["kind"] == "human-decision")
                .count()
        })
        .unwrap_or(0);
    if human != 1 {
        return Err(format!("{human} human decisions audited for one approval"));
    }
    Ok(())
}

/// 200 concurrent approvals by the research agent, each costing a fiftieth of what is
/// left of its daily budget: exactly 50 must be approved and the budget must end at
/// zero. (The example policy gives research $10 a day, well inside the global budget.)
pub(crate) fn concurrent_budget(api: &Assistant<'_>) -> Result<(), String> {
    let c = Client::new();
    let research_daily = |c: &Client| -> Result<f64, String> {
        let b = api.view(c, "/api/budget")?;
        b.body["budgets"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|x| x["scope"] == "agent:research" && x["period"] == "daily")
            })
            .and_then(|x| x["remainingUsd"].as_f64())
            .ok_or_else(|| format!("no agent:research daily budget: {}", b.body))
    };
    let left = (research_daily(&c)? * 1e6).round() as i64;
    let cost = left / 50;
    if cost < 100 {
        return Err(format!(
            "research has too little budget left to test with ({left} micro-dollars)"
        ));
    }
    let run = fresh("burst");
    let (threads, per) = (20, 10);
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let run = &run;
                scope.spawn(move || {
                    let c = Client::new();
                    (0..per)
                        .map(|i| {
                            let body = json!({"taskId": format!("{run}-{t}-{i}"), "agent": "research", "action": "read",
                                              "description": "burst", "estimatedCostUsd": cost as f64 / 1e6});
                            let r = api.approve(&c, &body)?;
                            expect_status(&r, 200, "approve")?;
                            Ok(r.body["decision"].as_str().unwrap_or("?").to_owned())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec![Err("a client thread panicked".into())])
            })
            .collect()
    });
    let mut approved = 0;
    for r in results {
        match r?.as_str() {
            "approved" => approved += 1,
            "denied" => {}
            other => return Err(format!("unexpected decision {other}")),
        }
    }
    if approved != 50 {
        return Err(format!(
            "{approved} of 200 were approved; the budget fits exactly 50"
        ));
    }
    let after = (research_daily(&c)? * 1e6).round() as i64;
    if after != left - 50 * cost {
        return Err(format!(
            "research has {after} micro-dollars left, expected {}",
            left - 50 * cost
        ));
    }
    Ok(())
}
