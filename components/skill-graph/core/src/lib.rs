//! The skill graph behind Agency's router: agents, channels and the skills that tie
//! keywords to agents, with parsing (JSON, or Markdown skill files with YAML front
//! matter), validation with `FILE:LINE` errors, versioning by content digest, search,
//! and learning keywords from labelled messages.
//!
//! Pure logic: this crate never touches files, sockets or clocks. Callers read files
//! and hand their text in. It must not depend on wasmtime, the worker crate or any
//! runtime; it builds for wasm32 as well as natively.

mod error;
pub mod learn;
mod model;
#[cfg(feature = "schema")]
pub mod schema;
pub mod search;
#[cfg(feature = "markdown")]
pub mod source;
pub mod text;
mod validate;

pub use error::{GraphError, GraphErrors};
pub use model::{
    Affinity, Agent, Calibration, Channel, Complexity, Instance, Keyword, MAX_AFFINITY_TTL_SECONDS,
    MAX_INSTANCES, Pooling, Skill, SkillGraph, default_threshold,
};
pub use validate::{
    MAX_ID_BYTES, MAX_KEYWORD_BYTES, MAX_KEYWORD_WORDS, MAX_KEYWORDS, MAX_WEIGHT, SourceMap,
    validate,
};

/// Counts that describe a graph in one line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GraphSummary {
    pub version: String,
    pub agents: u32,
    pub channels: u32,
    pub skills: u32,
    pub keywords: u32,
}

impl SkillGraph {
    /// Parses the JSON form and validates it. The returned graph carries its version.
    pub fn from_json(json: &str) -> Result<SkillGraph, GraphErrors> {
        Self::from_json_named(json, None)
    }

    /// Like [`SkillGraph::from_json`], naming `file` in errors.
    pub fn from_json_named(json: &str, file: Option<&str>) -> Result<SkillGraph, GraphErrors> {
        // Serde reads a struct from an array too, field by field in order: a graph's
        // agents, channels and skills must be written as objects.
        let graph: SkillGraph = serde_json::from_str::<shape::Objects>(json)
            .and_then(|_| serde_json::from_str(json))
            .map_err(|e| {
                let line = u32::try_from(e.line()).ok().filter(|l| *l > 0);
                let message = format!("invalid graph JSON: {e}");
                GraphErrors(vec![GraphError {
                    file: file.map(str::to_owned),
                    line,
                    message,
                }])
            })?;
        graph.finish(&SourceMap::default())
    }

    /// Validates and stamps the version; the single way a graph becomes usable.
    pub fn finish(mut self, sources: &SourceMap) -> Result<SkillGraph, GraphErrors> {
        let errors = validate(&self, sources);
        if !errors.is_empty() {
            return Err(GraphErrors(errors));
        }
        self.version = Some(self.digest());
        Ok(self)
    }

    /// Content digest of the graph without its version field: `g` + 16 hex digits.
    pub fn digest(&self) -> String {
        let mut copy = self.clone();
        copy.version = None;
        let canonical = serde_json::to_vec(&copy).unwrap_or_default();
        let h = text::fnv1a(text::FNV_OFFSET, &canonical);
        format!("g{h:016x}")
    }

    /// The version, computing it for graphs built by hand.
    pub fn version(&self) -> String {
        self.version.clone().unwrap_or_else(|| self.digest())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn summary(&self) -> GraphSummary {
        let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        GraphSummary {
            version: self.version(),
            agents: n(self.agents.len()),
            channels: n(self.channels.len()),
            skills: n(self.skills.len()),
            keywords: n(self.skills.iter().map(|s| s.keywords.len()).sum()),
        }
    }

    pub fn agent(&self, id: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.id == id)
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

/// The HTTP entity tag of graph version `version`.
pub fn etag(version: &str) -> String {
    format!("\"{version}\"")
}

/// Whether an `If-None-Match` header value matches graph version `version`: `*`, or a
/// listed tag equal to its [`etag`], weak (`W/"..."`) or strong (the weak comparison
/// RFC 9110 prescribes for `If-None-Match`).
pub fn if_none_match(header: &str, version: &str) -> bool {
    let tag = etag(version);
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

impl std::fmt::Display for GraphSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} agents, {} channels, {} skills, {} keywords (version {})",
            self.agents, self.channels, self.skills, self.keywords, self.version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        let v = "g0123456789abcdef";
        for header in [
            "\"g0123456789abcdef\"",
            "W/\"g0123456789abcdef\"",
            "\"other\", W/\"g0123456789abcdef\"",
            "*",
        ] {
            assert!(if_none_match(header, v), "{header}");
        }
        for header in ["\"other\"", "g0123456789abcdef", "W/g0123456789abcdef", ""] {
            assert!(!if_none_match(header, v), "{header}");
        }
    }
}

/// The JSON shape a graph must have before its fields are read.
mod shape {
    use serde::Deserialize;
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    /// The lists whose entries must be JSON objects.
    #[derive(Deserialize)]
    pub(crate) struct Objects {
        #[serde(default)]
        #[allow(dead_code)]
        agents: Vec<AnObject>,
        #[serde(default)]
        #[allow(dead_code)]
        channels: Vec<AnObject>,
        #[serde(default)]
        #[allow(dead_code)]
        skills: Vec<AnObject>,
    }

    /// Any JSON object, contents unread; anything else is an error.
    pub(crate) struct AnObject;

    impl<'de> Deserialize<'de> for AnObject {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = AnObject;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnObject, A::Error> {
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(AnObject)
                }
            }
            d.deserialize_map(V)
        }
    }
}

#[cfg(test)]
mod shape_tests {
    use super::*;

    #[test]
    fn graph_parts_must_be_objects() {
        let ok = r#"{"agents":[{"id":"a","name":"A"}],"skills":[{"id":"s","agent":"a","keywords":["deploy"]}]}"#;
        assert!(SkillGraph::from_json(ok).is_ok());
        for bad in [
            r#"{"agents":[["a","A"]],"skills":[{"id":"s","agent":"a","keywords":["deploy"]}]}"#,
            r#"{"agents":[{"id":"a","name":"A"}],"skills":[["s","a",["deploy"]]]}"#,
            r#"{"agents":[{"id":"a","name":"A"}],"channels":[["c"]],"skills":[]}"#,
        ] {
            let e = SkillGraph::from_json(bad).unwrap_err();
            assert!(e.0[0].message.contains("expected an object"), "{bad}: {e}");
        }
    }
}
