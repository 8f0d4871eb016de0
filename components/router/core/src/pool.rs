//! Agent pools: which instance of an agent takes a message, and when a whole agent
//! counts as down. The reports come from the gateway or the health probes; the router
//! service keeps them and hands them over with the time.

use agency_skill_graph::{Agent, SkillGraph};
use serde::{Deserialize, Serialize};

/// How long a report about an instance counts, in milliseconds: one not refreshed
/// within this has expired, and the instance counts as healthy with an unknown (zero)
/// load again, as before any report.
pub const REPORT_TTL_MS: i64 = 90_000;

/// The latest report about one instance: healthy or not, and its load (0 idle ..= 1
/// full).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceReport {
    pub agent: String,
    pub instance: String,
    pub healthy: bool,
    pub load: f64,
    /// When it was reported (Unix ms).
    pub updated_ms: i64,
}

/// One instance as the router sees it now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub weight: f64,
    pub healthy: bool,
    pub load: f64,
    /// The report these come from (none: healthy, load 0).
    pub report: Option<&'a InstanceReport>,
}

/// The report about `agent`'s `instance` that still counts at `now_ms`, if any.
pub fn report<'r>(
    reports: &'r [InstanceReport],
    agent: &str,
    instance: &str,
    now_ms: i64,
) -> Option<&'r InstanceReport> {
    reports.iter().find(|r| {
        r.agent == agent && r.instance == instance && now_ms - r.updated_ms < REPORT_TTL_MS
    })
}

/// `agent`'s declared instances with what the reports that still count say of them.
pub fn candidates<'a>(
    agent: &'a Agent,
    reports: &'a [InstanceReport],
    now_ms: i64,
) -> Vec<Candidate<'a>> {
    agent
        .instances
        .iter()
        .map(|i| {
            let r = report(reports, &agent.id, &i.id, now_ms);
            Candidate {
                id: &i.id,
                weight: i.weight,
                healthy: r.is_none_or(|r| r.healthy),
                load: r.map_or(0.0, |r| r.load.clamp(0.0, 1.0)),
                report: r,
            }
        })
        .collect()
}

/// The agents routing must treat as down: those marked down, and those that list
/// instances every one of which is reported down.
pub fn down_agents(
    graph: &SkillGraph,
    marked: &[String],
    reports: &[InstanceReport],
    now_ms: i64,
) -> Vec<String> {
    let mut down: Vec<String> = marked.to_vec();
    for a in &graph.agents {
        // Down: every instance has a report that still counts, saying so.
        if !a.instances.is_empty()
            && !down.contains(&a.id)
            && a.instances
                .iter()
                .all(|i| report(reports, &a.id, &i.id, now_ms).is_some_and(|r| !r.healthy))
        {
            down.push(a.id.clone());
        }
    }
    down
}

