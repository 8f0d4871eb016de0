//! What goes in and what comes out of a routing call, in the JSON shape of the API.

use std::sync::Arc;

use agency_skill_graph::Complexity;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteRequest {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Estimated from the message when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
    /// Agents currently marked down (kept by the caller, which owns health state).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down_agents: Vec<String>,
}

impl RouteRequest {
    pub fn new(message: impl Into<String>) -> RouteRequest {
        RouteRequest {
            message: message.into(),
            ..RouteRequest::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "RouteReason"))]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Keyword evidence picked the agent.
    Match,
    /// The agent the evidence picked is down; a healthy one took over.
    Fallback,
    /// Too little evidence; the channel's default agent took the message.
    Default,
    /// Too little evidence and no default agent.
    #[default]
    NoMatch,
    /// A halt covers the agent the message would go to, or its channel: the agent is
    /// the one it would have picked, and nothing is sent to it while the halt lasts
    /// (the router never reroutes around a halt). Set by the router service, which
    /// knows the halts; routing itself never answers it.
    Halted,
    /// The message's conversation is held by this agent, and the message's own evidence
    /// did not pick another agent with at least the graph's `affinity.switchMargin`.
    /// Set by the router service, which keeps conversations.
    Affinity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Alternative {
    pub agent: Arc<str>,
    pub confidence: f64,
}

/// One routing decision; field names are part of the public API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(rename = "Decision", transform = crate::schema::all_required)
)]
#[serde(rename_all = "camelCase")]
pub struct RouteDecision {
    /// The agent that takes the message; null: nobody.
    pub agent: Option<Arc<str>>,
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub confidence: f64,
    pub reason: Reason,
    pub skill_files_used: Vec<Arc<str>>,
    pub matched_keywords: Vec<Arc<str>>,
    pub fallback_from: Option<Arc<str>>,
    pub alternatives: Vec<Alternative>,
    pub graph_version: Arc<str>,
    /// Milliseconds spent routing, filled in by the caller that measured it; null where
    /// no clock advances during a computation (inside a Worker the clocks stand still
    /// until the next I/O, so there is no honest figure to give).
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0)))]
    pub routing_latency: Option<f64>,
    /// The instance of the agent's pool that takes the message; null when no agent
    /// takes it or the agent lists no instances.
    #[serde(default)]
    pub instance: Option<Arc<str>>,
    /// The conversation the message came in (`conversationId`) and what the decision
    /// followed; null for a message routed alone.
    #[serde(default)]
    pub conversation: Option<crate::affinity::InConversation>,
}

impl RouteDecision {
    /// This decision under a halt that covers it: the same agent (the one it would have
    /// picked, so the caller can tell the user), reason `halted`.
    pub fn halted(self) -> RouteDecision {
        RouteDecision {
            reason: Reason::Halted,
            ..self
        }
    }

    /// The decision without its timing, for comparing runs and runtimes.
    pub fn without_latency(&self) -> RouteDecision {
        RouteDecision {
            routing_latency: None,
            ..self.clone()
        }
    }
}

/// A decision as indexes into the index's [`Names`]: what routing computes, cheap to
/// hand across the component boundary (no strings), resolved by [`Names::resolve`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteIds {
    pub agent: Option<u32>,
    pub confidence: f64,
    pub reason: Reason,
    /// Indexes into [`Names::files`], in file-name order.
    pub skill_files: Vec<u32>,
    /// Indexes into [`Names::keywords`], in order of first occurrence.
    pub matched_keywords: Vec<u32>,
    pub fallback_from: Option<u32>,
    /// (agent index, confidence)
    pub alternatives: Vec<(u32, f64)>,
}

/// The strings a [`RouteIds`] points into, fixed for one index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    pub agents: Vec<Arc<str>>,
    pub keywords: Vec<Arc<str>>,
    /// Sorted, unique.
    pub files: Vec<Arc<str>>,
    /// The graph's channels, in graph order.
    pub channels: Vec<Arc<str>>,
    pub graph_version: Arc<str>,
}

