//! Approval cards' buttons: what each button carries, so that a click comes back as
//! "approve (or deny, or approve and grant for a while) approval X". The same encoding
//! for Telegram's `callback_data` (at most 64 bytes) and Discord's `custom_id` (at most
//! 100 characters); Slack buttons carry an `action_id` and the approval id as `value`.

/// Slack's `action_id` of the Approve button.
pub const SLACK_APPROVE: &str = "agency_approve";
/// Slack's `action_id` of the Deny button.
pub const SLACK_DENY: &str = "agency_deny";
/// Slack's `action_id` of an "approve for ..." button: this, then the seconds.
pub const SLACK_GRANT: &str = "agency_grant_";
/// Slack's `action_id` of an "extend" button: this, then the seconds.
pub const SLACK_EXTEND: &str = "agency_extend_";
/// Slack's `action_id` of the "Deny with reason" button, and the `callback_id` of the
/// modal it opens.
pub const SLACK_REASON: &str = "agency_reason";
/// Slack's `action_id`s of a batch card's buttons (`value` holds the batch id).
pub const SLACK_APPROVE_ALL: &str = "agency_approve_all";
pub const SLACK_DENY_ALL: &str = "agency_deny_all";
/// The reason's input in the reason modal (Slack's `block_id` and `action_id`,
/// Discord's text input `custom_id`).
pub const REASON_INPUT: &str = "reason";
/// The longest reason a modal takes.
pub const REASON_CHARS: u32 = 1000;
/// What a Telegram card says of reasons (it has no modal).
pub const TELEGRAM_REPLY_HINT: &str =
    "To give a reason, reply to this message: \"deny: why\" or \"approve: why\".";

/// Telegram's `callback_data` limit, in bytes.
pub const TELEGRAM_DATA_BYTES: usize = 64;

/// What a card's button asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Deny,
    /// Approve, and grant the same kind of task for this many seconds.
    Grant(u64),
    /// Decide nothing yet: give the ask this many seconds more.
    Extend(u64),
    /// Deny, with a reason asked for first (a modal on Slack and Discord).
    Reason,
    /// On a batch card (several asks of one conversation): approve every one.
    ApproveAll,
    /// On a batch card: deny every one.
    DenyAll,
}

impl Verdict {
    pub fn approves(self) -> bool {
        matches!(
            self,
            Verdict::Approve | Verdict::Grant(_) | Verdict::ApproveAll
        )
    }

    /// Whether it is a batch card's button (its data names a batch, not an approval).
    pub fn is_batch(self) -> bool {
        matches!(self, Verdict::ApproveAll | Verdict::DenyAll)
    }

    /// The extension's seconds, for [`Verdict::Extend`].
    pub fn extend_secs(self) -> Option<u64> {
        match self {
            Verdict::Extend(s) => Some(s),
            _ => None,
        }
    }

    /// The grant's seconds, for [`Verdict::Grant`].
    pub fn grant_secs(self) -> Option<u64> {
        match self {
            Verdict::Grant(s) => Some(s),
            _ => None,
        }
    }

    /// The button's label.
    pub fn label(self) -> String {
        match self {
            Verdict::Approve => "Approve".into(),
            Verdict::Deny => "Deny".into(),
            Verdict::Grant(secs) => format!("Approve for {}", span(secs)),
            Verdict::Extend(secs) => format!("Extend {}", span(secs)),
            Verdict::Reason => "Deny with reason".into(),
            Verdict::ApproveAll => "Approve all".into(),
            Verdict::DenyAll => "Deny all".into(),
        }
    }

    fn code(self) -> String {
        match self {
            Verdict::Approve => "a".into(),
            Verdict::Deny => "d".into(),
            Verdict::Grant(secs) => format!("g{secs}"),
            Verdict::Extend(secs) => format!("x{secs}"),
            Verdict::Reason => "r".into(),
            Verdict::ApproveAll => "aa".into(),
            Verdict::DenyAll => "dd".into(),
        }
    }

    fn of_code(code: &str) -> Option<Verdict> {
        let secs = |s: &str| {
            Some(s)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse().ok())
                .filter(|s: &u64| *s > 0)
        };
        match code {
            "a" => Some(Verdict::Approve),
            "d" => Some(Verdict::Deny),
            "r" => Some(Verdict::Reason),
            "aa" => Some(Verdict::ApproveAll),
            "dd" => Some(Verdict::DenyAll),
            _ => match code.split_at_checked(1)? {
                ("g", s) => secs(s).map(Verdict::Grant),
                ("x", s) => secs(s).map(Verdict::Extend),
                _ => None,
            },
        }
    }

    /// The buttons of a card offering grants of `grants` seconds and, when given, an
    /// extension of `extend` seconds; `reason`: "Deny with reason" too (on platforms
    /// with modals; on Telegram a reply to the card carries the reason).
    pub fn all(grants: &[u64], extend: Option<u64>, reason: bool) -> Vec<Verdict> {
        let mut v = vec![Verdict::Approve];
        v.extend(grants.iter().map(|&s| Verdict::Grant(s)));
        v.extend(extend.map(Verdict::Extend));
        v.push(Verdict::Deny);
        if reason {
            v.push(Verdict::Reason);
        }
        v
    }
}

/// "1 hour", "30 minutes", "2 days": a duration in the largest whole unit.
pub fn span(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `agency:<a|d|gSECS>:<id>`, when it fits Telegram's 64 bytes (and so Discord's 100
/// characters).
pub fn button_data(verdict: Verdict, approval_id: &str) -> Option<String> {
    let data = format!("agency:{}:{approval_id}", verdict.code());
    (data.len() <= TELEGRAM_DATA_BYTES && !approval_id.is_empty()).then_some(data)
}

/// What a button's data asks: (verdict, approval id); `None` for data that is not an
/// Agency button's.
pub fn parse_button(data: &str) -> Option<(Verdict, String)> {
    let rest = data.strip_prefix("agency:")?;
    let (code, id) = rest.split_once(':')?;
    let verdict = Verdict::of_code(code)?;
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| (verdict, id.to_owned()))
}

