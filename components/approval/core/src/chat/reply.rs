//! The replies, in the same words on every runtime.

use serde_json::{Value, json};

use crate::halt::{HaltTarget, HaltView, HeldWork, held_under};

pub const HELP: &str = "I understand: \"what's pending?\", \"approve 42\", \"deny 42: too expensive\", \
\"approve it\" (the last approval we discussed), \"grant 42 for 2h\" (approve, and the same kind of task without asking for 2 hours), \
\"approve all for codegen\" / \"deny all deploy for codegen\", \"show 42\", \"why was 42 denied?\", \"budget\", \
\"halt codegen\" / \"halt channel ops\" / \"halt all: reason\", \"resume\" / \"resume codegen\", \"status\" (halts and held work), \"route: <message>\", \"help\".";

// Also read by the webhook service (it posts the reply in chat).
/// What the assistant answers: the text, and the actions it took or suggests.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ChatReply"))]
pub struct Reply {
    /// What the assistant says.
    #[serde(rename = "reply")]
    pub text: String,
    /// What it did (`halted`, `decided`...) or suggests the operator send.
    pub actions: Vec<Value>,
}

impl Reply {
    /// Words only, no action.
    pub fn say(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            actions: vec![],
        }
    }

    /// The body of `POST /api/chat`'s answer.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One line about an approval (its API JSON): "#3 devops wants to deploy ($1.00): pending — ...".
pub fn describe(a: &Value) -> String {
    let mut s = format!(
        "#{} {} wants to {} (${:.2}): {}",
        a["number"],
        a["agent"].as_str().unwrap_or("?"),
        a["action"].as_str().unwrap_or("?"),
        a["estimatedCostUsd"].as_f64().unwrap_or(0.0),
        a["decision"].as_str().unwrap_or("?")
    );
    if let Some(d) = a["request"]["description"]
        .as_str()
        .filter(|d| !d.is_empty())
    {
        s.push_str(&format!(" — {d}"));
    }
    s
}

