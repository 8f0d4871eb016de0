//! The exposition of every family, checked by Prometheus's own linter
//! (`promtool check metrics`, from Debian's `prometheus` package, which
//! `scripts/tools.sh` installs for the test run).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use agency_monitor::metrics::*;
use agency_monitor::prom;

#[test]
fn promtool_finds_nothing_to_report_in_the_exposition() {
    let mut r = Registry::default();
    for (i, f) in FAMILIES.iter().enumerate() {
        let fam = Fam(i);
        let labels: Vec<String> = f.labels.iter().map(|l| format!("{l}-value")).collect();
        let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
        match f.kind {
            Kind::Counter => r.add(fam, &labels, 3.0).unwrap(),
            Kind::Gauge => r.set(fam, &labels, 0.5).unwrap(),
            Kind::Histogram => {
                for v in [0.0003, 0.02, 0.7, 42.0] {
                    r.observe(fam, &labels, v).unwrap();
                }
            }
        }
    }
    let text = prom::render(&r);
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is needed: install Debian's prometheus package (scripts/tools.sh ensure_promtool)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}