/// The instance that takes a message: `sticky` (the conversation's) while it is
/// healthy; else the power of two choices: two draws among the healthy instances, each
/// in proportion to its weight, and the less loaded of the two wins (the first on a
/// tie). At equal load each instance gets its weight's share; a more loaded one loses
/// the comparisons it is in. `random` is the caller's (the randomness port's) 64 bits;
/// None when no instance is healthy.
pub fn choose(candidates: &[Candidate<'_>], sticky: Option<&str>, random: u64) -> Option<usize> {
    if let Some(s) = sticky
        && let Some(i) = candidates.iter().position(|c| c.id == s && c.healthy)
    {
        return Some(i);
    }
    let total: f64 = candidates
        .iter()
        .filter(|c| c.healthy)
        .map(|c| c.weight)
        .sum();
    if total <= 0.0 {
        return None;
    }
    let draw = |bits: u32| {
        let mut at = f64::from(bits) / 4_294_967_296.0 * total;
        let mut last = None;
        for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.healthy) {
            last = Some(i);
            if at < c.weight {
                return Some(i);
            }
            at -= c.weight;
        }
        last
    };
    let (a, b) = (draw(random as u32)?, draw((random >> 32) as u32)?);
    Some(if candidates[b].load < candidates[a].load {
        b
    } else {
        a
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool<'a>(loads: &[(&'a str, f64, bool, f64)]) -> Vec<Candidate<'a>> {
        loads
            .iter()
            .map(|&(id, weight, healthy, load)| Candidate {
                id,
                weight,
                healthy,
                load,
                report: None,
            })
            .collect()
    }

    fn shares(p: &[Candidate<'_>], n: usize, seed: u64) -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut counts = vec![0usize; p.len()];
        for _ in 0..n {
            counts[choose(p, None, rng.u64(..)).unwrap()] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn equal_load_spreads_by_weight() {
        let p = pool(&[
            ("a", 1.0, true, 0.3),
            ("b", 1.0, true, 0.3),
            ("c", 2.0, true, 0.3),
        ]);
        let s = shares(&p, 10_000, 1);
        for (got, want) in s.iter().zip([0.25, 0.25, 0.5]) {
            assert!((got - want).abs() < 0.02, "{s:?}");
        }
    }

    #[test]
    fn a_loaded_instance_gets_less() {
        let p = pool(&[
            ("a", 1.0, true, 0.9),
            ("b", 1.0, true, 0.1),
            ("c", 2.0, true, 0.1),
        ]);
        let s = shares(&p, 10_000, 2);
        // a wins only when both draws are a: (1/4)^2.
        assert!((s[0] - 0.0625).abs() < 0.015, "{s:?}");
        assert!(s[1] > 0.25 && s[2] > 0.5, "{s:?}");
    }

    #[test]
    fn a_down_instance_is_skipped_and_none_when_all_are() {
        let p = pool(&[("a", 1.0, false, 0.0), ("b", 1.0, true, 0.5)]);
        assert_eq!(shares(&p, 1000, 3), vec![0.0, 1.0]);
        let p = pool(&[("a", 1.0, false, 0.0), ("b", 1.0, false, 0.0)]);
        assert_eq!(choose(&p, None, 7), None);
        assert_eq!(choose(&p, Some("a"), 7), None);
    }

    #[test]
    fn sticky_while_healthy() {
        let p = pool(&[("a", 1.0, true, 0.9), ("b", 100.0, true, 0.0)]);
        assert_eq!(choose(&p, Some("a"), 0), Some(0));
        let p = pool(&[("a", 1.0, false, 0.0), ("b", 1.0, true, 0.0)]);
        assert_eq!(choose(&p, Some("a"), 0), Some(1));
        // A sticky id the pool no longer lists is ignored.
        assert_eq!(choose(&p, Some("gone"), 0), Some(1));
    }

    #[test]
    fn reports_expire_and_all_down_means_the_agent_is_down() {
        let g = SkillGraph::from_json(
            r#"{"agents": [{"id": "codegen", "instances": [{"id": "c1"}, {"id": "c2", "weight": 2}]}, {"id": "pm"}]}"#,
        )
        .unwrap();
        let report = |instance: &str, healthy, at| InstanceReport {
            agent: "codegen".into(),
            instance: instance.into(),
            healthy,
            load: 0.5,
            updated_ms: at,
        };
        let reports = vec![report("c1", false, 1_000), report("c2", false, 50_000)];
        assert_eq!(down_agents(&g, &[], &reports, 60_000), vec!["codegen"]);
        // c1's report has expired: it counts as healthy again.
        assert!(down_agents(&g, &[], &reports, 1_000 + REPORT_TTL_MS).is_empty());
        let c = candidates(&g.agents[0], &reports, 60_000);
        assert_eq!((c[1].weight, c[1].load, c[1].healthy), (2.0, 0.5, false));
        assert_eq!(down_agents(&g, &["pm".into()], &[], 0), vec!["pm"]);
    }
}
