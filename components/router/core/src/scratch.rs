//! The per-call working memory of routing, reused across calls (one per thread) so the
//! hot path allocates nothing once warm.

use crate::decision::RouteIds;

/// Scratch space reused across calls to avoid allocating on the hot path.
#[derive(Default)]
pub(crate) struct Scratch {
    /// the message, lower-cased, separators as spaces (see `text::word_spans_into`)
    pub(crate) mapped: Vec<u8>,
    /// `[start, end)` of each word in `mapped`
    pub(crate) words: Vec<[u32; 2]>,
    /// whole-word keyword occurrences: (end, start, pattern)
    pub(crate) hits: Vec<(u32, u32, u32)>,
    /// matched pattern ids, in order of first occurrence
    pub(crate) matched: Vec<u32>,
    /// `seen[pattern] == stamp` marks a pattern already matched in this call
    pub(crate) seen: Vec<u32>,
    pub(crate) stamp: u32,
    /// Each skill's score so far, by skill index; zero between calls (keyword weights
    /// are positive, so zero means untouched).
    pub(crate) skill_sum: Vec<f64>,
    /// (skill index, score) of the skills with evidence, in skill order (so each
    /// agent's skills are one run)
    pub(crate) skill_scores: Vec<(u32, f64)>,
    /// each listed skill's term of its agent's score, parallel to `skill_scores`
    pub(crate) terms: Vec<f64>,
    /// (agent index, score) of the agents with evidence, in the order they were
    /// first entered
    pub(crate) agent_scores: Vec<(u32, f64)>,
    /// Where each agent is in `agent_scores`, valid where its `agent_seen` entry
    /// equals `stamp`: adding a score is one lookup, not a search.
    pub(crate) agent_at: Vec<u32>,
    pub(crate) agent_seen: Vec<u32>,
    /// softmax probabilities, parallel to `agent_scores`
    pub(crate) probs: Vec<f64>,
    /// the result of the last call
    pub(crate) ids: RouteIds,
}

/// Adds `value` to `key`'s entry in `scores`, appending the entry on first use in this
/// call (`seen[key] != stamp`), so entries stay in order of first score.
#[inline]
pub(crate) fn add(
    scores: &mut Vec<(u32, f64)>,
    at: &mut [u32],
    seen: &mut [u32],
    stamp: u32,
    key: u32,
    value: f64,
) {
    if seen[key as usize] == stamp {
        scores[at[key as usize] as usize].1 += value;
    } else {
        seen[key as usize] = stamp;
        at[key as usize] = scores.len() as u32;
        scores.push((key, value));
    }
}

impl Scratch {
    /// Starts a call: a fresh stamp, and room for an index of this size.
    #[inline]
    pub(crate) fn prepare(&mut self, patterns: usize, skills: usize, agents: usize) {
        for (v, n) in [
            (&mut self.seen, patterns),
            (&mut self.agent_seen, agents),
            (&mut self.agent_at, agents),
        ] {
            if v.len() < n {
                v.resize(n, 0);
            }
        }
        if self.skill_sum.len() < skills {
            self.skill_sum.resize(skills, 0.0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            for v in [&mut self.seen, &mut self.agent_seen] {
                v.iter_mut().for_each(|x| *x = 0);
            }
            self.stamp = 1;
        }
    }
}
