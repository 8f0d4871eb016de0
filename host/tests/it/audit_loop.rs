//! The whole loop an operator runs on CLINC150: route, give feedback, relearn from the
//! audit, preview the candidate, upload it, and see the corrected messages go where the
//! feedback said. Everything through the `agency` binary and the HTTP API.

use serde_json::{Value, json};

use crate::util::*;

fn agency(args: &[&str]) -> (i32, String, String) {
    agency_with(args, &[("AGENCY_OPERATOR_TOKEN", OPERATOR)])
}

fn route(server: &Server, message: &str) -> Value {
    let body = json!({ "message": message }).to_string();
    let (status, d) = post(&server.url("/api/route"), GATEWAY, &body);
    assert_eq!(status, 200, "{d}");
    d
}

#[test]
fn route_feedback_relearn_preview_upload() {
    let clinc = repo().join("../shared/data/clinc150");
    let train = clinc.join("train.jsonl");
    let dir = TempDir::new("audit-loop");
    let first = dir.path().join("first.json");
    let (code, _, err) = agency(&[
        "skills",
        "learn",
        "--examples",
        train.to_str().unwrap(),
        "--out",
        first.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let data = dir.path().join("data");
    let server = Server::start(&data, &["--graph", first.to_str().unwrap()], true);

    // Route every fifth val message; the operators correct the wrong ones.
    let val = std::fs::read_to_string(clinc.join("val.jsonl")).unwrap();
    let mut corrected: Vec<(String, String, Option<String>)> = Vec::new();
    let mut routed = 0;
    for line in val.lines().step_by(5) {
        let ex: Value = serde_json::from_str(line).unwrap();
        let d = route(&server, ex["text"].as_str().unwrap());
        routed += 1;
        if d["agent"] != ex["agent"] {
            let id = d["decisionId"].as_str().unwrap().to_owned();
            let body = json!({ "decisionId": id, "correctAgent": ex["agent"] }).to_string();
            let (status, r) = post(&server.url("/api/route/feedback"), OPERATOR, &body);
            assert_eq!(status, 201, "{r}");
            let text = ex["text"].as_str().unwrap().to_owned();
            corrected.push((id, text, ex["agent"].as_str().map(str::to_owned)));
        }
    }
    assert!(
        corrected.len() >= 20,
        "only {} of {routed} were wrong",
        corrected.len()
    );

    // Relearn from the audit, by URL with the base set and from the data directory
    // warm-started; both keep the graph's agents.
    let url = server.url("");
    let relearned = dir.path().join("relearned.json");
    let (code, out, err) = agency(&[
        "skills",
        "learn",
        "--from-audit",
        &url,
        "--examples",
        train.to_str().unwrap(),
        "--out",
        relearned.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{} decisions with feedback", corrected.len())),
        "{out}"
    );
    let warm = dir.path().join("warm.json");
    let (code, out, err) = agency(&[
        "skills",
        "learn",
        "--from-audit",
        data.to_str().unwrap(),
        "--out",
        warm.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("anchors"), "{out}");

    // The preview shows the corrected decisions changing, the same by URL and by data
    // directory, and writes nothing.
    let diff = |graph: &std::path::Path, flag: &str, source: &str| {
        let (code, out, err) = agency(&[
            "skills",
            "diff",
            "--graph",
            graph.to_str().unwrap(),
            flag,
            source,
            "--sample",
            "100",
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap()
    };
    let report = diff(&relearned, "--against", &url);
    assert_eq!(report, diff(&relearned, "--data", data.to_str().unwrap()));
    assert_eq!(report["replayed"], routed);
    assert_eq!(report["withFeedback"], corrected.len());
    assert_eq!(
        report["accuracyBefore"], 0.0,
        "every feedback was a correction"
    );
    let fixed = report["fixed"].as_u64().unwrap() as usize;
    assert!(
        fixed * 10 >= corrected.len() * 8,
        "{fixed} of {} fixed",
        corrected.len()
    );
    assert!(report["accuracyAfter"].as_f64().unwrap() >= 0.8, "{report}");
    assert_eq!(report["broken"], 0);
    let sample = report["sample"].as_array().unwrap();
    let shown = sample
        .iter()
        .filter(|c| {
            !c["feedback"].is_null() && c["after"]["agent"] == c["feedback"]["correctAgent"]
        })
        .count();
    assert_eq!(shown, fixed, "every fixed correction is in the sample");
    let warm_report = diff(&warm, "--against", &url);
    assert!(
        warm_report["fixed"].as_u64().unwrap() as usize * 10 >= corrected.len() * 8,
        "{warm_report}"
    );
    let (_, versions) = get(&server.url("/api/graph/versions"), VIEWER);
    assert_eq!(
        versions["versions"].as_array().unwrap().len(),
        1,
        "a preview stored a graph"
    );

    // Upload; the corrected messages now go where the feedback said.
    let body = std::fs::read_to_string(&relearned).unwrap();
    let mut r = agent()
        .put(&server.url("/api/graph"))
        .header("authorization", &format!("Bearer {OPERATOR}"))
        .content_type("application/json")
        .send(body.as_str())
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{}",
        r.body_mut().read_to_string().unwrap()
    );
    let now_right = corrected
        .iter()
        .filter(|(_, text, want)| route(&server, text)["agent"].as_str() == want.as_deref())
        .count();
    assert_eq!(now_right, fixed, "the upload routes as the preview said");
}
