//! The operator's chat commands, understood deterministically (no model needed):
//! "what's pending?", "approve 42", "deny 42: too expensive", "approve it", "budget",
//! "halt codegen", "resume", "why was 17 denied?", "route: <text>", "help"; and the
//! replies, so every runtime answers in the same words.

use serde_json::{Value, json};

use crate::halt::{HaltTarget, HaltView, HeldWork, held_under};

/// Which approval a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// By its number.
    Number(i64),
    /// "it": the last approval discussed in this session.
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Pending,
    Approve {
        target: Target,
        comment: Option<String>,
    },
    Deny {
        target: Target,
        comment: Option<String>,
    },
    Show(Target),
    Why(Target),
    Budget,
    /// "halt", "halt all", "halt codegen", "halt channel ops", "halt task t-1".
    Halt {
        what: HaltTarget,
        reason: Option<String>,
    },
    /// `what: None` ("resume", "resume all") lifts every halt.
    Resume {
        what: Option<HaltTarget>,
    },
    /// "status": the halts in force and the work they hold.
    Status,
    Route(String),
    /// Not a command: free text (for the model, when one is configured).
    Other(String),
}

fn target(s: &str) -> Option<Target> {
    let s = s
        .trim()
        .trim_start_matches('#')
        .trim_end_matches(['?', '.', '!'])
        .trim();
    if matches!(s, "it" | "that" | "this" | "that one" | "this one") {
        return Some(Target::Last);
    }
    s.parse::<i64>().ok().filter(|n| *n > 0).map(Target::Number)
}

/// Splits "42: too expensive" into ("42", Some("too expensive")).
fn with_comment(rest: &str) -> (&str, Option<String>) {
    match rest.split_once(':') {
        Some((t, c)) if !c.trim().is_empty() => (t, Some(c.trim().to_owned())),
        Some((t, _)) => (t, None),
        None => (rest, None),
    }
}

/// `text` after an ASCII `prefix`, compared without case. Slicing the original text
/// (not its lower-case copy, whose byte offsets can differ) keeps char boundaries.
fn after_prefix<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])
}

