//! The operator's chat commands, understood deterministically (no model needed):
//! "what's pending?", "approve 42", "deny 42: too expensive", "approve it", "budget",
//! "halt codegen", "resume", "why was 17 denied?", "route: <text>", "help"; and the
//! replies, so every runtime answers in the same words.

mod model;
mod parse;
mod reply;

pub use model::*;
pub use parse::*;
pub use reply::*;

#[cfg(test)]
use crate::halt::HaltTarget;

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
        grant: "grant 42 for 2h" => Command::Grant { target: Target::Number(42), secs: Some(7200), comment: None };
        grant_words: "Grant it for an hour: routine" => Command::Grant { target: Target::Last, secs: Some(3600), comment: Some("routine".into()) };
        grant_default: "grant #3" => Command::Grant { target: Target::Number(3), secs: None, comment: None };
        grant_bad_duration: "grant 3 for ever" => Command::Other("grant 3 for ever".into());
        approve_all: "approve all for CodeGen" => Command::DecideAll { approve: true, agent: "codegen".into(), action: None, comment: None };
        deny_all_action: "deny all deploy for codegen: freeze" => Command::DecideAll { approve: false, agent: "codegen".into(), action: Some("deploy".into()), comment: Some("freeze".into()) };
        approve_all_alone: "approve all" => Command::Other("approve all".into());
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