impl Names {
    /// The decision in names. An index out of range (a corrupt table) yields "".
    pub fn resolve(&self, ids: &RouteIds) -> RouteDecision {
        let get = |table: &[Arc<str>], i: u32| {
            table
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| Arc::from(""))
        };
        RouteDecision {
            agent: ids.agent.map(|a| get(&self.agents, a)),
            confidence: ids.confidence,
            reason: ids.reason,
            skill_files_used: ids
                .skill_files
                .iter()
                .map(|&f| get(&self.files, f))
                .collect(),
            matched_keywords: ids
                .matched_keywords
                .iter()
                .map(|&k| get(&self.keywords, k))
                .collect(),
            fallback_from: ids.fallback_from.map(|a| get(&self.agents, a)),
            alternatives: ids
                .alternatives
                .iter()
                .map(|&(a, confidence)| Alternative {
                    agent: get(&self.agents, a),
                    confidence,
                })
                .collect(),
            graph_version: self.graph_version.clone(),
            routing_latency: None,
            instance: None,
            conversation: None,
        }
    }
}

/// A packed decision list that does not parse: a component and its host disagree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed packed decision at word {0}")]
pub struct DecodeError(pub usize);

impl Reason {
    /// Its name on the wire (`match`, `fallback`, `default`, `no-match`, `halted`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Match => "match",
            Reason::Fallback => "fallback",
            Reason::Default => "default",
            Reason::NoMatch => "no-match",
            Reason::Halted => "halted",
            Reason::Affinity => "affinity",
        }
    }

    fn code(self) -> u32 {
        match self {
            Reason::Match => 0,
            Reason::Fallback => 1,
            Reason::Default => 2,
            Reason::NoMatch => 3,
            Reason::Halted => 4,
            Reason::Affinity => 5,
        }
    }

    fn from_code(code: u32) -> Option<Reason> {
        Some(match code {
            0 => Reason::Match,
            1 => Reason::Fallback,
            2 => Reason::Default,
            3 => Reason::NoMatch,
            4 => Reason::Halted,
            5 => Reason::Affinity,
            _ => return None,
        })
    }
}

fn push_f64(out: &mut Vec<u32>, x: f64) {
    let bits = x.to_bits();
    out.extend([bits as u32, (bits >> 32) as u32]);
}

impl RouteIds {
    /// Appends this decision to `out` as `u32` words: how many decisions cross the
    /// component boundary in one list, with no allocation per decision. Layout: the
    /// agent's index plus one (0 = none), the fallback-from agent likewise, the reason
    /// (0 match, 1 fallback, 2 default, 3 no-match), the confidence (the f64's bits, low
    /// word first); then the skill files, the matched keywords and the alternatives,
    /// each as a count and its items (an alternative is three words: agent, confidence
    /// low, confidence high).
    pub fn encode_into(&self, out: &mut Vec<u32>) {
        let opt = |x: Option<u32>| x.map_or(0, |v| v + 1);
        out.extend([opt(self.agent), opt(self.fallback_from), self.reason.code()]);
        push_f64(out, self.confidence);
        out.push(self.skill_files.len() as u32);
        out.extend_from_slice(&self.skill_files);
        out.push(self.matched_keywords.len() as u32);
        out.extend_from_slice(&self.matched_keywords);
        out.push(self.alternatives.len() as u32);
        for &(agent, confidence) in &self.alternatives {
            out.push(agent);
            push_f64(out, confidence);
        }
    }
}

impl Names {
    /// `request`'s channel as an index into [`Names::channels`], as
    /// [`crate::RouterIndex::route_packed`] takes it; none for a channel the graph does
    /// not have (it changes no decision).
    pub fn channel_of(&self, request: &RouteRequest) -> Option<u32> {
        let c = request.channel.as_deref()?;
        index_of(&self.channels, c)
    }

    /// `request`'s down agents as indexes into [`Names::agents`]; agents the graph does
    /// not have are dropped.
    pub fn down_of(&self, request: &RouteRequest) -> Vec<u32> {
        request
            .down_agents
            .iter()
            .filter_map(|a| index_of(&self.agents, a))
            .collect()
    }

    /// Every decision in `packed` (see [`RouteIds::encode_into`]), in names. An index
    /// out of range, a bad reason or a short list is an error, never a panic.
    pub fn decode(&self, packed: &[u32]) -> Result<Vec<RouteDecision>, DecodeError> {
        let mut out = Vec::new();
        self.decode_into(packed, &mut out)?;
        Ok(out)
    }

