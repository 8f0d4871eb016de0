//! JSON Schema helpers for the API document (`schema` feature).

use schemars::Schema;

/// Marks every property required: for answers, whose every field is always written
/// (an absent value as null).
pub fn all_required(schema: &mut Schema) {
    let mut names: Vec<String> = schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    // In name order, whichever map order serde_json was built with.
    names.sort();
    let names = names.into_iter().map(serde_json::Value::String).collect();
    schema.insert("required".into(), serde_json::Value::Array(names));
}
