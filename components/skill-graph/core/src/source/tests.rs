use super::*;

const GRAPH: &str = "threshold: 0.4\nnone_score: 0.5\nagents:\n  - id: pm\n    name: PM\n  - id: dev\n    name: Dev\n    fallback: pm\nchannels:\n  - id: slack\n    context: team chat\n    default_agent: pm\n";

fn files(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![(GRAPH_FILE.to_owned(), GRAPH.to_owned())];
    v.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
    v
}

#[test]
fn parses_skill_with_wikilinks_and_weights() {
    let g = parse_dir(&files(&[
            ("skills/plan.md", "---\nagent: pm\nkeywords:\n  - roadmap\n  - { phrase: sprint planning, weight: 2 }\n---\nPlans work. See [[ship]].\n"),
            ("skills/ship.md", "---\nagent: dev\nkeywords: [deploy]\ncomplexity: complex\n---\n# Ship\n"),
        ]))
        .unwrap();
    let plan = g.skills.iter().find(|s| s.id == "plan").unwrap();
    assert_eq!(plan.keywords[1], Keyword::new("sprint planning", 2.0));
    assert_eq!(plan.links, vec!["ship".to_owned()]);
    assert_eq!(plan.description, "Plans work. See [[ship]].");
    assert_eq!(plan.file.as_deref(), Some("skills/plan.md"));
    assert!(g.version.is_some());
}

macro_rules! located {
        ($($name:ident: $file:expr => $want:expr;)*) => {$(
            #[test]
            fn $name() {
                let err = parse_dir(&files(&[("skills/x.md", $file)])).unwrap_err();
                let text = err.to_string();
                assert!(text.contains($want), "{text}");
            }
        )*};
    }

located! {
    unknown_agent_line: "---\nid: x\nkeywords: [a]\nagent: ghost\n---\n" => "skills/x.md:4: skill \"x\" belongs to unknown agent \"ghost\"";
    bad_yaml_line: "---\nagent: pm\nkeywords: [a\n---\n" => "skills/x.md:";
    no_front_matter: "hello\n" => "skills/x.md:1: a skill file must start";
    unclosed: "---\nagent: pm\n" => "skills/x.md:1: front matter is not closed";
    dangling_wikilink: "---\nagent: pm\nkeywords: [a]\n---\nsee [[nope]]\n" => "links to unknown skill \"nope\"";
    unknown_field: "---\nagent: pm\nkeywrods: [a]\n---\n" => "unknown field `keywrods`";
    bad_complexity: "---\nagent: pm\ncomplexity: huge\n---\n" => "skills/x.md:3: complexity must be";
}

#[test]
fn render_round_trips() {
    let g = parse_dir(&files(&[(
        "skills/plan.md",
        "---\nagent: pm\nkeywords: [roadmap, \"q3 okr\"]\nchannels: [slack]\n---\nPlans.\n",
    )]))
    .unwrap();
    let rendered = render_skill(&g.skills[0]);
    let again = parse_dir(&[
        (GRAPH_FILE.to_owned(), render_graph_file(&g)),
        ("skills/plan.md".to_owned(), rendered),
    ])
    .unwrap();
    assert_eq!(again.skills, g.skills);
    assert_eq!(again.agents, g.agents);
    assert_eq!(again.channels, g.channels);
}

/// What `skills learn --from-audit` writes back into a directory keeps every part of
/// a hand-written graph: agents' descriptions and fallbacks, channels, links, and
/// which skills are learned.
#[test]
fn a_whole_graph_round_trips_through_files() {
    let g = SkillGraph::from_json(
            r#"{"threshold": 0.4, "noneScore": 1.5, "nonePerWord": 0.25, "pooling": "probability",
                "agents": [{"id": "pm", "name": "PM", "description": "Plans: \"the\" roadmap\nand more", "fallback": "dev"},
                           {"id": "dev", "name": "Dev"}],
                "channels": [{"id": "slack", "context": "chat", "defaultAgent": "pm"}],
                "skills": [{"id": "plan", "agent": "pm", "keywords": [{"phrase": "roadmap", "weight": 2.5}], "links": ["code"], "complexity": "complex", "channels": ["slack"], "description": "Plans."},
                           {"id": "code", "agent": "dev", "keywords": ["fix"], "learned": true, "description": "Learned."}]}"#,
        )
        .unwrap();
    let mut files = vec![(GRAPH_FILE.to_owned(), render_graph_file(&g))];
    for s in &g.skills {
        files.push((s.file_name(), render_skill(s)));
    }
    let again = parse_dir(&files).unwrap();
    assert_eq!(again.agents, g.agents);
    assert_eq!(again.channels, g.channels);
    assert_eq!(
        (
            again.threshold,
            again.none_score,
            again.none_per_word,
            again.pooling
        ),
        (g.threshold, g.none_score, 0.25, crate::Pooling::Probability)
    );
    for b in &g.skills {
        let a = again.skills.iter().find(|a| a.id == b.id).unwrap();
        assert_eq!(
            (&a.id, &a.keywords, &a.links, a.learned),
            (&b.id, &b.keywords, &b.links, b.learned)
        );
        assert_eq!(
            (a.complexity, &a.channels, &a.description),
            (b.complexity, &b.channels, &b.description)
        );
    }
}