/// The answer to "what's pending?" over the pending approvals' JSON.
pub fn pending_reply(pending: &[Value]) -> String {
    match pending.len() {
        0 => "Nothing is waiting for approval.".into(),
        n => format!(
            "{n} pending:\n{}",
            pending.iter().map(describe).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// The answer to "show 3" / "why was 3 denied?".
pub fn show_reply(a: &Value) -> String {
    let rule = a["rule"]
        .as_str()
        .map(|r| format!(" (rule {r:?})"))
        .unwrap_or_default();
    format!(
        "{}. Reason: {}{rule}.",
        describe(a),
        a["reason"].as_str().unwrap_or("")
    )
}

/// The answer to "budget" over `GET /api/budget`'s `budgets` list.
pub fn budget_reply(budgets: &[Value]) -> String {
    if budgets.is_empty() {
        return "The policy sets no budgets.".into();
    }
    budgets
        .iter()
        .map(|b| {
            format!(
                "{} {} ({}): spent ${:.2}, reserved ${:.2}, ${:.2} of ${:.2} left",
                b["scope"].as_str().unwrap_or("?"),
                b["period"].as_str().unwrap_or("?"),
                b["periodKey"].as_str().unwrap_or("?"),
                b["spentUsd"].as_f64().unwrap_or(0.0),
                b["reservedUsd"].as_f64().unwrap_or(0.0),
                b["remainingUsd"].as_f64().unwrap_or(0.0),
                b["limitUsd"].as_f64().unwrap_or(0.0),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A routing decision as chat tells it (the router's answer, read by the assistant).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Routed<'a> {
    pub agent: Option<&'a str>,
    pub reason: &'a str,
    pub confidence: f64,
    pub matched: &'a [std::sync::Arc<str>],
    pub fallback_from: Option<&'a str>,
}

/// "That goes to codegen (match, confidence 0.91), matched: deploy."
pub fn route_reply(d: &Routed<'_>) -> String {
    let agent = d.agent.unwrap_or("nobody");
    let mut text = format!(
        "That goes to {agent} ({}, confidence {:.2})",
        d.reason, d.confidence
    );
    if !d.matched.is_empty() {
        let keywords: Vec<&str> = d.matched.iter().map(|k| &**k).collect();
        text.push_str(&format!(", matched: {}", keywords.join(", ")));
    }
    if let Some(f) = d.fallback_from {
        text.push_str(&format!("; {f} is down"));
    }
    text + "."
}

/// The reason a chat "halt" gives when the operator gives none.
pub fn halt_reason(session: &str, reason: Option<String>) -> String {
    reason.unwrap_or_else(|| format!("halted from chat by {session}"))
}

fn messages(n: u64) -> String {
    match n {
        1 => "1 message".to_owned(),
        n => format!("{n} messages"),
    }
}

/// The reply and action once a chat "halt" is in force; `warning` when the graph does
/// not know the agent or channel it names (the halt is kept all the same).
pub fn halt_reply(what: &HaltTarget, warning: Option<&str>) -> Reply {
    let text = match what {
        HaltTarget::All => "All agents are halted".to_owned(),
        t => format!("{} is halted", capitalised(&t.describe())),
    };
    let resume = match what {
        HaltTarget::All => "resume".to_owned(),
        HaltTarget::Agent(a) => format!("resume {a}"),
        t => format!("resume {} {}", t.scope(), t.target()),
    };
    let mut text = format!(
        "{text}: approvals are denied, routing answers \"halted\" and its messages are held until you say \"{resume}\"."
    );
    if let Some(w) = warning {
        text.push_str(&format!(" Note: {w}"));
    }
    Reply {
        text,
        actions: vec![
            json!({"type": "halted", "scope": what.scope().as_str(), "target": what.target()}),
        ],
    }
}

/// The reply to "resume <what>": `lifted` halts were lifted, `held` is the work that
/// was held just before (what the lifted halts held goes out now, in order). An action
/// only when something was lifted.
pub fn resume_reply(what: Option<&HaltTarget>, lifted: usize, held: &[HeldWork]) -> Reply {
    let released = if lifted == 0 {
        0
    } else {
        held_under(held, what)
    };
    let text = match (what, lifted) {
        (None, 0) => "Nothing was halted.".to_owned(),
        (Some(w), 0) => format!(
            "{} was not halted; nothing changed.",
            capitalised(&w.describe())
        ),
        (None, n) => format!("Lifted {n} halt(s)."),
        (Some(w), _) => format!("{} is resumed.", capitalised(&w.describe())),
    };
    let text = match (lifted, released) {
        (0, _) => text,
        (_, 0) => format!("{text} Nothing was held."),
        (_, n) => format!(
            "{text} {} held go out now, in the order they came.",
            messages(n)
        ),
    };
    let actions = if lifted == 0 {
        vec![]
    } else {
        let mut a = match what {
            None => json!({"type": "resumed", "scope": "everything"}),
            Some(w) => {
                json!({"type": "resumed", "scope": w.scope().as_str(), "target": w.target()})
            }
        };
        a["lifted"] = json!(lifted);
        a["released"] = json!(released);
        vec![a]
    };
    Reply { text, actions }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// The answer to "status": each halt in force with what it holds, and held work whose
/// halt was lifted but which has not gone out yet.
pub fn status_reply(halts: &[HaltView], held: &[HeldWork]) -> String {
    if halts.is_empty() && held.is_empty() {
        return "Nothing is halted and nothing is held.".to_owned();
    }
    let mut lines = Vec::new();
    for h in halts {
        let what = h.what();
        let n = held_under(held, Some(&what));
        lines.push(format!(
            "{} halted since {} ({}): {} held.",
            capitalised(&what.describe()),
            h.since,
            h.reason,
            messages(n)
        ));
    }
    for w in held
        .iter()
        .filter(|w| !halts.iter().any(|h| h.what() == w.what()))
    {
        lines.push(format!(
            "{} held for {} (no longer halted: going out now).",
            messages(w.events),
            w.what().describe()
        ));
    }
    lines.join("\n")
}

/// The reply and action once a human decision from chat is recorded (`a`: the
/// approval's JSON after it).
pub fn decided_reply(a: &Value) -> Reply {
    Reply {
        text: format!("{}. {}", describe(a), a["reason"].as_str().unwrap_or("")),
        actions: vec![
            json!({"type": a["decision"], "approvalId": a["approvalId"], "number": a["number"]}),
        ],
    }
}

/// The reply to "approve all for X": what was decided, by number, and what was not.
pub fn batch_reply(approve: bool, agent: &str, results: &[Value]) -> Reply {
    let verb = if approve { "Approved" } else { "Denied" };
    let wanted = if approve { "approved" } else { "denied" };
    let decided: Vec<&Value> = results
        .iter()
        .filter(|r| r["decided"] == true && r["status"] == wanted)
        .collect();
    if results.is_empty() {
        return Reply::say(format!("Nothing of {agent}'s is pending."));
    }
    let numbers: Vec<String> = decided
        .iter()
        .filter_map(|r| r["approval"]["number"].as_i64())
        .map(|n| format!("#{n}"))
        .collect();
    let mut text = format!(
        "{verb} {} of {agent}'s {} pending: {}.",
        decided.len(),
        results.len(),
        if numbers.is_empty() {
            "none".to_owned()
        } else {
            numbers.join(", ")
        }
    );
    let not = results.len() - decided.len();
    if not > 0 {
        text.push_str(&format!(
            " {not} could not be decided (already decided, or a budget or halt refused)."
        ));
    }
    Reply {
        text,
        actions: decided
            .iter()
            .map(|r| json!({"type": r["status"], "approvalId": r["approvalId"], "number": r["approval"]["number"]}))
            .collect(),
    }
}

/// The reply when a chat decision finds the approval already settled.
pub fn already_reply(status: &str) -> String {
    format!("That one is already {status}; nothing changed.")
}

/// The reply when a chat command names an approval number nobody has.
pub fn no_such_approval(number: i64) -> String {
    format!("There is no approval #{number}.")
}

pub const ASK_ROUTE: &str = "Give me a message to route: \"route: <message>\".";
pub const WHICH_ONE: &str = "Which one? We haven't discussed an approval yet; give its number.";
