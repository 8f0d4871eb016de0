//! The JSON Schema of a graph id, for the API document: the bound the validator
//! enforces on every id of a graph.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// An id in the skill graph.
pub struct GraphId;

impl JsonSchema for GraphId {
    fn schema_name() -> Cow<'static, str> {
        "GraphId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": crate::MAX_ID_BYTES,
            "pattern": r"^[^\u0000-\u002c\u002f\u003a-\u0040\u005b-\u005e\u0060\u007b-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$",
            "description": format!("An id in the skill graph: letters, digits, '-', '_' or '.', at most {} bytes.", crate::MAX_ID_BYTES),
        })
    }
}

/// An agent id, or null (nobody): a field that must be present.
pub struct AgentOrNobody;

impl JsonSchema for AgentOrNobody {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "AgentOrNobody".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [generator.subschema_for::<GraphId>(), { "type": "null" }],
        })
    }
}

/// A keyword: a bare phrase (weight 1) or `{phrase, weight}` (see [`crate::Keyword`]'s
/// deserializer).
impl JsonSchema for crate::Keyword {
    fn schema_name() -> Cow<'static, str> {
        "Keyword".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "oneOf": [
                { "type": "string", "minLength": 1 },
                {
                    "type": "object",
                    "required": ["phrase"],
                    "properties": {
                        "phrase": { "type": "string", "minLength": 1 },
                        "weight": { "type": "number", "exclusiveMinimum": 0, "maximum": crate::MAX_WEIGHT }
                    }
                }
            ],
            "description": format!(
                "A phrase (weight 1) or {{phrase, weight}}; in canonical form at most {} words and {} bytes.",
                crate::MAX_KEYWORD_WORDS,
                crate::MAX_KEYWORD_BYTES
            ),
        })
    }
}
