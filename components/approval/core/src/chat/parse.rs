//! What the operator said, understood deterministically (no model needed).

use crate::halt::HaltTarget;

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
    /// "grant 42 for 2h", "grant it": approve and grant the same agent, action and
    /// environment for the duration (default an hour).
    Grant {
        target: Target,
        secs: Option<u64>,
        comment: Option<String>,
    },
    /// "approve all for codegen", "deny all deploy for codegen": every pending
    /// approval of the agent (and action).
    DecideAll {
        approve: bool,
        agent: String,
        action: Option<String>,
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

/// "all for codegen", "all deploy for codegen" after "approve" or "deny".
fn decide_all(t: &str, approve: bool, comment: &Option<String>) -> Option<Command> {
    let words: Vec<&str> = t.split_whitespace().collect();
    let name = |w: &str| crate::contract::canonical_name("agent", w).ok();
    let (action, agent) = match words.as_slice() {
        [all, "for" | "FOR" | "For", agent] if all.eq_ignore_ascii_case("all") => {
            (None, name(agent)?)
        }
        [all, action, "for" | "FOR" | "For", agent] if all.eq_ignore_ascii_case("all") => {
            (Some(name(action)?), name(agent)?)
        }
        _ => return None,
    };
    Some(Command::DecideAll {
        approve,
        agent,
        action,
        comment: comment.clone(),
    })
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
            if let Some(all) = decide_all(t, approve, &comment) {
                return all;
            }
            if let Some(target) = target(&t.to_lowercase()) {
                return if approve {
                    Command::Approve { target, comment }
                } else {
                    Command::Deny { target, comment }
                };
            }
        }
    }
    if let Some(rest) = after_prefix(text, "grant ") {
        let (t, comment) = with_comment(rest);
        let t = t.to_lowercase();
        let (t, secs) = match t.split_once(" for ") {
            Some((t, d)) => match crate::time::duration_secs(d) {
                Some(secs) => (t.to_owned(), Some(secs)),
                None => return Command::Other(text.to_owned()),
            },
            None => (t, None),
        };
        if let Some(target) = target(&t) {
            return Command::Grant {
                target,
                secs,
                comment,
            };
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
