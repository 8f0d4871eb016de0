//! Approval cards' buttons: what each button carries, so that a click comes back as
//! "approve (or deny) approval X". The same encoding for Telegram's `callback_data`
//! (at most 64 bytes) and Discord's `custom_id` (at most 100 characters); Slack
//! buttons carry an `action_id` and the approval id as `value`.

/// Slack's `action_id` of the Approve button.
pub const SLACK_APPROVE: &str = "agency_approve";
/// Slack's `action_id` of the Deny button.
pub const SLACK_DENY: &str = "agency_deny";

/// Telegram's `callback_data` limit, in bytes.
pub const TELEGRAM_DATA_BYTES: usize = 64;

/// `agency:a:<id>` or `agency:d:<id>`, when it fits Telegram's 64 bytes (and so
/// Discord's 100 characters).
pub fn button_data(approve: bool, approval_id: &str) -> Option<String> {
    let data = format!("agency:{}:{approval_id}", if approve { 'a' } else { 'd' });
    (data.len() <= TELEGRAM_DATA_BYTES && !approval_id.is_empty()).then_some(data)
}

/// What a button's data asks: (approve, approval id); `None` for data that is not an
/// Agency button's.
pub fn parse_button(data: &str) -> Option<(bool, String)> {
    let rest = data.strip_prefix("agency:")?;
    let (verb, id) = rest.split_once(':')?;
    let approve = match verb {
        "a" => true,
        "d" => false,
        _ => return None,
    };
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| (approve, id.to_owned()))
}

/// What a Slack button's `action_id` asks (`value` holds the approval id).
pub fn parse_slack_action(action_id: &str) -> Option<bool> {
    match action_id {
        SLACK_APPROVE => Some(true),
        SLACK_DENY => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buttons_round_trip_within_telegrams_limit() {
        let id = "apr_0123456789abcdef0123";
        for approve in [true, false] {
            let data = button_data(approve, id).unwrap();
            assert!(data.len() <= 64);
            assert_eq!(parse_button(&data), Some((approve, id.to_owned())));
        }
        assert_eq!(button_data(true, &"x".repeat(60)), None);
        assert_eq!(button_data(true, ""), None);
        for other in [
            "",
            "agency:",
            "agency:x:1",
            "agency:a:",
            "other:a:1",
            "agency:a:a b",
        ] {
            assert_eq!(parse_button(other), None, "{other:?}");
        }
        assert_eq!(parse_slack_action(SLACK_DENY), Some(false));
        assert_eq!(parse_slack_action("something_else"), None);
    }
}
