//! Table-driven routing tests over one small graph.

use agency_skill_graph::{Complexity, SkillGraph};

use crate::{Reason, RouteRequest, RouterIndex};

const GRAPH: &str = r#"{
  "threshold": 0.5,
  "agents": [
    {"id": "pm", "name": "PM"},
    {"id": "codegen", "name": "Codegen", "fallback": "pm"},
    {"id": "devops", "name": "DevOps", "fallback": "codegen"},
    {"id": "security", "name": "Security", "fallback": "devops"}
  ],
  "channels": [
    {"id": "slack", "defaultAgent": "pm"},
    {"id": "discord"}
  ],
  "skills": [
    {"id": "deploy", "agent": "devops", "keywords": [{"phrase": "deploy", "weight": 2}, "production", "roll back"], "links": ["shared"]},
    {"id": "bugs", "agent": "codegen", "keywords": ["bug", "crash", "stack trace"], "complexity": "simple"},
    {"id": "big-refactor", "agent": "codegen", "keywords": ["refactor"], "complexity": "complex"},
    {"id": "plan", "agent": "pm", "keywords": ["sprint", "roadmap"], "channels": ["slack"]},
    {"id": "vulns", "agent": "security", "keywords": ["cve", "vulnerability"], "channels": ["discord"]},
    {"id": "shared", "keywords": ["architecture"]}
  ]
}"#;

fn index() -> RouterIndex {
    RouterIndex::build(&SkillGraph::from_json(GRAPH).unwrap()).unwrap()
}

struct Case {
    message: &'static str,
    channel: Option<&'static str>,
    complexity: Option<Complexity>,
    down: &'static [&'static str],
    agent: Option<&'static str>,
    reason: Reason,
    fallback_from: Option<&'static str>,
}

macro_rules! cases {
    ($($name:ident: $msg:expr, $chan:expr, $cx:expr, $down:expr => $agent:expr, $reason:ident, $from:expr;)*) => {$(
        #[test]
        fn $name() {
            run(Case { message: $msg, channel: $chan, complexity: $cx, down: $down, agent: $agent, reason: Reason::$reason, fallback_from: $from });
        }
    )*};
}

fn run(c: Case) {
    let idx = index();
    let req = RouteRequest {
        message: c.message.into(),
        channel: c.channel.map(str::to_owned),
        complexity: c.complexity,
        down_agents: c.down.iter().map(|s| s.to_string()).collect(),
    };
    let d = idx.route(&req);
    assert_eq!(d.agent.as_deref(), c.agent, "{d:?}");
    assert_eq!(d.reason, c.reason, "{d:?}");
    assert_eq!(d.fallback_from.as_deref(), c.fallback_from, "{d:?}");
    assert!((0.0..=1.0).contains(&d.confidence));
    assert_eq!(&*d.graph_version, idx.graph_version());
    assert_eq!(
        idx.route_batch(std::slice::from_ref(&req)),
        vec![d.clone()],
        "batch agrees with single"
    );
    // The component's path: the request in indexes, the decision packed.
    let names = idx.names();
    let (channel, down) = (names.channel_of(&req), names.down_of(&req));
    let mut packed = vec![];
    idx.route_packed(c.message, channel, c.complexity, &down, &mut packed);
    idx.route_packed(c.message, channel, c.complexity, &down, &mut packed);
    assert_eq!(
        names.decode(&packed),
        Ok(vec![d.clone(), d.clone()]),
        "packed agrees with single"
    );
    let one = packed.len() / 2;
    assert_eq!(names.decode_single(&packed[..one]), Ok(d.clone()));
    assert!(names.decode_single(&packed).is_err(), "two decisions");
}

