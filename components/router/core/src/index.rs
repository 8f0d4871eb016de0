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
        let skill_agent: Vec<u32> = skills.iter().map(|s| s.agent.unwrap_or(NO_AGENT)).collect();
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
        self.skill_scores(channel, complexity, s);

        self.agent_scores(s);
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
            let [from, to] = self.agent_skills[a as usize];
            let at = s.skill_scores.partition_point(|x| x.0 < from);
            for &(sk, _) in s.skill_scores[at..].iter().take_while(|x| x.0 < to) {
                out.skill_files.push(self.skills[sk as usize].file);
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

    /// Step 2: each skill's keyword weights summed, adjusted by channel and complexity,
    /// into `s.skill_scores` in skill order (so by agent), skills without evidence left
    /// out. When the matched keywords reach many of the skills (one skill per intent),
    /// the sums are added in place and read back in one pass over every skill; when
    /// they reach few of many (500 agents), the skills are listed as they are first
    /// reached and the list sorted. The two give the same list, the same bits.
    ///
    /// Steps 2 and 3 and the keyword scan are separate functions in the component:
    /// inlined into one, Cranelift spills the loops' values to the stack (a batch of
    /// CLINC messages, per agent: 2.8 against 3.0 µs a message).
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn skill_scores(&self, channel: Option<u32>, complexity: Complexity, s: &mut Scratch) {
        let n = self.skills.len();
        let sums = &mut s.skill_sum[..n];
        let targets = |p: u32| {
            let (from, to) = (
                self.target_starts[p as usize],
                self.target_starts[p as usize + 1],
            );
            &self.targets[from as usize..to as usize]
        };
        let pairs: usize = s.matched.iter().map(|&p| targets(p).len()).sum();
        let list = &mut s.skill_scores;
        let dense = pairs * 4 >= n;
        #[cfg(test)]
        let dense = self.dense.unwrap_or(dense);
        if dense {
            for &p in &s.matched {
                for &(skill, w) in targets(p) {
                    sums[skill as usize] += w;
                }
            }
            // Branch-free: every skill is written at the list's end, which moves on
            // only past one with evidence. The sums are left zero again.
            list.resize(n + 1, (0, 0.0));
            let out = &mut list[..];
            let mut listed = 0;
            for (k, sum) in sums.iter_mut().enumerate() {
                let v = std::mem::take(sum);
                out[listed] = (k as u32, v);
                listed += usize::from(v != 0.0);
            }
            list.truncate(listed);
        } else {
            for &p in &s.matched {
                for &(skill, w) in targets(p) {
                    let sum = &mut sums[skill as usize];
                    if *sum == 0.0 {
                        list.push((skill, 0.0));
                    }
                    *sum += w;
                }
            }
            for (skill, score) in list.iter_mut() {
                *score = std::mem::take(&mut sums[*skill as usize]);
            }
            list.sort_unstable_by_key(|x| x.0);
        }
        if channel.is_some() || self.uses_complexity {
            for (skill, score) in list.iter_mut() {
                let info = &self.skills[*skill as usize];
                *score *= score::channel_factor(channel, &info.channels)
                    * score::complexity_factor(complexity, info.complexity);
            }
        }
    }

    /// Step 3: skills flow into their agents, and linked skills pass on a share, into
    /// `s.agent_scores`, unordered. Pooled by probability, each share enters as
    /// exp(share - top), and the agent's score is then top + ln(sum): the
    /// log-sum-exp, so that its confidence is the sum of its skills' probabilities.
    /// The list is in skill order, so an agent's skills are one run of it: each run is
    /// summed on its own, then entered once.
    #[cfg_attr(target_arch = "wasm32", inline(never))]
    fn agent_scores(&self, s: &mut Scratch) {
        let top = if self.pooled {
            top_score(&s.skill_scores)
        } else {
            0.0
        };
        let pooled = self.pooled;
        let exp = &self.pool_exp;
        let term = |x: f64| if pooled { exp.exp(x - top) } else { x };
        let list = &s.skill_scores;
        let terms = &mut s.terms;
        terms.clear();
        if pooled {
            let mut pairs = list.chunks_exact(2);
            for p in &mut pairs {
                terms.extend(exp.exp_pair([p[0].1 - top, p[1].1 - top]));
            }
            terms.extend(pairs.remainder().iter().map(|x| exp.exp(x.1 - top)));
        } else {
            terms.extend(list.iter().map(|x| x.1));
        }
        let mut i = 0;
        while i < list.len() {
            let a = self.skill_agent[list[i].0 as usize];
            if a == NO_AGENT {
                break;
            }
            let mut sum = terms[i];
            i += 1;
            while i < list.len() && self.skill_agent[list[i].0 as usize] == a {
                sum += terms[i];
                i += 1;
            }
            add(
                &mut s.agent_scores,
                &mut s.agent_at,
                &mut s.agent_seen,
                s.stamp,
                a,
                sum,
            );
        }
        for &k in &self.linked {
            let Ok(at) = list.binary_search_by_key(&k, |x| x.0) else {
                continue;
            };
            let share = term(list[at].1 * score::LINK_SHARE);
            for &n in &self.skills[k as usize].neighbours {
                let a = self.skill_agent[n as usize];
                if a != NO_AGENT {
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

/// The largest score in `list`, or 0, in four independent lanes: one chain of `max`
/// over ~130 skills would wait on each step. The maximum of a set does not depend on
/// the order it is taken in (no NaN here), so the result is exact.
fn top_score(list: &[(u32, f64)]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut chunks = list.chunks_exact(4);
    for c in &mut chunks {
        for (lane, x) in lanes.iter_mut().zip(c) {
            *lane = lane.max(x.1);
        }
    }
    for x in chunks.remainder() {
        lanes[0] = lanes[0].max(x.1);
    }
    lanes[0].max(lanes[1]).max(lanes[2].max(lanes[3]))
}
