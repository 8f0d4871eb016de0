//! The authoring form of a graph: a directory with `graph.yaml` (threshold, agents,
//! channels) and Markdown skill files whose YAML front matter holds the skill. The caller
//! reads the files; this module only sees `(relative path, text)` pairs.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::{
    Agent, Channel, Complexity, GraphError, GraphErrors, Keyword, Skill, SkillGraph, SourceMap,
    default_threshold,
};

/// The name of the file that holds agents and channels.
pub const GRAPH_FILE: &str = "graph.yaml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphFile {
    #[serde(default = "default_threshold")]
    threshold: f64,
    #[serde(default, alias = "noneScore")]
    none_score: f64,
    #[serde(default, alias = "nonePerWord")]
    none_per_word: f64,
    #[serde(default)]
    pooling: crate::Pooling,
    #[serde(default)]
    agents: Vec<Agent>,
    #[serde(default)]
    channels: Vec<ChannelYaml>,
    #[serde(default)]
    calibration: Option<crate::Calibration>,
    #[serde(default)]
    affinity: Option<crate::Affinity>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelYaml {
    id: String,
    #[serde(default)]
    context: String,
    #[serde(default, alias = "defaultAgent")]
    default_agent: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Option<String>,
    /// Agent-skill files often carry a `name`; it stands in for `id` when that is absent.
    name: Option<String>,
    agent: Option<String>,
    #[serde(default)]
    keywords: Vec<Keyword>,
    #[serde(default)]
    channels: Vec<String>,
    complexity: Option<String>,
    #[serde(default)]
    links: Vec<String>,
    description: Option<String>,
    #[serde(default)]
    learned: bool,
    // Common agent-skill metadata we accept and ignore.
    #[serde(default, rename = "allowed-tools")]
    _allowed_tools: Option<serde_norway::Value>,
    #[serde(default, rename = "license")]
    _license: Option<serde_norway::Value>,
    #[serde(default, rename = "version")]
    _version: Option<serde_norway::Value>,
    #[serde(default, rename = "metadata")]
    _metadata: Option<serde_norway::Value>,
}

/// Builds a graph from `(path, text)` pairs: one [`GRAPH_FILE`] and any number of `.md`
/// skill files. Returns every error found, each with file and line.
pub fn parse_dir(files: &[(String, String)]) -> Result<SkillGraph, GraphErrors> {
    let mut errors = Vec::new();
    let mut sources = SourceMap::default();
    let mut graph = SkillGraph {
        version: None,
        calibration: None,
        affinity: None,
        threshold: default_threshold(),
        none_score: 0.0,
        none_per_word: 0.0,
        pooling: crate::Pooling::Sum,
        agents: vec![],
        channels: vec![],
        skills: vec![],
    };

    match files
        .iter()
        .find(|(p, _)| p == GRAPH_FILE || p == "graph.yml")
    {
        None => errors.push(GraphError::new(format!(
            "no {GRAPH_FILE} (agents and channels) in the graph directory"
        ))),
        Some((path, text)) => match serde_norway::from_str::<GraphFile>(text) {
            Err(e) => errors.push(yaml_error(path, 0, &e)),
            Ok(g) => {
                graph.threshold = g.threshold;
                graph.none_score = g.none_score;
                graph.none_per_word = g.none_per_word;
                graph.pooling = g.pooling;
                graph.calibration = g.calibration;
                graph.affinity = g.affinity;
                for a in &g.agents {
                    sources.entries.insert(
                        format!("agent:{}", a.id),
                        (path.clone(), id_line(text, &a.id)),
                    );
                }
                for c in &g.channels {
                    sources.entries.insert(
                        format!("channel:{}", c.id),
                        (path.clone(), id_line(text, &c.id)),
                    );
                }
                graph.agents = g.agents;
                graph.channels = g
                    .channels
                    .into_iter()
                    .map(|c| Channel {
                        id: c.id,
                        context: c.context,
                        default_agent: c.default_agent,
                    })
                    .collect();
            }
        },
    }

    let mut md: Vec<&(String, String)> = files.iter().filter(|(p, _)| p.ends_with(".md")).collect();
    md.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, text) in md {
        match parse_skill(path, text, graph.skills.len(), &mut sources) {
            Ok(skill) => graph.skills.push(skill),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(GraphErrors(errors));
    }
    graph.finish(&sources)
}