/// A packed list cut short or pointing past the name tables is an error, not a panic.
#[test]
fn malformed_packed_decisions_are_errors() {
    let idx = index();
    let names = idx.names();
    let mut packed = vec![];
    idx.route_packed(
        "deploy to production and fix the bug",
        None,
        None,
        &[],
        &mut packed,
    );
    assert!(names.decode(&packed).is_ok());
    for cut in 0..packed.len() {
        assert!(
            names.decode(&packed[..cut]).is_err() || cut == 0,
            "cut at {cut}"
        );
    }
    for i in 0..packed.len() {
        let mut bad = packed.clone();
        bad[i] = u32::MAX;
        // Any word may be a confidence half (any value is valid there); others fail.
        let _ = names.decode(&bad);
    }
    let mut bad = packed.clone();
    bad[0] = names.agents.len() as u32 + 1;
    assert!(names.decode(&bad).is_err());
    bad[0] = 0;
    bad[2] = 9;
    assert!(names.decode(&bad).is_err());
    assert!(names.decode_single(&bad).is_err());
    assert!(names.decode_single(&[]).is_err());
    // Appending: a good list adds its decisions; a bad one leaves `out` as it was.
    let mut out = names.decode(&packed).unwrap_or_default();
    assert_eq!(names.decode_into(&packed, &mut out), Ok(1));
    let mut good_then_bad = packed.clone();
    good_then_bad.extend_from_slice(&bad);
    assert!(names.decode_into(&good_then_bad, &mut out).is_err());
    assert_eq!(out.len(), 2);
    // A count larger than the words left is an error before anything is reserved.
    let mut huge = packed.clone();
    huge[5] = u32::MAX;
    assert!(names.decode(&huge).is_err());
}

cases! {
    keyword_match: "Please DEPLOY it to production!", None, None, &[] => Some("devops"), Match, None;
    phrase_match: "can you roll back the release", None, None, &[] => Some("devops"), Match, None;
    whole_words_only: "redeployment of productions", Some("discord"), None, &[] => None, NoMatch, None;
    channel_default: "good morning", Some("slack"), None, &[] => Some("pm"), Default, None;
    no_default_no_match: "good morning", Some("discord"), None, &[] => None, NoMatch, None;
    unknown_channel_is_ignored: "good morning", Some("irc"), None, &[] => None, NoMatch, None;
    fallback_when_down: "deploy to production", None, None, &["devops"] => Some("codegen"), Fallback, Some("devops");
    fallback_chain_skips_down: "deploy to production", None, None, &["devops", "codegen"] => Some("pm"), Fallback, Some("devops");
    all_down_is_no_match: "deploy to production", None, None, &["devops", "codegen", "pm", "security"] => None, NoMatch, Some("devops");
    default_agent_down_falls_back: "good morning", Some("slack"), None, &["pm"] => None, NoMatch, Some("pm");
    channel_scoped_skill_counts_more_at_home: "cve vulnerability", Some("discord"), None, &[] => Some("security"), Match, None;
    unicode_case: "DEPLOY ÜBER PRODUCTION", None, None, &[] => Some("devops"), Match, None;
    complexity_given: "bug crash", None, Some(Complexity::Simple), &[] => Some("codegen"), Match, None;
}

#[test]
fn links_pass_a_share_to_linked_agents() {
    let idx = index();
    let d = idx.route(&RouteRequest::new("architecture"));
    // "shared" has no agent; its link to "deploy" gives devops a quarter of its score.
    assert_eq!(
        d.alternatives
            .first()
            .map(|a| &*a.agent)
            .or(d.agent.as_deref()),
        Some("devops"),
        "{d:?}"
    );
}

#[test]
fn decision_lists_keywords_files_and_alternatives() {
    let idx = index();
    let d = idx.route(&RouteRequest::new(
        "deploy the fix for this crash to production",
    ));
    assert_eq!(d.agent.as_deref(), Some("devops"));
    let strs = |v: &[std::sync::Arc<str>]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(strs(&d.matched_keywords), ["deploy", "crash", "production"]);
    assert_eq!(strs(&d.skill_files_used), ["skills/deploy.md"]);
    assert_eq!(&*d.alternatives[0].agent, "codegen");
    assert!(d.alternatives[0].confidence < d.confidence);
}

#[test]
fn ties_go_to_the_smaller_agent_id() {
    let idx = index();
    let d = idx.route(&RouteRequest::new("sprint bug"));
    assert_eq!(d.agent.as_deref(), None.or(d.agent.as_deref()));
    let alts: Vec<&str> = d.alternatives.iter().map(|a| &*a.agent).collect();
    let mut ranked = vec![d.agent.as_deref().unwrap_or("")];
    ranked.extend(alts);
    ranked.retain(|a| !a.is_empty());
    assert_eq!(ranked, vec!["codegen", "pm"], "{d:?}");
}

#[test]
fn channel_scoped_skills_count_less_elsewhere() {
    let idx = index();
    let at = |c: &str| {
        idx.route(&RouteRequest {
            channel: Some(c.into()),
            ..RouteRequest::new("cve")
        })
        .confidence
    };
    assert!(
        at("slack") < at("discord"),
        "{} < {}",
        at("slack"),
        at("discord")
    );
}

