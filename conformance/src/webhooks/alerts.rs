//! Budget alerts: a budget's spending and reservations reaching an alert threshold is
//! told to the gateway (`budget.threshold`, signed, once per threshold and period) and
//! posted in the operators' channel, once.

use super::*;

/// The research agent's daily budget (the example policy's $10), filled to its limit
/// if an earlier check has not done so, reaches 80% and 100%.
pub(super) fn checks(h: &Hooks<'_>, check: &mut Check<'_>) {
    if h.t.assistant.is_none() {
        return;
    }
    check(
        "budgets: reaching 80% and 100% tells the gateway (budget.threshold, signed) and the operators, once each",
        &mut || {
            let budget = h.get(&h.assistant("/api/budget")?)?;
            let line = budget["budgets"]
                .as_array()
                .and_then(|l| {
                    l.iter()
                        .find(|x| x["scope"] == "agent:research" && x["period"] == "daily")
                        .cloned()
                })
                .ok_or_else(|| format!("no agent:research daily budget: {budget}"))?;
            let left = line["remainingUsd"].as_f64().unwrap_or(0.0);
            if left > 0.0 {
                let body = json!({"taskId": fresh("alert"), "agent": "research", "action": "read",
                    "description": "fill the budget", "estimatedCostUsd": left});
                let r = h.api()?.approve(h.c, &body)?;
                if r.body["decision"] != "approved" {
                    return Err(format!("filling the research budget: {}", r.body));
                }
            }
            let day = line["periodKey"].as_str().unwrap_or("").to_owned();
            // At the edge the webhooks Worker sweeps on its cron; ask for one (the local
            // server sweeps every second and has no such route).
            let sweep = || {
                let url = format!("{}/internal/cron/webhooks", h.w.base.trim_end_matches('/'));
                let _ = h.c.call("POST", &url, Some(&h.t.operator_token), None, &[]);
            };
            sweep();
            for percent in [80, 100] {
                let e = h.expect_seen(
                    "gateway-event",
                    &format!(
                        "the gateway was never sent budget.threshold {percent}% for agent:research"
                    ),
                    &|s| {
                        s["body"]["type"] == "budget.threshold"
                            && s["body"]["data"]["scope"] == "agent:research"
                            && s["body"]["data"]["periodKey"] == day.as_str()
                            && s["body"]["data"]["percent"] == percent
                    },
                )?;
                if e["verified"] != true
                    || e["body"]["data"]["period"] != "daily"
                    || e["body"]["data"]["limitUsd"] != 10.0
                {
                    return Err(format!("budget.threshold {percent}%: {e}"));
                }
                h.expect_seen(
                    "telegram",
                    &format!("the operators were not told of {percent}%"),
                    &|s| {
                        s["path"]
                            .as_str()
                            .is_some_and(|p| p.ends_with("/sendMessage"))
                            && s["body"]["chat_id"] == -1001
                            && s["body"]["text"].as_str().is_some_and(|t| {
                                t.contains("agent:research") && t.contains(&format!(" {percent}% "))
                            })
                    },
                )?;
            }
            // Later sweeps announce nothing again.
            sweep();
            std::thread::sleep(Duration::from_millis(2500));
            let events = h.seen("gateway-event", 1, &|s| {
                s["body"]["type"] == "budget.threshold"
                    && s["body"]["data"]["scope"] == "agent:research"
                    && s["body"]["data"]["periodKey"] == day.as_str()
            })?;
            let notices = h.seen("telegram", 1, &|s| {
                s["body"]["chat_id"] == -1001
                    && s["body"]["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("agent:research"))
            })?;
            if events.len() != 2 || notices.len() != 2 {
                return Err(format!(
                    "each threshold is announced once: {} events, {} notices",
                    events.len(),
                    notices.len()
                ));
            }
            Ok(())
        },
    );
}