/// The target of "halt <words>" and "resume <words>", one rule for both so that a
/// resume names exactly what the halt stored: `Some(None)` for everything ("all",
/// "everything", "everyone"), one word for an agent, "agent X", "channel X" or "task
/// X"; names canonical as everywhere else ([`crate::contract::canonical_name`]:
/// trimmed, lower case), without the sentence's final "." or "!". `None`: not a usable
/// target.
fn halt_what(words: &[&str]) -> Option<Option<HaltTarget>> {
    let name =
        |w: &str| crate::contract::canonical_name("target", w.trim_end_matches(['.', '!'])).ok();
    match words {
        [w] => {
            let agent = name(w)?;
            if matches!(agent.as_str(), "agent" | "channel" | "task") {
                return None;
            }
            Some(
                (!matches!(agent.as_str(), "all" | "everything" | "everyone"))
                    .then_some(HaltTarget::Agent(agent)),
            )
        }
        [scope, w] => match scope.to_lowercase().as_str() {
            "agent" => Some(Some(HaltTarget::Agent(name(w)?))),
            "channel" => Some(Some(HaltTarget::Channel(name(w)?))),
            "task" => {
                let t = w.trim_end_matches(['.', '!']);
                crate::contract::is_short_name(t).then(|| Some(HaltTarget::Task(t.to_owned())))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Parses one chat message.
pub fn parse(message: &str) -> Command {
    let text = message.trim();
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    if let Some(rest) = after_prefix(text, "route:") {
        return Command::Route(rest.trim().to_owned());
    }
    match words.as_slice() {
        ["help"] | ["help?"] | ["?"] | ["commands"] => return Command::Help,
        ["budget"] | ["budget?"] | ["budgets"] | ["spend"] | ["how", "much", ..] => {
            return Command::Budget;
        }
        ["resume"] | ["unhalt"] => return Command::Resume { what: None },
        ["status"] | ["status?"] | ["halts"] | ["halted?"] | ["held"] => return Command::Status,
        ["resume", rest @ ..] => {
            // The same target as "halt <w>" names, so a resume lifts what it halted.
            let original: Vec<&str> = text.split_whitespace().skip(1).collect();
            return match halt_what(&original).filter(|_| !rest.is_empty()) {
                Some(what) => Command::Resume { what },
                None => Command::Other(text.to_owned()),
            };
        }
        _ => {}
    }
    for (verb, approve) in [("approve ", true), ("deny ", false), ("reject ", false)] {
        if let Some(rest) = after_prefix(text, verb) {
            let (t, comment) = with_comment(rest);
            if let Some(target) = target(&t.to_lowercase()) {
                return if approve {
                    Command::Approve { target, comment }
                } else {
                    Command::Deny { target, comment }
                };
            }
        }
    }
    if let Some(rest) = lower.strip_prefix("why") {
        // "why was 17 denied?", "why 17", "why was it denied"
        let t = rest.split_whitespace().find_map(target);
        if let Some(t) = t {
            return Command::Why(t);
        }
    }
    if let ["show" | "status" | "details", t] = words.as_slice()
        && let Some(t) = target(t)
    {
        return Command::Show(t);
    }
    if let Some(rest) = after_prefix(text, "halt")
        .filter(|r| r.is_empty() || r.starts_with(|c: char| c.is_whitespace() || c == ':'))
    {
        let (what, reason) = with_comment(rest);
        let what: Vec<&str> = what.split_whitespace().collect();
        let what = match what.as_slice() {
            [] => HaltTarget::All,
            words => match halt_what(words) {
                Some(what) => what.unwrap_or(HaltTarget::All),
                None => return Command::Other(text.to_owned()),
            },
        };
        return Command::Halt { what, reason };
    }
    // Last, so "deny 42: still pending review" stays a denial.
    if words
        .iter()
        .any(|w| w.trim_matches(|c: char| !c.is_alphanumeric()) == "pending")
        || matches!(
            words.as_slice(),
            ["queue"] | ["what's", "waiting", ..] | ["what", "is", "waiting", ..]
        )
    {
        return Command::Pending;
    }
    Command::Other(text.to_owned())
}

/// The chat-completions model asked for free text when the deployment names none
/// (`AGENCY_LLM_MODEL`, or the local server's `[llm] model`): one default for every
/// runtime.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";

pub const HELP: &str = "I understand: \"what's pending?\", \"approve 42\", \"deny 42: too expensive\", \
\"approve it\" (the last approval we discussed), \"show 42\", \"why was 42 denied?\", \"budget\", \
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

/// The chat-completions `messages` for free text: a system prompt with the pending
/// approvals, the session's history (role, content), then the operator's text.
pub fn model_messages(history: &[(String, String)], pending: &[Value], text: &str) -> Vec<Value> {
    let pending_text = if pending.is_empty() {
        "none".to_owned()
    } else {
        pending.iter().map(describe).collect::<Vec<_>>().join("\n")
    };
    let system = format!(
        "You are the approval assistant of an AI agency. You cannot act yourself. When the operator wants an action, \
         reply with the exact command on its own line as `COMMAND: <command>`; the operator must send it to confirm. {HELP}\n\
         Pending approvals:\n{pending_text}"
    );
    let mut messages = vec![json!({"role": "system", "content": system})];
    messages.extend(
        history
            .iter()
            .map(|(role, content)| json!({"role": role, "content": content})),
    );
    messages.push(json!({"role": "user", "content": text}));
    messages
}

/// The model's answer as a reply: lines `COMMAND: <command>` that parse as commands
/// become suggestions (never actions); the rest is text. An answer is cut at
/// [`crate::contract::MAX_CHAT_CHARS`] characters, like a message to the assistant: it
/// is stored in the session's memory and sent back to the model with every later
/// message, so a runaway model must not grow either.
pub fn model_reply(content: &str) -> Reply {
    let limit = crate::contract::MAX_CHAT_CHARS;
    let content = match content.char_indices().nth(limit) {
        Some((cut, _)) => &content[..cut],
        None => content,
    };
    let mut actions = Vec::new();
    let mut text = String::new();
    for line in content.lines() {
        match line.trim().strip_prefix("COMMAND:") {
            Some(cmd) if !matches!(parse(cmd), Command::Other(_)) => {
                actions.push(json!({"type": "suggested", "command": cmd.trim()}));
                text.push_str(&format!("To do this, send: {}\n", cmd.trim()));
            }
            _ => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    Reply {
        text: text.trim_end().to_owned(),
        actions,
    }
}

/// A chat-completions answer without `choices[0].message.content`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the model's answer has no choices[0].message.content")]
pub struct NoContent;

/// The reply in a chat-completions answer (`choices[0].message.content`), read by
/// [`model_reply`].
pub fn reply_from_completion(answer: &Value) -> Result<Reply, NoContent> {
    answer["choices"][0]["message"]["content"]
        .as_str()
        .map(model_reply)
        .ok_or(NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_replies_are_cut_to_the_chat_limit() {
        let long = "é".repeat(5_000_000);
        let r = model_reply(&long);
        assert_eq!(r.text.chars().count(), crate::contract::MAX_CHAT_CHARS);
        assert_eq!(model_reply("short").text, "short");
    }

    macro_rules! parses {
        ($($name:ident: $input:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() { assert_eq!(parse($input), $want); }
        )*};
    }

    parses! {
        pending: "what's pending?" => Command::Pending;
        approve_number: "approve 42" => Command::Approve { target: Target::Number(42), comment: None };
        approve_hash: "Approve #7." => Command::Approve { target: Target::Number(7), comment: None };
        deny_comment: "deny 42: too expensive" => Command::Deny { target: Target::Number(42), comment: Some("too expensive".into()) };
        approve_it: "approve it" => Command::Approve { target: Target::Last, comment: None };
        budget: "budget" => Command::Budget;
        halt_agent: "halt codegen" => Command::Halt { what: HaltTarget::Agent("codegen".into()), reason: None };
        halt_all_reason: "halt all: incident" => Command::Halt { what: HaltTarget::All, reason: Some("incident".into()) };
        resume: "resume" => Command::Resume { what: None };
        resume_agent: "resume codegen" => Command::Resume { what: Some(HaltTarget::Agent("codegen".into())) };
        halt_channel: "halt channel Ops: noisy" => Command::Halt { what: HaltTarget::Channel("ops".into()), reason: Some("noisy".into()) };
        halt_agent_word: "halt agent codegen" => Command::Halt { what: HaltTarget::Agent("codegen".into()), reason: None };
        halt_task: "halt task T-1" => Command::Halt { what: HaltTarget::Task("T-1".into()), reason: None };
        resume_channel: "resume channel ops" => Command::Resume { what: Some(HaltTarget::Channel("ops".into())) };
        status: "status" => Command::Status;
        status_of_one: "status 3" => Command::Show(Target::Number(3));
        why: "why was 17 denied?" => Command::Why(Target::Number(17));
        why_it: "why was it denied" => Command::Why(Target::Last);
        route: "route: Deploy the API to Production" => Command::Route("Deploy the API to Production".into());
        help: "help" => Command::Help;
        show: "show 3" => Command::Show(Target::Number(3));
        other: "should we ship on friday?" => Command::Other("should we ship on friday?".into());
        // Lower-casing changes byte lengths here ('İ' -> "i̇"); offsets must come from the original.
        route_unicode: "ROUTE: İstanbul deploy" => Command::Route("İstanbul deploy".into());
        unicode_prefix: "İİİ approve 1" => Command::Other("İİİ approve 1".into());
        halt_unicode: "halt: İncident" => Command::Halt { what: HaltTarget::All, reason: Some("İncident".into()) };
        deny_mentioning_pending: "deny 42: still pending review" => Command::Deny { target: Target::Number(42), comment: Some("still pending review".into()) };
        halt_folds_case: "halt CodeGen" => Command::Halt { what: HaltTarget::Agent("codegen".into()), reason: None };
        resume_folds_case: "resume CodeGen" => Command::Resume { what: Some(HaltTarget::Agent("codegen".into())) };
        resume_all: "resume all" => Command::Resume { what: None };
        resume_everyone: "Resume everyone." => Command::Resume { what: None };
        resume_punctuation: "resume codegen!" => Command::Resume { what: Some(HaltTarget::Agent("codegen".into())) };
        halt_punctuation: "halt CodeGen." => Command::Halt { what: HaltTarget::Agent("codegen".into()), reason: None };
        halt_tab: "halt\tall" => Command::Halt { what: HaltTarget::All, reason: None };
        halt_two_words: "halt codegen\tnow" => Command::Other("halt codegen\tnow".into());
        list_pending: "list pending approvals" => Command::Pending;
        approve_garbage: "approve everything now" => Command::Other("approve everything now".into());
    }
}

/// Whatever the spelling, "resume X" names the agent "halt X" halted (the stores match
/// halts by exact name, and the API folds names the same way).
#[cfg(test)]
mod halt_and_resume {
    use super::*;

    /// The halt's target, `None` for everything (as a resume names it).
    fn halted(message: &str) -> Option<HaltTarget> {
        match parse(message) {
            Command::Halt { what, .. } => Some(what).filter(|w| *w != HaltTarget::All),
            c => panic!("{message:?} is not a halt: {c:?}"),
        }
    }

    fn resumed(message: &str) -> Option<HaltTarget> {
        match parse(message) {
            Command::Resume { what } => what,
            c => panic!("{message:?} is not a resume: {c:?}"),
        }
    }

    #[test]
    fn resume_lifts_what_halt_stored() {
        for name in [
            "CodeGen",
            "codegen",
            "CODEGEN",
            "Codegen.",
            "İnfra",
            "ALL",
            "Everyone",
            "channel Ops",
            "agent CodeGen",
            "task t-1",
        ] {
            assert_eq!(
                resumed(&format!("resume {name}")),
                halted(&format!("halt {name}")),
                "{name}"
            );
        }
        assert_eq!(
            halted("halt CodeGen: tests are red"),
            Some(HaltTarget::Agent(
                crate::contract::canonical_name("target", "CodeGen").unwrap()
            )),
            "the name the API's halt body stores"
        );
        assert_eq!(
            resumed("resume CodeGen"),
            Some(HaltTarget::Agent("codegen".into()))
        );
    }

    #[test]
    fn unusable_names_are_not_commands() {
        let long = "a".repeat(crate::contract::MAX_NAME_CHARS + 1);
        for message in [
            format!("halt {long}"),
            format!("resume {long}"),
            "resume \u{1}".into(),
            "halt channel".into(),
            "halt planet earth".into(),
            "resume channel a b".into(),
        ] {
            assert_eq!(parse(&message), Command::Other(message.clone()));
        }
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// Messages built from prefixes the parser looks for, glued to characters whose
    /// lower case changes byte length: parsing must never panic.
    #[test]
    fn parse_never_panics_on_odd_text() {
        let pieces = [
            "route:", "ROUTE:", "approve ", "deny ", "halt", "resume ", "why ", "show ", "İ",
            "\u{212A}", "ẞ", "Σ", ":", " ", "\t", "42", "it", "pending", "é", "🙂", "",
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..20_000 {
            let m: String = (0..rng.usize(..6))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let _ = parse(&m);
        }
    }
}
