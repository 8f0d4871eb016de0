//! The routing algorithm over a built index: keywords, skill scores, agent scores,
//! the pick and its substitutes, written into the scratch's `ids`.

use agency_skill_graph::{Complexity, text};

use super::{NO_AGENT, RouterIndex};
use crate::complexity;
use crate::decision::Reason;
use crate::score;
use crate::scratch::{Scratch, add};

impl RouterIndex {
    /// Routes `message` into `s.ids`.
    pub(super) fn route_with(
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

        // 3. Skills into agents.
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