#[test]
fn confidence_grows_with_evidence() {
    let idx = index();
    let one = idx.route(&RouteRequest::new("production")).confidence;
    let three = idx
        .route(&RouteRequest::new("deploy production roll back"))
        .confidence;
    assert!(three > one, "{one} < {three}");
}

#[test]
fn routing_never_panics_on_odd_text() {
    let idx = index();
    let pieces = [
        "deploy",
        "İ",
        "\u{212A}",
        "ẞ",
        " ",
        "-",
        "production",
        "🙂",
        "roll",
        "back",
        "é",
        "\u{0301}",
        "crash",
        "'",
        "\n",
    ];
    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..5_000 {
        let m: String = (0..rng.usize(..12))
            .map(|_| pieces[rng.usize(..pieces.len())])
            .collect();
        let d = idx.route(&RouteRequest::new(m.clone()));
        assert!((0.0..=1.0).contains(&d.confidence), "{m:?}");
    }
}

/// The keyword scan walks the automaton only from words that can start a keyword. It
/// must find exactly what a plain overlapping Aho-Corasick scan of the whole message
/// finds (whole words only, each keyword once, in order of first occurrence), on
/// messages crowded with overlapping phrases, repeats, case and punctuation. Run with
/// the DFA, and with enough unused keywords added to switch to the NFA.
#[test]
fn word_start_scan_equals_a_full_overlapping_scan() {
    scan_equals_a_full_overlapping_scan(0);
    scan_equals_a_full_overlapping_scan(1_000);
}

fn scan_equals_a_full_overlapping_scan(unused_keywords: usize) {
    use agency_skill_graph::text::canonicalize;
    let phrases = [
        "deploy",
        "deploy to production",
        "to production",
        "production",
        "prod",
        "api gateway",
        "gateway",
        "the api",
        "a",
        "a b",
        "b a",
        "what's up",
        "roll back",
        "back",
        "rollback",
        "ärger",
        "über straße",
    ];
    let skills: Vec<String> = phrases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                r#"{{"id": "s{i}", "agent": "a{}", "keywords": ["{p}"]}}"#,
                i % 3
            )
        })
        .chain((0..unused_keywords).map(|i| {
            format!(r#"{{"id": "unused{i}", "agent": "a0", "keywords": ["zq{i} deploy"]}}"#)
        }))
        .collect();
    let graph = format!(
        r#"{{"agents": [{{"id": "a0", "name": "A"}}, {{"id": "a1", "name": "B"}}, {{"id": "a2", "name": "C"}}],
            "skills": [{}]}}"#,
        skills.join(",")
    );
    let index = RouterIndex::build(&SkillGraph::from_json(&graph).unwrap()).unwrap();
    let canon: Vec<String> = phrases.iter().map(|p| canonicalize(p)).collect();
    let reference = aho_corasick::AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&canon)
        .unwrap();
    let pieces = [
        "deploy",
        "Deploy",
        "to",
        "production",
        "PROD",
        "prod.",
        "api",
        "gateway",
        "the",
        "a",
        "b",
        "A",
        "what's",
        "up",
        "roll",
        "back",
        "rollback",
        "Ärger",
        "über",
        "straße",
        "x",
        "deployment",
        "-",
        ",",
        "  ",
        "!",
    ];
    let mut rng = fastrand::Rng::with_seed(4);
    let mut crowded = 0;
    for _ in 0..20_000 {
        let mut m = String::new();
        for _ in 0..rng.usize(..14) {
            m.push_str(pieces[rng.usize(..pieces.len())]);
            // Pieces often run together: words glued to words.
            if rng.u8(..3) != 0 {
                m.push(' ');
            }
        }
        let hay = canonicalize(&m);
        let b = hay.as_bytes();
        let mut want: Vec<&str> = Vec::new();
        for mat in reference.find_overlapping_iter(&hay) {
            let (s, e) = (mat.start(), mat.end());
            let whole = (s == 0 || b[s - 1] == b' ') && (e == b.len() || b[e] == b' ');
            let p = canon[mat.pattern().as_usize()].as_str();
            if whole && !want.contains(&p) {
                want.push(p);
            }
        }
        let got = index.route(&RouteRequest::new(m.clone())).matched_keywords;
        let got: Vec<&str> = got.iter().map(|k| &**k).collect();
        assert_eq!(got, want, "{m:?}");
        crowded += usize::from(got.len() >= 3);
    }
    assert!(
        crowded > 2_000,
        "only {crowded} messages matched three keywords or more"
    );
}

