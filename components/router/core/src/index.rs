//! The compiled keyword index and the routing algorithm over it.

use std::collections::HashMap;

use agency_skill_graph::{Complexity, Pooling, SkillGraph, text};
use std::cell::RefCell;

use std::sync::Arc;

use crate::complexity;
use crate::decision::{Names, Reason, RouteDecision, RouteRequest};
use crate::keywords::KeywordMatcher;
use crate::score;
use crate::scratch::{Scratch, add};

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
    agent: Option<u32>,
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
    skills: Vec<SkillInfo>,
    agents: Vec<AgentInfo>,
    /// each channel's default agent
    channel_defaults: Vec<Option<u32>>,
    /// Whether any skill declares a complexity (else estimating it is wasted work).
    uses_complexity: bool,
    pool_exp: score::PoolExp,
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
        let mut skills: Vec<SkillInfo> = graph
            .skills
            .iter()
            .map(|s| SkillInfo {
                file: files.binary_search(&s.file_name()).unwrap_or(0) as u32,
                agent: s.agent.as_ref().and_then(|a| agent_ids.get(a).copied()),
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
                if j as usize != i {
                    skills[i].neighbours.push(j);
                    skills[j as usize].neighbours.push(i as u32);
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
                match targets.iter_mut().find(|(sk, _)| *sk == i as u32) {
                    Some(t) => t.1 = t.1.max(k.weight),
                    None => targets.push((i as u32, k.weight)),
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
            agents,
            channel_defaults,
            uses_complexity,
            pool_exp: score::PoolExp::new(),
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

    /// Routes `message` into `s.ids`.
    fn route_with(
        &self,
        message: &str,
        channel: Option<u32>,
        complexity: Option<Complexity>,
        down: &[u32],
        s: &mut Scratch,
    ) {
        text::word_spans_into(message, &mut s.mapped, &mut s.words);
        s.matched.clear();
        s.skill_scores.clear();
        s.agent_scores.clear();

        s.prepare(self.keyword_count(), self.skills.len(), self.agents.len());
        // 1. Keywords (whole words, see `keywords`), each counted once, in order of first
        // occurrence: by end, then the longer first.
        self.keywords.find(&s.mapped, &s.words, &mut s.hits);
        if s.hits.len() > 1 {
            s.hits.sort_unstable();
        }
        for &(_, _, id) in &s.hits {
            if s.seen[id as usize] != s.stamp {
                s.seen[id as usize] = s.stamp;
                s.matched.push(id);
            }
        }

        // 2. Keyword weights per skill, adjusted by channel and complexity.
        let channel = channel.filter(|&c| (c as usize) < self.channel_defaults.len());
        let channel_default = channel.and_then(|c| self.channel_defaults[c as usize]);
        let complexity = match complexity {
            Some(c) => c,
            None if self.uses_complexity => complexity::of_words(&s.mapped, &s.words),
            None => Complexity::Moderate,
        };
        // Summed in place by skill (a graph of one skill per intent has many skills per
        // keyword), listed in order of first score; the sums are left zero again.
        let sums = &mut s.skill_sum[..self.skills.len()];
        // Natively branch-free: the skill is always written at the list's end, which
        // moves on only on a first score (which of the ~300 additions that is cannot be
        // predicted). Compiled for the component, the branch is the faster of the two
        // (batches per message, per agent: 3.0 against 3.7 µs). Same list either way.
        #[cfg(not(target_arch = "wasm32"))]
        let mut listed = {
            s.skill_scores.resize(self.skills.len() + 1, (0, 0.0));
            0
        };
        for &p in &s.matched {
            let (from, to) = (
                self.target_starts[p as usize],
                self.target_starts[p as usize + 1],
            );
            for &(skill, w) in &self.targets[from as usize..to as usize] {
                let sum = &mut sums[skill as usize];
                #[cfg(not(target_arch = "wasm32"))]
                {
                    s.skill_scores[listed].0 = skill;
                    listed += usize::from(*sum == 0.0);
                }
                #[cfg(target_arch = "wasm32")]
                if *sum == 0.0 {
                    s.skill_scores.push((skill, 0.0));
                }
                *sum += w;
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        s.skill_scores.truncate(listed);
        let adjusts = channel.is_some() || self.uses_complexity;
        for (skill, score) in s.skill_scores.iter_mut() {
            *score = std::mem::take(&mut sums[*skill as usize]);
            if adjusts {
                let info = &self.skills[*skill as usize];
                *score *= score::channel_factor(channel, &info.channels)
                    * score::complexity_factor(complexity, info.complexity);
            }
        }

        // 3. Skills flow into their agents; linked skills pass on a share. Pooled by
        // probability, each share enters as exp(share - top), and the agent's score is
        // then top + ln(sum): the log-sum-exp, so that its confidence is the sum of its
        // skills' probabilities.
        let top = if self.pooled {
            s.skill_scores.iter().map(|x| x.1).fold(0.0, f64::max)
        } else {
            0.0
        };
        let pooled = self.pooled;
        let exp = &self.pool_exp;
        let term = |x: f64| if pooled { exp.exp(x - top) } else { x };
        for i in 0..s.skill_scores.len() {
            let (skill, score) = s.skill_scores[i];
            let info = &self.skills[skill as usize];
            if let Some(a) = info.agent {
                add(
                    &mut s.agent_scores,
                    &mut s.agent_at,
                    &mut s.agent_seen,
                    s.stamp,
                    a,
                    term(score),
                );
            }
            for &n in &info.neighbours {
                if let Some(a) = self.skills[n as usize].agent {
                    let share = term(score * score::LINK_SHARE);
                    add(
                        &mut s.agent_scores,
                        &mut s.agent_at,
                        &mut s.agent_seen,
                        s.stamp,
                        a,
                        share,
                    );
                }
            }
        }
        if self.pooled {
            for a in s.agent_scores.iter_mut() {
                a.1 = top + libm::log(a.1);
            }
        }
        // Ranked by score, ties by agent id so every runtime agrees.
        s.agent_scores.sort_by(|a, b| {
            b.1.total_cmp(&a.1).then_with(|| {
                self.agents[a.0 as usize]
                    .rank
                    .cmp(&self.agents[b.0 as usize].rank)
            })
        });

        s.agent_scores.retain(|a| a.1 > 0.0);
        let top = s.agent_scores.first().map(|a| a.1).unwrap_or(0.0);
        let none = self.none_score + self.none_per_word * s.words.len() as f64;
        score::softmax_into(&s.agent_scores, none, &mut s.probs);
        let confidence = score::round(s.probs.first().copied().unwrap_or(0.0));

        // 4. Pick: evidence, else the channel default, else nobody; then health.
        let down = |a: u32| down.contains(&a);
        let (picked, mut reason) = if top > 0.0 && confidence >= self.threshold {
            (s.agent_scores.first().map(|a| a.0), Reason::Match)
        } else if let Some(d) = channel_default {
            (Some(d), Reason::Default)
        } else {
            (None, Reason::NoMatch)
        };
        let mut agent = picked;
        let mut fallback_from = None;
        if let Some(p) = picked
            && down(p)
        {
            fallback_from = Some(p);
            agent = self.healthy_substitute(p, &s.agent_scores, channel_default, &down);
            reason = if agent.is_some() {
                Reason::Fallback
            } else {
                Reason::NoMatch
            };
        }

        let evidence_agent = if reason == Reason::Match
            || (reason == Reason::Fallback && top > 0.0 && confidence >= self.threshold)
        {
            picked
        } else {
            None
        };
        // The result goes into reused buffers: `route` resolves it to names in place.
        let out = &mut s.ids;
        out.skill_files.clear();
        if let Some(a) = evidence_agent {
            for (sk, _) in &s.skill_scores {
                if self.skills[*sk as usize].agent == Some(a) {
                    out.skill_files.push(self.skills[*sk as usize].file);
                }
            }
            if out.skill_files.len() > 1 {
                out.skill_files.sort_unstable();
                out.skill_files.dedup();
            }
        }
        out.alternatives.clear();
        for i in 0..s.agent_scores.len() {
            let a = s.agent_scores[i].0;
            if Some(a) != agent && !down(a) {
                out.alternatives.push((a, score::round(s.probs[i])));
                if out.alternatives.len() == 3 {
                    break;
                }
            }
        }
        out.matched_keywords.clear();
        out.matched_keywords.extend_from_slice(&s.matched);
        out.agent = agent;
        out.confidence = confidence;
        out.reason = reason;
        out.fallback_from = fallback_from;
    }

    /// The agent that takes over from `from`: its fallback chain first, then the next
    /// healthy candidate by score, then the channel default.
    fn healthy_substitute(
        &self,
        from: u32,
        ranked: &[(u32, f64)],
        channel_default: Option<u32>,
        down: &dyn Fn(u32) -> bool,
    ) -> Option<u32> {
        let mut seen = vec![from];
        let mut cur = self.agents[from as usize].fallback;
        while let Some(c) = cur {
            if seen.contains(&c) {
                break;
            }
            if !down(c) {
                return Some(c);
            }
            seen.push(c);
            cur = self.agents[c as usize].fallback;
        }
        ranked
            .iter()
            .map(|r| r.0)
            .chain(channel_default)
            .find(|a| !seen.contains(a) && !down(*a))
    }
}
