//! The JSON Schemas of the assistant's request bodies, for the API document: the
//! bounds [`crate::contract`]'s checks enforce, stated so a client (and schemathesis)
//! can see them. The bodies derive their schemas (`schema` feature), field by field;
//! the strings below are the named schemas those fields refer to.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::contract::{
    MAX_CHAT_CHARS, MAX_NAME_CHARS, MAX_REPLY_TO_FIELDS, MAX_REPLY_TO_KEY_CHARS,
    MAX_REPLY_TO_VALUE_CHARS, MAX_TEXT_CHARS,
};

/// Whitespace as `str::trim` sees it, as a regex class body.
const SPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Whitespace and control characters (what a name may not start or end with).
const SPACE_OR_CONTROL: &str =
    r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
/// Control characters (what a name may not hold anywhere).
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";

/// At least one character that is not whitespace.
pub fn not_blank() -> String {
    format!("[^{SPACE}]")
}

/// 1 to [`MAX_NAME_CHARS`] characters once trimmed, without control characters.
fn short_name_pattern() -> String {
    format!(
        "^[{SPACE}]*[^{SPACE_OR_CONTROL}](?:[^{CONTROL}]{{0,{inner}}}[^{SPACE_OR_CONTROL}])?[{SPACE}]*$",
        inner = MAX_NAME_CHARS - 2
    )
}

macro_rules! named {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

named!(
    /// A name policies, budgets and halts compare.
    Name,
    json_schema!({
        "type": "string",
        "pattern": short_name_pattern(),
        "description": format!("A name policies, budgets and halts compare (agent, action, environment, channel, risk, tag): 1 to {MAX_NAME_CHARS} characters once leading and trailing whitespace is trimmed, without control characters. Compared trimmed and lower-cased."),
    })
);

named!(
    /// An id or name kept as given.
    ShortId,
    json_schema!({
        "type": "string",
        "pattern": short_name_pattern(),
        "description": format!("An id or name kept as given (task id, who decided, who asked): 1 to {MAX_NAME_CHARS} characters once leading and trailing whitespace is trimmed, without control characters. Stored trimmed."),
    })
);

named!(
    /// Free text, possibly empty.
    Text,
    json_schema!({
        "type": "string",
        "maxLength": MAX_TEXT_CHARS,
        "description": format!("Free text of at most {MAX_TEXT_CHARS} characters."),
    })
);

named!(
    /// Free text that must say something.
    Reason,
    json_schema!({
        "type": "string",
        "pattern": format!(
            "^[{SPACE}]*[^{SPACE}](?:[\\s\\S]{{0,{inner}}}[^{SPACE}])?[{SPACE}]*$",
            inner = MAX_TEXT_CHARS - 2
        ),
        "description": format!("Free text, required: 1 to {MAX_TEXT_CHARS} characters once leading and trailing whitespace is trimmed."),
    })
);

named!(
    /// Money in US dollars.
    Amount,
    json_schema!({
        "type": "number",
        "minimum": 0,
        "maximum": 1_000_000_000,
        "description": "US dollars: from 0 to 1e9.",
    })
);

named!(
    /// A grant's length.
    GrantSecs,
    json_schema!({
        "type": "integer",
        "minimum": crate::contract::GRANT_SECS.start(),
        "maximum": crate::contract::GRANT_SECS.end(),
        "description": "Seconds: a minute to a year.",
    })
);

named!(
    /// An extension's length.
    ExtendSecs,
    json_schema!({
        "type": "integer",
        "minimum": crate::contract::EXTEND_SECS.start(),
        "maximum": crate::contract::EXTEND_SECS.end(),
        "description": "Seconds: a minute to a day.",
    })
);

named!(
    /// The approvals a batch decides.
    BatchIds,
    json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": crate::contract::MAX_BATCH,
        "items": { "type": "string", "pattern": short_name_pattern() },
        "description": format!("1 to {} approval ids (repeats count once).", crate::contract::MAX_BATCH),
    })
);

/// Where an approval stands, as the API shows it.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShownStatus {
    Approved,
    Denied,
    Pending,
    Expired,
}

/// `decision` of a human's answer.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approve,
    Deny,
}

/// A chat session id.
pub struct SessionId;

impl JsonSchema for SessionId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SessionId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": MAX_NAME_CHARS,
            "pattern": not_blank(),
            "description": format!("1 to {MAX_NAME_CHARS} characters, not blank"),
        })
    }
}

/// A chat message.
pub struct ChatMessage;

impl JsonSchema for ChatMessage {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ChatMessage".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "maxLength": MAX_CHAT_CHARS,
            "pattern": not_blank(),
            "description": format!("Not blank; at most {MAX_CHAT_CHARS} characters (a longer message is refused with 413)"),
        })
    }
}