/// The per-word "nobody" score asks more of a long message: the same evidence among
/// more words gives less confidence, and none at all leaves routing as it was.
#[test]
fn nobody_per_word_asks_more_of_long_messages() {
    let mut g = SkillGraph::from_json(GRAPH).unwrap();
    let plain = RouterIndex::build(&g).unwrap();
    g.none_per_word = 0.2;
    let per_word = RouterIndex::build(&g).unwrap();
    let short = RouteRequest::new("deploy it");
    let long =
        RouteRequest::new("deploy it and tell me whether the weather where you are is nice today");
    let c = |i: &RouterIndex, r: &RouteRequest| i.route(r).confidence;
    assert!(c(&per_word, &short) < c(&plain, &short));
    assert!(c(&per_word, &long) < c(&per_word, &short));
    assert_eq!(plain.route(&long).agent, index().route(&long).agent);
}

/// Pooled by probability, an agent's confidence is the sum of its skills'
/// probabilities: two weak skills of one agent no longer add up to beat one strong
/// skill of another, as their summed scores do.
#[test]
fn probability_pooling_sums_skill_probabilities() {
    let json = r#"{"threshold": 0.1, "noneScore": 0.5,
        "agents": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
        "skills": [{"id": "a1", "agent": "a", "keywords": [{"phrase": "x", "weight": 2}]},
                   {"id": "a2", "agent": "a", "keywords": [{"phrase": "y", "weight": 2}]},
                   {"id": "b1", "agent": "b", "keywords": [{"phrase": "z", "weight": 3}]}]}"#;
    let mut g = SkillGraph::from_json(json).unwrap();
    let message = RouteRequest::new("x y z");
    let summed = RouterIndex::build(&g).unwrap().route(&message);
    assert_eq!(summed.agent.as_deref(), Some("a"));
    g.pooling = agency_skill_graph::Pooling::Probability;
    let pooled = RouterIndex::build(&g).unwrap().route(&message);
    assert_eq!(pooled.agent.as_deref(), Some("b"));
    let e = f64::exp;
    let z = e(2.0) + e(2.0) + e(3.0) + e(0.5);
    assert_eq!(pooled.confidence, crate::score::round(e(3.0) / z));
    assert_eq!(
        pooled.alternatives[0].confidence,
        crate::score::round((e(2.0) + e(2.0)) / z)
    );
    // One skill per agent: the same decisions either way.
    let one = RouteRequest::new("x z");
    g.pooling = agency_skill_graph::Pooling::Sum;
    let a = RouterIndex::build(&g).unwrap().route(&one);
    g.pooling = agency_skill_graph::Pooling::Probability;
    let b = RouterIndex::build(&g).unwrap().route(&one);
    assert_eq!((a.agent, a.confidence), (b.agent, b.confidence));
}

#[test]
fn pooling_exp_is_within_two_ulp_of_libm() {
    let e = crate::score::PoolExp::new();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut worst = 0u64;
    for i in 0..200_000 {
        // dense near 0, where the pooled terms are, and over the whole range
        let x = if i % 2 == 0 {
            -rng.f64() * 40.0
        } else {
            -rng.f64() * 700.0
        };
        let (fast, exact) = (e.exp(x), libm::exp(x));
        worst = worst.max(fast.to_bits().abs_diff(exact.to_bits()));
    }
    for x in [
        0.0,
        -0.0,
        -1e-300,
        -700.0,
        -745.0,
        -1000.0,
        1.0,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(e.exp(x).to_bits(), libm::exp(x).to_bits(), "{x}");
    }
    assert!(e.exp(f64::NAN).is_nan());
    assert!(worst <= 2, "{worst} ulp");
}

/// Two at a time, `exp` gives each lane's bits, in range or out of it.
#[test]
fn pooling_exp_in_pairs_is_exp_of_each() {
    let e = crate::score::PoolExp::new();
    let mut rng = fastrand::Rng::with_seed(8);
    let edges = [0.0, -0.0, -700.0, -745.0, 1.0, f64::NEG_INFINITY, f64::NAN];
    for i in 0..100_000 {
        let mut x = || match i % 3 {
            0 => -rng.f64() * 40.0,
            1 => -rng.f64() * 800.0,
            _ => edges[rng.usize(..edges.len())],
        };
        let pair = [x(), x()];
        let got = e.exp_pair(pair);
        for (g, x) in got.iter().zip(pair) {
            assert_eq!(g.to_bits(), e.exp(x).to_bits(), "{x}");
        }
    }
}
