//! Inputs for the benchmarks in `benches/`: graphs of known shape and 200-byte messages.

use agency_skill_graph::{Agent, Keyword, Skill, SkillGraph};

/// `agents` agents with one skill of `keywords` distinct keywords each.
pub fn synthetic_graph(agents: usize, keywords: usize) -> SkillGraph {
    let word = |i: usize| {
        // Pronounceable, distinct, lower-case tokens: "kabo", "kabu", ...
        const SYL: [&str; 16] = [
            "ka", "bo", "mi", "tu", "re", "sa", "no", "vi", "le", "du", "po", "ze", "ri", "go",
            "ha", "ne",
        ];
        let mut n = i;
        let mut s = String::new();
        for _ in 0..4 {
            s.push_str(SYL[n % 16]);
            n /= 16;
        }
        s
    };
    let mut g = SkillGraph {
        version: None,
        calibration: None,
        threshold: 0.5,
        none_score: 0.0,
        none_per_word: 0.0,
        pooling: agency_skill_graph::Pooling::Sum,
        affinity: None,
        agents: vec![],
        channels: vec![],
        skills: vec![],
    };
    for a in 0..agents {
        let id = format!("agent-{a}");
        g.agents.push(Agent {
            id: id.clone(),
            name: id.clone(),
            fallback: None,
            description: String::new(),
            instances: vec![],
        });
        g.skills.push(Skill {
            id: format!("skill-{a}"),
            agent: Some(id),
            keywords: (0..keywords)
                .map(|k| Keyword::new(word(a * keywords + k), 1.0))
                .collect(),
            channels: vec![],
            complexity: None,
            links: vec![],
            description: String::new(),
            file: None,
            learned: false,
        });
    }
    g.version = Some(g.digest());
    g
}

/// Deterministic messages of about `len` bytes: filler prose with a few of the graph's
/// keywords mixed in, as real chat messages have.
pub fn messages(graph: &SkillGraph, count: usize, len: usize) -> Vec<String> {
    const FILLER: [&str; 24] = [
        "please",
        "could",
        "you",
        "take",
        "a",
        "look",
        "at",
        "the",
        "thing",
        "we",
        "talked",
        "about",
        "yesterday",
        "and",
        "let",
        "me",
        "know",
        "what",
        "happens",
        "next",
        "with",
        "our",
        "team",
        "today",
    ];
    let keywords: Vec<&str> = graph
        .skills
        .iter()
        .flat_map(|s| s.keywords.iter().map(|k| k.phrase.as_str()))
        .collect();
    let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
    (0..count)
        .map(|_| {
            let mut m = String::with_capacity(len + 16);
            while m.len() < len {
                let w = if rng.u8(..8) == 0 && !keywords.is_empty() {
                    keywords[rng.usize(..keywords.len())]
                } else {
                    FILLER[rng.usize(..FILLER.len())]
                };
                if !m.is_empty() {
                    m.push(' ');
                }
                m.push_str(w);
            }
            m.truncate(len);
            m
        })
        .collect()
}