/// The halt and resume bodies: one shape per scope (a flat struct on the wire, checked
/// by `halt_target`).
fn by_scope(generator: &mut SchemaGenerator, reason: bool) -> Vec<serde_json::Value> {
    let name = generator.subschema_for::<Name>().to_value();
    let id = generator.subschema_for::<ShortId>().to_value();
    let why = generator.subschema_for::<Reason>().to_value();
    let shape = |scope: &str, target: serde_json::Value, needs_target: bool| {
        let mut required = vec!["scope"];
        if needs_target {
            required.push("target");
        }
        let mut properties = serde_json::json!({ "scope": { "const": scope }, "target": target });
        if reason {
            required.push("reason");
            properties["reason"] = why.clone();
        }
        serde_json::json!({
            "type": "object",
            "required": required,
            "additionalProperties": false,
            "properties": properties,
        })
    };
    let described = |mut s: serde_json::Value, d: &str| {
        s["description"] = d.into();
        s
    };
    vec![
        shape(
            "all",
            serde_json::json!({ "type": "null", "description": "scope all takes no target" }),
            false,
        ),
        shape("agent", described(name.clone(), "the agent"), true),
        shape("channel", described(name, "the channel"), true),
        shape("task", described(id, "the task id"), true),
    ]
}

impl JsonSchema for crate::contract::HaltBody {
    fn schema_name() -> Cow<'static, str> {
        "Halt".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "What to halt: everything (no target), one agent, one channel or one task; a reason is required.",
            "oneOf": by_scope(generator, true),
        })
    }
}

impl JsonSchema for crate::contract::ResumeBody {
    fn schema_name() -> Cow<'static, str> {
        "Resume".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Which halt to lift: the same scope and target as the halt.",
            "oneOf": by_scope(generator, false),
        })
    }
}

impl JsonSchema for crate::contract::HumanDecisionBody {
    fn schema_name() -> Cow<'static, str> {
        "HumanDecisionBody".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let by = generator.subschema_for::<ShortId>().to_value();
        let comment = generator.subschema_for::<Option<Text>>().to_value();
        let grant = generator
            .subschema_for::<Option<crate::contract::GrantTerms>>()
            .to_value();
        let shape = |verdict: &str, with_grant: bool| {
            let mut properties = serde_json::json!({
                "decision": { "const": verdict },
                "by": by.clone(),
                "comment": comment.clone(),
            });
            properties["grant"] = if with_grant {
                grant.clone()
            } else {
                serde_json::json!({ "type": "null" })
            };
            serde_json::json!({
                "type": "object",
                "required": ["decision", "by"],
                "additionalProperties": false,
                "properties": properties,
            })
        };
        json_schema!({
            "description": "A human's answer. Approving may also grant the same kind of task (`grant`); a denial cannot.",
            "oneOf": [shape("approve", true), shape("deny", false)],
        })
    }
}

impl JsonSchema for crate::contract::BatchDecisionBody {
    fn schema_name() -> Cow<'static, str> {
        "BatchDecisionBody".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let verdict = generator.subschema_for::<Verdict>().to_value();
        let by = generator.subschema_for::<ShortId>().to_value();
        let comment = generator.subschema_for::<Option<Text>>().to_value();
        let ids = generator.subschema_for::<BatchIds>().to_value();
        let name = generator.subschema_for::<Name>().to_value();
        let base = || {
            serde_json::json!({
                "decision": verdict.clone(),
                "by": by.clone(),
                "comment": comment.clone(),
            })
        };
        let null = serde_json::json!({ "type": "null" });
        let mut by_ids = base();
        by_ids["ids"] = ids;
        let mut by_filter = base();
        by_filter["ids"] = null.clone();
        let mut given = Vec::new();
        for f in ["agent", "action", "channel"] {
            by_ids[f] = null.clone();
            let (n, z) = (name.clone(), null.clone());
            by_filter[f] = serde_json::json!({ "anyOf": [n, z] });
            let mut only = serde_json::Map::new();
            only.insert(f.to_owned(), name.clone());
            given.push(serde_json::json!({ "required": [f], "properties": only }));
        }
        json_schema!({
            "description": "Which pending approvals to decide: `ids`, or a filter of at least one of `agent`, `action`, `channel` (every pending approval matching all the given ones).",
            "oneOf": [
                { "type": "object", "required": ["decision", "by", "ids"], "additionalProperties": false, "properties": by_ids },
                { "type": "object", "required": ["decision", "by"], "additionalProperties": false, "properties": by_filter,
                  "anyOf": given },
            ],
        })
    }
}

/// An approval's `replyTo`: the address dispatch gave the gateway.
pub struct ReplyTo;

impl JsonSchema for ReplyTo {
    fn schema_name() -> Cow<'static, str> {
        "ReplyToAddress".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "Where to ask in chat: the task's replyTo as dispatch gave it (platform, source and the platform's conversation fields)",
            "required": ["platform", "source"],
            "maxProperties": MAX_REPLY_TO_FIELDS,
            "propertyNames": { "maxLength": MAX_REPLY_TO_KEY_CHARS },
            "properties": {
                "platform": { "type": "string", "minLength": 1, "maxLength": MAX_REPLY_TO_KEY_CHARS },
                "source": { "type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS },
            },
            "additionalProperties": {
                "anyOf": [
                    { "type": "string", "maxLength": MAX_REPLY_TO_VALUE_CHARS },
                    { "type": ["number", "boolean", "null"] },
                ],
            },
        })
    }
}

/// Marks every property required (a field that is always there, null or not).
pub fn all_required(schema: &mut Schema) {
    let mut names: Vec<String> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    names.sort();
    let names = names.into_iter().map(serde_json::Value::String).collect();
    schema.insert("required".into(), serde_json::Value::Array(names));
}
