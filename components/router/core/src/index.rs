//! The compiled keyword index of one graph version: how it is built from a graph, and
//! the calls that route with it (the algorithm itself is in `route`).

use std::collections::HashMap;

use agency_skill_graph::{Complexity, Pooling, SkillGraph, text};
use std::cell::RefCell;

use std::sync::Arc;

use crate::decision::{Names, RouteDecision, RouteRequest};
use crate::keywords::KeywordMatcher;
use crate::score;
use crate::scratch::Scratch;

mod route;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Why an index could not be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(String);

struct SkillInfo {
    /// Index into `names.files`.
    file: u32,
    /// Channel indexes this skill is meant for; empty = all.
    channels: Vec<u32>,
    complexity: Option<Complexity>,
    /// Neighbours over links, both directions.
    neighbours: Vec<u32>,
}

struct AgentInfo {
    fallback: Option<u32>,
    /// Position in id order: ties between equal scores go to the smaller id.
    rank: u32,
}

const NO_AGENT: u32 = u32::MAX;

/// A keyword pattern, shared by every skill that lists the same phrase.
struct Pattern {
    phrase: String,
    /// (skill index, weight)
    targets: Vec<(u32, f64)>,
}

/// The keyword index of one graph version: build once, route many times.
pub struct RouterIndex {
    names: Names,
    threshold: f64,
    none_score: f64,
    none_per_word: f64,
    /// Agents' scores are the log-sum-exp of their skills' (else the sum).
    pooled: bool,
    keywords: KeywordMatcher,
    /// Pattern `p`'s (skill index, weight) pairs are `targets[target_starts[p]..
    /// target_starts[p + 1]]`: one flat table, one cache miss fewer per keyword found.
    target_starts: Vec<u32>,
    targets: Vec<(u32, f64)>,
    /// Ordered by agent (skills with none last), so that each agent's skills are one
    /// range: `agent_skills[a]`.
    skills: Vec<SkillInfo>,
    /// Each skill's agent, `NO_AGENT` for none: the pooling loop reads only this.
    skill_agent: Vec<u32>,
    agent_skills: Vec<[u32; 2]>,
    /// The skills with links, in order.
    linked: Vec<u32>,
    agents: Vec<AgentInfo>,
    /// each channel's default agent
    channel_defaults: Vec<Option<u32>>,
    /// Whether any skill declares a complexity (else estimating it is wasted work).
    uses_complexity: bool,
    pool_exp: score::PoolExp,
    /// Skill scores always summed in place (`Some(true)`) or always listed as reached
    /// (`Some(false)`): the tests compare the two.
    #[cfg(test)]
    dense: Option<bool>,
}

impl std::fmt::Debug for RouterIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterIndex")
            .field("version", &self.names.graph_version)
            .field("patterns", &self.keyword_count())
            .finish()
    }
}