    /// [`Names::decode`] appending to `out` (which a caller that knows the batch size
    /// has reserved); returns how many decisions it appended. On an error `out` is left
    /// as it was.
    pub fn decode_into(
        &self,
        packed: &[u32],
        out: &mut Vec<RouteDecision>,
    ) -> Result<usize, DecodeError> {
        let before = out.len();
        let mut c = Cursor {
            words: packed,
            at: 0,
        };
        while c.at < packed.len() {
            match self.decode_one(&mut c) {
                Ok(d) => out.push(d),
                Err(e) => {
                    out.truncate(before);
                    return Err(e);
                }
            }
        }
        Ok(out.len() - before)
    }

    /// A packed list that must hold exactly one decision (a single `route` call).
    pub fn decode_single(&self, packed: &[u32]) -> Result<RouteDecision, DecodeError> {
        let mut c = Cursor {
            words: packed,
            at: 0,
        };
        let decision = self.decode_one(&mut c)?;
        match c.at == packed.len() {
            true => Ok(decision),
            false => Err(DecodeError(c.at)),
        }
    }

    fn decode_one(&self, c: &mut Cursor) -> Result<RouteDecision, DecodeError> {
        let agent = c.opt_name(&self.agents)?;
        let fallback_from = c.opt_name(&self.agents)?;
        let reason = Reason::from_code(c.word()?).ok_or(DecodeError(c.at))?;
        let confidence = c.f64()?;
        let n = c.count(1)?;
        let mut skill_files_used = Vec::with_capacity(n);
        for _ in 0..n {
            skill_files_used.push(c.name(&self.files)?);
        }
        let n = c.count(1)?;
        let mut matched_keywords = Vec::with_capacity(n);
        for _ in 0..n {
            matched_keywords.push(c.name(&self.keywords)?);
        }
        let n = c.count(3)?;
        let mut alternatives = Vec::with_capacity(n);
        for _ in 0..n {
            alternatives.push(Alternative {
                agent: c.name(&self.agents)?,
                confidence: c.f64()?,
            });
        }
        Ok(RouteDecision {
            agent,
            confidence,
            reason,
            skill_files_used,
            matched_keywords,
            fallback_from,
            alternatives,
            graph_version: self.graph_version.clone(),
            routing_latency: None,
            instance: None,
            conversation: None,
        })
    }
}

fn index_of(table: &[Arc<str>], id: &str) -> Option<u32> {
    table.iter().position(|t| **t == *id).map(|i| i as u32)
}

/// A read position in a packed decision list.
struct Cursor<'a> {
    words: &'a [u32],
    at: usize,
}

impl Cursor<'_> {
    fn word(&mut self) -> Result<u32, DecodeError> {
        let w = self
            .words
            .get(self.at)
            .copied()
            .ok_or(DecodeError(self.at))?;
        self.at += 1;
        Ok(w)
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let (lo, hi) = (self.word()?, self.word()?);
        Ok(f64::from_bits(u64::from(hi) << 32 | u64::from(lo)))
    }

    /// A count of items of `width` words each. A count the remaining words cannot hold
    /// is an error, so a corrupt count never reserves much.
    fn count(&mut self, width: usize) -> Result<usize, DecodeError> {
        let n = self.word()? as usize;
        if n.saturating_mul(width) > self.words.len() - self.at {
            return Err(DecodeError(self.at - 1));
        }
        Ok(n)
    }

    fn name(&mut self, table: &[Arc<str>]) -> Result<Arc<str>, DecodeError> {
        let i = self.word()?;
        table
            .get(i as usize)
            .cloned()
            .ok_or(DecodeError(self.at - 1))
    }

    /// An index + 1, 0 for none.
    fn opt_name(&mut self, table: &[Arc<str>]) -> Result<Option<Arc<str>>, DecodeError> {
        match self.word()? {
            0 => Ok(None),
            i => table
                .get(i as usize - 1)
                .cloned()
                .map(Some)
                .ok_or(DecodeError(self.at - 1)),
        }
    }
}