fn parse_skill(
    path: &str,
    text: &str,
    index: usize,
    sources: &mut SourceMap,
) -> Result<Skill, GraphError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(GraphError::at(
            path,
            Some(1),
            "a skill file must start with YAML front matter between '---' lines",
        ));
    }
    let mut yaml = String::new();
    let mut end_line = None;
    for (i, line) in lines.by_ref().enumerate() {
        if line.trim_end() == "---" {
            end_line = Some(i + 2);
            break;
        }
        yaml.push_str(line);
    }
    let Some(end_line) = end_line else {
        return Err(GraphError::at(
            path,
            Some(1),
            "front matter is not closed by a '---' line",
        ));
    };
    let body: String = lines.collect();
    let fm: FrontMatter = serde_norway::from_str(&yaml).map_err(|e| yaml_error(path, 1, &e))?;

    let stem = path
        .rsplit('/')
        .next()
        .unwrap_or(path)
        .trim_end_matches(".md");
    let stem = if stem.eq_ignore_ascii_case("skill") {
        // `foo/SKILL.md`, the agent-skill convention: the folder names the skill.
        path.rsplit('/').nth(1).unwrap_or(stem)
    } else {
        stem
    };
    let id = fm.id.or(fm.name).unwrap_or_else(|| stem.to_owned());
    let complexity = match fm.complexity {
        None => None,
        Some(c) => Some(Complexity::parse(&c).ok_or_else(|| {
            GraphError::at(
                path,
                Some(field_line(&yaml, "complexity")),
                format!("complexity must be simple, moderate or complex, got {c:?}"),
            )
        })?),
    };

    let mut links: Vec<String> = fm.links;
    let mut seen: BTreeSet<String> = links.iter().cloned().collect();
    for link in wikilinks(&body) {
        if seen.insert(link.clone()) {
            links.push(link);
        }
    }
    let description = fm.description.unwrap_or_else(|| first_paragraph(&body));

    sources.skills.insert(index, (path.to_owned(), 1));
    for field in ["id", "agent", "keywords", "channels", "links", "complexity"] {
        let line = if field == "links" && !yaml.lines().any(|l| l.starts_with("links:")) {
            end_line as u32 + 1
        } else {
            field_line(&yaml, field)
        };
        sources.fields.insert((index, field), line);
    }
    Ok(Skill {
        id,
        agent: fm.agent,
        keywords: fm.keywords,
        channels: fm.channels,
        complexity,
        links,
        description,
        file: Some(path.to_owned()),
        learned: fm.learned,
    })
}

