//! An exhausted budget that asks: the quick-expiry policy gives the agent
//! `overrun-check` $1 a day with `on_exhausted = "ask"` and a $2 overrun. A task past
//! the limit waits for a human (reason `budget`); approving it records an overrun
//! (reason `overrun`) held in the ledger; past the overrun, approving denies. Costs are
//! taken from what the budget already holds, so the suite can run again the same day.

use serde_json::json;

use crate::assistant::{Assistant, fresh};
use crate::client::{Client, expect_status};
use crate::{Outcome, Target};

const AGENT: &str = "overrun-check";
/// The agent's daily limit and overrun in the quick-expiry policy.
const LIMIT: f64 = 1.0;
const OVERRUN: f64 = 2.0;

pub(crate) fn checks(c: &Client, t: &Target, base: &str, out: &mut Vec<Outcome>) {
    if !t.quick_expiry {
        return;
    }
    let api = Assistant {
        base,
        gw: &t.gateway_token,
        op: &t.operator_token,
        viewer: &t.viewer_token,
    };
    let held = || -> Result<f64, String> {
        let r = c.call("GET", &api.url("/api/budget"), Some(api.viewer), None, &[])?;
        expect_status(&r, 200, "GET /api/budget")?;
        let line = r.body["budgets"]
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|x| x["scope"] == format!("agent:{AGENT}") && x["period"] == "daily")
                    .cloned()
            })
            .ok_or_else(|| format!("no agent:{AGENT} daily budget: {}", r.body))?;
        Ok(line["spentUsd"].as_f64().unwrap_or(0.0) + line["reservedUsd"].as_f64().unwrap_or(0.0))
    };
    // An ask past the limit, then a human's approval of it.
    let overrun = |cost: f64| -> Result<serde_json::Value, String> {
        let body = json!({"taskId": fresh("overrun"), "agent": AGENT, "action": "read",
            "description": "past the budget", "estimatedCostUsd": cost});
        let asked = api.approve(c, &body)?;
        expect_status(&asked, 200, "POST /api/approve")?;
        if asked.body["decision"] != "pending" || asked.body["reasonCode"] != "budget" {
            return Err(format!(
                "past the limit, expected an ask (budget): {}",
                asked.body
            ));
        }
        let id = asked.body["approvalId"].as_str().ok_or("no approvalId")?;
        let r = c.call(
            "POST",
            &api.url(&format!("/api/approvals/{id}/decision")),
            Some(api.op),
            Some(r#"{"decision": "approve", "by": "conformance"}"#),
            &[],
        )?;
        expect_status(&r, 200, "approving the overrun")?;
        Ok(r.body)
    };
    out.push(Outcome {
        name: "budgets: an exhausted budget that asks; a human approves an overrun up to its limit, and no further",
        result: (|| {
            let before = held()?;
            // Past the limit whatever the budget holds; within the overrun when it can be.
            let room = LIMIT + OVERRUN - before.max(LIMIT);
            if room > 0.02 {
                let first = (LIMIT - before).max(0.0) + room / 2.0;
                let a = overrun((first * 100.0).round() / 100.0)?;
                if a["decision"] != "approved" || a["reasonCode"] != "overrun" {
                    return Err(format!("within the overrun, expected approved (overrun): {a}"));
                }
                let after = held()?;
                if after <= LIMIT || (after - before - a["estimatedCostUsd"].as_f64().unwrap_or(0.0)).abs() > 1e-6 {
                    return Err(format!("the ledger holds {after} after {before} and the overrun {a}"));
                }
            }
            let b = overrun(OVERRUN + 0.5)?;
            if b["decision"] != "denied" || b["reasonCode"] != "budget" {
                return Err(format!("past the overrun, expected denied (budget): {b}"));
            }
            Ok(())
        })(),
    });
    out.push(Outcome {
        name: "budgets: with several exhausted, a budget that denies outranks one that asks",
        result: (|| {
            // The agent's budget (checked before the channel's) asks when exhausted; the
            // channel's denies. Past both: denied, naming the channel's.
            let body = json!({"taskId": fresh("overrun"), "agent": AGENT, "action": "read",
                "channel": "overrun-deny", "description": "past two budgets",
                "estimatedCostUsd": LIMIT + 0.5});
            let r = api.approve(c, &body)?;
            expect_status(&r, 200, "POST /api/approve")?;
            if r.body["decision"] != "denied"
                || r.body["reasonCode"] != "budget"
                || !r.body["reason"]
                    .as_str()
                    .is_some_and(|x| x.contains("channel:overrun-deny daily"))
            {
                return Err(format!(
                    "expected denied by the channel's budget: {}",
                    r.body
                ));
            }
            Ok(())
        })(),
    });
}