/// A Slack button's `action_id` for `verdict`.
pub fn slack_action(verdict: Verdict) -> String {
    match verdict {
        Verdict::Approve => SLACK_APPROVE.into(),
        Verdict::Deny => SLACK_DENY.into(),
        Verdict::Grant(secs) => format!("{SLACK_GRANT}{secs}"),
        Verdict::Extend(secs) => format!("{SLACK_EXTEND}{secs}"),
        Verdict::Reason => SLACK_REASON.into(),
        Verdict::ApproveAll => SLACK_APPROVE_ALL.into(),
        Verdict::DenyAll => SLACK_DENY_ALL.into(),
    }
}

/// What a Slack button's `action_id` asks (`value` holds the approval id).
pub fn parse_slack_action(action_id: &str) -> Option<Verdict> {
    match action_id {
        SLACK_APPROVE => Some(Verdict::Approve),
        SLACK_DENY => Some(Verdict::Deny),
        SLACK_REASON => Some(Verdict::Reason),
        SLACK_APPROVE_ALL => Some(Verdict::ApproveAll),
        SLACK_DENY_ALL => Some(Verdict::DenyAll),
        other => match (
            other.strip_prefix(SLACK_GRANT),
            other.strip_prefix(SLACK_EXTEND),
        ) {
            (Some(s), _) => Verdict::of_code(&format!("g{s}")),
            (_, Some(s)) => Verdict::of_code(&format!("x{s}")),
            _ => None,
        },
    }
}

/// What a reply to a card says: `approve` or `deny` (any case), then the reason, if
/// any, after spaces or a colon (`deny: not on a Friday`). `None` for any other text.
pub fn reply_verdict(text: &str) -> Option<(bool, Option<String>)> {
    let text = text.trim();
    // A question is not a decision ("approved by whom?").
    if text.ends_with('?') {
        return None;
    }
    let word_end = text
        .find(|c: char| !c.is_alphabetic())
        .unwrap_or(text.len());
    let approve = match text[..word_end].to_lowercase().as_str() {
        "approve" | "approved" => true,
        "deny" | "denied" => false,
        _ => return None,
    };
    let rest = text[word_end..].trim_start();
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    let reason: String = rest.chars().take(REASON_CHARS as usize).collect();
    Some((approve, Some(reason).filter(|r| !r.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_round_trip_within_telegrams_limit() {
        let id = "apr_0123456789abcdef0123";
        for verdict in [
            Verdict::Approve,
            Verdict::Deny,
            Verdict::Grant(3600),
            Verdict::Grant(31_536_000),
            Verdict::Reason,
            Verdict::ApproveAll,
            Verdict::DenyAll,
        ] {
            let data = button_data(verdict, id).unwrap();
            assert!(data.len() <= 64);
            assert_eq!(parse_button(&data), Some((verdict, id.to_owned())));
            assert_eq!(parse_slack_action(&slack_action(verdict)), Some(verdict));
        }
        assert_eq!(button_data(Verdict::Approve, &"x".repeat(60)), None);
        assert_eq!(button_data(Verdict::Approve, ""), None);
        for other in [
            "",
            "agency:",
            "agency:x:1",
            "agency:a:",
            "other:a:1",
            "agency:a:a b",
            "agency:g:1",
            "agency:g0:1",
            "agency:g-5:1",
            "agency:g99999999999999999999999:1",
        ] {
            assert_eq!(parse_button(other), None, "{other:?}");
        }
        assert_eq!(parse_slack_action(SLACK_DENY), Some(Verdict::Deny));
        assert_eq!(parse_slack_action("agency_grant_x"), None);
        assert_eq!(parse_slack_action("something_else"), None);
    }

    #[test]
    fn replies_to_a_card_read_as_a_verdict_and_a_reason() {
        for (text, want) in [
            (
                "deny: not on a Friday",
                Some((false, Some("not on a Friday"))),
            ),
            (
                "Deny not on a Friday",
                Some((false, Some("not on a Friday"))),
            ),
            ("  APPROVE  ", Some((true, None))),
            ("approved: looks fine", Some((true, Some("looks fine")))),
            ("deny:", Some((false, None))),
            ("denying it", None),
            ("approved by whom?", None),
            ("why?", None),
            ("", None),
        ] {
            let got = reply_verdict(text);
            let got = got.as_ref().map(|(a, r)| (*a, r.as_deref()));
            assert_eq!(got, want, "{text:?}");
        }
        let long = format!("deny {}", "x".repeat(5000));
        assert_eq!(reply_verdict(&long).unwrap().1.unwrap().len(), 1000);
    }

    #[test]
    fn labels() {
        assert_eq!(Verdict::Grant(3600).label(), "Approve for 1 hour");
        assert_eq!(span(1800), "30 minutes");
        assert_eq!(span(2 * 86_400), "2 days");
        assert_eq!(span(90), "90 seconds");
        assert_eq!(Verdict::Extend(1800).label(), "Extend 30 minutes");
        let all = Verdict::all(&[3600], Some(1800), true);
        assert_eq!(
            all,
            [
                Verdict::Approve,
                Verdict::Grant(3600),
                Verdict::Extend(1800),
                Verdict::Deny,
                Verdict::Reason
            ]
        );
        assert_eq!(
            Verdict::all(&[], None, false),
            [Verdict::Approve, Verdict::Deny]
        );
        assert!(!Verdict::Reason.approves());
        assert!(!Verdict::Extend(60).approves());
    }
}