/// Renders a skill as a Markdown file with front matter (inverse of parsing).
pub fn render_skill(skill: &Skill) -> String {
    let mut fm = String::from("---\n");
    fm.push_str(&format!("id: {}\n", yaml_scalar(&skill.id)));
    if let Some(a) = &skill.agent {
        fm.push_str(&format!("agent: {}\n", yaml_scalar(a)));
    }
    if let Some(c) = skill.complexity {
        fm.push_str(&format!("complexity: {}\n", c.as_str()));
    }
    if skill.learned {
        fm.push_str("learned: true\n");
    }
    if !skill.channels.is_empty() {
        fm.push_str(&format!(
            "channels: [{}]\n",
            skill
                .channels
                .iter()
                .map(|c| yaml_scalar(c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !skill.links.is_empty() {
        fm.push_str(&format!(
            "links: [{}]\n",
            skill
                .links
                .iter()
                .map(|c| yaml_scalar(c))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    fm.push_str("keywords:\n");
    for k in &skill.keywords {
        fm.push_str(&format!(
            "  - {{ phrase: {}, weight: {} }}\n",
            yaml_scalar(&k.phrase),
            round4(k.weight)
        ));
    }
    fm.push_str("---\n");
    if !skill.description.is_empty() {
        fm.push('\n');
        fm.push_str(&skill.description);
        fm.push('\n');
    }
    fm
}

/// Renders `graph.yaml` for a graph's threshold, agents and channels.
pub fn render_graph_file(graph: &SkillGraph) -> String {
    let mut out = format!(
        "threshold: {}\nnone_score: {}\nagents:\n",
        round4(graph.threshold),
        round4(graph.none_score)
    );
    if graph.none_per_word != 0.0 {
        // Inserted before `agents:`, after the scores.
        let at = out.len() - "agents:\n".len();
        out.insert_str(
            at,
            &format!("none_per_word: {}\n", round4(graph.none_per_word)),
        );
    }
    if graph.pooling == crate::Pooling::Probability {
        let at = out.len() - "agents:\n".len();
        out.insert_str(at, "pooling: probability\n");
    }
    if let Some(a) = &graph.affinity {
        let at = out.len() - "agents:\n".len();
        out.insert_str(
            at,
            &format!(
                "affinity:\n  ttlSeconds: {}\n  switchMargin: {}\n",
                a.ttl_seconds,
                round4(a.switch_margin)
            ),
        );
    }
    for a in &graph.agents {
        out.push_str(&format!(
            "  - id: {}\n    name: {}\n",
            yaml_scalar(&a.id),
            yaml_scalar(&a.name)
        ));
        if let Some(f) = &a.fallback {
            out.push_str(&format!("    fallback: {}\n", yaml_scalar(f)));
        }
        if !a.description.is_empty() {
            out.push_str(&format!(
                "    description: {}\n",
                yaml_scalar(&a.description)
            ));
        }
        if !a.instances.is_empty() {
            out.push_str("    instances:\n");
            for i in &a.instances {
                out.push_str(&format!(
                    "      - id: {}\n        weight: {}\n",
                    yaml_scalar(&i.id),
                    i.weight
                ));
            }
        }
    }
    out.push_str(if graph.channels.is_empty() {
        "channels: []\n"
    } else {
        "channels:\n"
    });
    for c in &graph.channels {
        out.push_str(&format!(
            "  - id: {}\n    context: {}\n",
            yaml_scalar(&c.id),
            yaml_scalar(&c.context)
        ));
        if let Some(d) = &c.default_agent {
            out.push_str(&format!("    default_agent: {}\n", yaml_scalar(d)));
        }
    }
    if let Some(c) = &graph.calibration {
        // What `skills learn` measured when it chose the threshold (JSON is YAML).
        out.push_str(
            "# how `agency skills learn` chose the threshold, and what it expects of it\n",
        );
        out.push_str(&format!(
            "calibration: {}\n",
            serde_json::to_string(c).unwrap_or_default()
        ));
    }
    out
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn yaml_scalar(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn yaml_error(path: &str, offset: usize, e: &serde_norway::Error) -> GraphError {
    let line = e.location().map(|l| (l.line() + offset) as u32);
    let msg = e.to_string();
    // serde_norway appends " at line N column M"; the FILE:LINE prefix already says it.
    let msg = match msg.find(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    GraphError::at(path, line, format!("bad YAML: {msg}"))
}

/// 1-based line of `field:` within the front matter, counted in the whole file.
fn field_line(yaml: &str, field: &str) -> u32 {
    let prefix = format!("{field}:");
    yaml.lines()
        .position(|l| l.starts_with(&prefix))
        .map(|i| i as u32 + 2)
        .unwrap_or(1)
}

fn id_line(text: &str, id: &str) -> u32 {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim();
            l.strip_prefix("id:")
                .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == id)
                .unwrap_or(false)
        })
        .map(|i| i as u32 + 1)
        .unwrap_or(1)
}

fn wikilinks(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("[[") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("]]") else { break };
        let inner = &rest[..end];
        let target = inner.split('|').next().unwrap_or("").trim();
        if !target.is_empty() && !target.contains('\n') {
            out.push(target.to_owned());
        }
        rest = &rest[end + 2..];
    }
    out
}

fn first_paragraph(body: &str) -> String {
    body.split("\n\n")
        .map(|p| {
            p.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|p| p.trim().to_owned())
        .find(|p| !p.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