impl RouterIndex {
    /// Compiles `graph`'s keywords into one Aho-Corasick automaton.
    pub fn build(graph: &SkillGraph) -> Result<RouterIndex, BuildError> {
        let agent_ids: HashMap<String, u32> = graph
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i as u32))
            .collect();
        let mut by_id: Vec<&str> = graph.agents.iter().map(|a| a.id.as_str()).collect();
        by_id.sort_unstable();
        let agents = graph
            .agents
            .iter()
            .map(|a| AgentInfo {
                fallback: a.fallback.as_ref().and_then(|f| agent_ids.get(f).copied()),
                rank: by_id.binary_search(&a.id.as_str()).unwrap_or(0) as u32,
            })
            .collect();
        let channel_ids: HashMap<String, u32> = graph
            .channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i as u32))
            .collect();
        let channel_defaults = graph
            .channels
            .iter()
            .map(|c| {
                c.default_agent
                    .as_ref()
                    .and_then(|d| agent_ids.get(d).copied())
            })
            .collect();
        let skill_ids: HashMap<&str, u32> = graph
            .skills
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i as u32))
            .collect();

        let mut files: Vec<String> = graph.skills.iter().map(|s| s.file_name()).collect();
        files.sort();
        files.dedup();
        // Skills by agent, in the graph's order within one: `slot[i]` is where the
        // graph's skill `i` goes.
        let agent_of = |i: usize| {
            graph.skills[i]
                .agent
                .as_ref()
                .and_then(|a| agent_ids.get(a).copied())
                .unwrap_or(NO_AGENT)
        };
        let mut order: Vec<usize> = (0..graph.skills.len()).collect();
        order.sort_by_key(|&i| (agent_of(i), i));
        let mut slot = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            slot[old] = new as u32;
        }
        let mut skills: Vec<SkillInfo> = order
            .iter()
            .map(|&i| &graph.skills[i])
            .map(|s| SkillInfo {
                file: files.binary_search(&s.file_name()).unwrap_or(0) as u32,
                channels: s
                    .channels
                    .iter()
                    .filter_map(|c| channel_ids.get(c).copied())
                    .collect(),
                complexity: s.complexity,
                neighbours: Vec::new(),
            })
            .collect();
        for (i, s) in graph.skills.iter().enumerate() {
            for l in &s.links {
                let Some(&j) = skill_ids.get(l.as_str()) else {
                    return Err(BuildError(format!(
                        "skill {:?} links to unknown skill {:?}",
                        s.id, l
                    )));
                };
                let (i, j) = (slot[i], slot[j as usize]);
                if j != i {
                    skills[i as usize].neighbours.push(j);
                    skills[j as usize].neighbours.push(i);
                }
            }
        }
        for s in &mut skills {
            s.neighbours.sort_unstable();
            s.neighbours.dedup();
        }

        let mut by_phrase: HashMap<String, u32> = HashMap::new();
        let mut patterns: Vec<Pattern> = Vec::new();
        for (i, s) in graph.skills.iter().enumerate() {
            for k in &s.keywords {
                let phrase = text::canonicalize(&k.phrase);
                if phrase.is_empty() || !(k.weight.is_finite() && k.weight > 0.0) {
                    return Err(BuildError(format!(
                        "skill {:?} has an empty keyword or a bad weight",
                        s.id
                    )));
                }
                let id = *by_phrase.entry(phrase.clone()).or_insert_with(|| {
                    patterns.push(Pattern {
                        phrase,
                        targets: Vec::new(),
                    });
                    (patterns.len() - 1) as u32
                });
                let targets = &mut patterns[id as usize].targets;
                match targets.iter_mut().find(|(sk, _)| *sk == slot[i]) {
                    Some(t) => t.1 = t.1.max(k.weight),
                    None => targets.push((slot[i], k.weight)),
                }
            }
        }
        let mut target_starts = vec![0u32];
        for p in &patterns {
            target_starts.push(target_starts[target_starts.len() - 1] + p.targets.len() as u32);
        }
        let targets = patterns
            .iter()
            .flat_map(|p| p.targets.iter().copied())
            .collect();
        let keywords = KeywordMatcher::build(patterns.iter().map(|p| p.phrase.as_str()))
            .map_err(|e| BuildError(format!("keyword index: {e}")))?;
        let uses_complexity = graph.skills.iter().any(|s| s.complexity.is_some());
        let skill_agent: Vec<u32> = order.iter().map(|&i| agent_of(i)).collect();
        let agent_skills = (0..graph.agents.len() as u32)
            .map(|a| {
                let start = skill_agent.partition_point(|&x| x < a) as u32;
                [start, skill_agent.partition_point(|&x| x <= a) as u32]
            })
            .collect();
        let linked = (0..skills.len() as u32)
            .filter(|&i| !skills[i as usize].neighbours.is_empty())
            .collect();
        let names = Names {
            agents: graph
                .agents
                .iter()
                .map(|a| Arc::from(a.id.as_str()))
                .collect(),
            keywords: patterns
                .iter()
                .map(|p| Arc::from(p.phrase.as_str()))
                .collect(),
            files: files.iter().map(|f| Arc::from(f.as_str())).collect(),
            channels: graph
                .channels
                .iter()
                .map(|c| Arc::from(c.id.as_str()))
                .collect(),
            graph_version: Arc::from(graph.version().as_str()),
        };
        Ok(RouterIndex {
            names,
            threshold: graph.threshold,
            none_score: graph.none_score,
            none_per_word: graph.none_per_word,
            pooled: graph.pooling == Pooling::Probability,
            keywords,
            target_starts,
            targets,
            skills,
            skill_agent,
            agent_skills,
            linked,
            agents,
            channel_defaults,
            uses_complexity,
            pool_exp: score::PoolExp::new(),
            #[cfg(test)]
            dense: None,
        })
    }

    /// The same index at another operating point (the graph's `threshold` and
    /// `none_per_word`): what an evaluation or a calibration tries, without building
    /// the keywords again.
    pub fn at_point(mut self, threshold: f64, none_per_word: f64) -> RouterIndex {
        self.threshold = threshold;
        self.none_per_word = none_per_word;
        self
    }

    /// The same index pooling with `libm::exp`, the reference for `PoolExp`.
    #[cfg(test)]
    pub(crate) fn with_exact_exp(mut self) -> RouterIndex {
        self.pool_exp.exact = true;
        self
    }

    /// The same index summing skill scores always in place, or always listing them.
    #[cfg(test)]
    pub(crate) fn with_dense_scores(mut self, dense: bool) -> RouterIndex {
        self.dense = Some(dense);
        self
    }

    pub fn graph_version(&self) -> &str {
        &self.names.graph_version
    }

    /// The strings that [`RouteIds`](crate::RouteIds) from this index point into.
    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn keyword_count(&self) -> usize {
        self.target_starts.len() - 1
    }

    /// Routes one message.
    pub fn route(&self, request: &RouteRequest) -> RouteDecision {
        self.with_scratch(|s| {
            self.route_request(request, s);
            self.names.resolve(&s.ids)
        })
    }

    /// Routes one message given in indexes, and appends the decision to `out` packed
    /// (see [`crate::RouteIds::encode_into`]): the component's path, which allocates
    /// nothing per message. `channel` indexes [`Names::channels`] (out of range =
    /// none); `down` lists the agents marked down, as indexes into [`Names::agents`].
    pub fn route_packed(
        &self,
        message: &str,
        channel: Option<u32>,
        complexity: Option<Complexity>,
        down: &[u32],
        out: &mut Vec<u32>,
    ) {
        self.with_scratch(|s| {
            self.route_with(message, channel, complexity, down, s);
            s.ids.encode_into(out);
        })
    }

    fn with_scratch<T>(&self, f: impl FnOnce(&mut Scratch) -> T) -> T {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => f(&mut scratch),
            Err(_) => f(&mut Scratch::default()),
        })
    }

    /// Routes many messages; decisions come back in order.
    pub fn route_batch(&self, requests: &[RouteRequest]) -> Vec<RouteDecision> {
        requests.iter().map(|r| self.route(r)).collect()
    }

    /// [`RouterIndex::route_with`] for a request in names.
    fn route_request(&self, request: &RouteRequest, s: &mut Scratch) {
        let (channel, down) = (self.names.channel_of(request), self.names.down_of(request));
        self.route_with(&request.message, channel, request.complexity, &down, s);
    }
}
