//! The Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` before every
//! family, label values escaped, classic histograms with cumulative `_bucket` series
//! ending in `le="+Inf"` (equal to `_count`), `_sum` and `_count`.

use std::fmt::Write;

use crate::metrics::{Kind, Registry, Value};

/// The exposition's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A float as Prometheus reads it.
fn number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn labels(names: &[&str], values: &[String], extra: Option<(&str, &str)>, out: &mut String) {
    if names.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (n, v) in names.iter().zip(values) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(n);
        out.push_str("=\"");
        escape_label(v, out);
        out.push('"');
    }
    if let Some((n, v)) = extra {
        if !first {
            out.push(',');
        }
        out.push_str(n);
        out.push_str("=\"");
        out.push_str(v);
        out.push('"');
    }
    out.push('}');
}

/// The whole registry as an exposition.
pub fn render(r: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    for fam in r.families() {
        let f = fam.family();
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        for (values, v) in r.series(fam) {
            match v {
                Value::Counter(x) | Value::Gauge(x) => {
                    out.push_str(f.name);
                    labels(f.labels, values, None, &mut out);
                    out.push(' ');
                    number(*x, &mut out);
                    out.push('\n');
                }
                Value::Histogram(h) => {
                    let mut cumulative = 0u64;
                    for (i, c) in h.counts.iter().enumerate() {
                        cumulative += c;
                        let mut le = String::new();
                        match f.buckets.get(i) {
                            Some(b) => number(*b, &mut le),
                            None => le.push_str("+Inf"),
                        }
                        out.push_str(f.name);
                        out.push_str("_bucket");
                        labels(f.labels, values, Some(("le", &le)), &mut out);
                        let _ = writeln!(out, " {cumulative}");
                    }
                    out.push_str(f.name);
                    out.push_str("_sum");
                    labels(f.labels, values, None, &mut out);
                    out.push(' ');
                    number(h.sum, &mut out);
                    out.push('\n');
                    out.push_str(f.name);
                    out.push_str("_count");
                    labels(f.labels, values, None, &mut out);
                    let _ = writeln!(out, " {cumulative}");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::*;

    #[test]
    fn families_histograms_and_escapes() {
        let mut r = Registry::default();
        r.inc(HTTP_REQUESTS, &["router", "/api/route", "POST", "2xx"])
            .unwrap();
        r.inc(ROUTE_DECISIONS, &["a\"b\\c\nd", "keywords"]).unwrap();
        for v in [0.0002, 0.003, 20.0] {
            r.observe(HTTP_DURATION, &["router", "/api/route"], v)
                .unwrap();
        }
        let text = render(&r);
        assert!(text.contains("# HELP agency_http_requests_total Requests answered"));
        assert!(text.contains("# TYPE agency_http_requests_total counter\n"));
        assert!(text.contains(
            "agency_http_requests_total{service=\"router\",route=\"/api/route\",method=\"POST\",class=\"2xx\"} 1\n"
        ));
        // Control characters never reach a label; quotes and backslashes are escaped.
        assert!(text.contains(r#"agent="a\"b\\cd""#), "{text}");
        assert!(text.contains(
            "agency_http_request_duration_seconds_bucket{service=\"router\",route=\"/api/route\",le=\"0.00025\"} 1\n"
        ));
        assert!(text.contains(
            "agency_http_request_duration_seconds_bucket{service=\"router\",route=\"/api/route\",le=\"10\"} 2\n"
        ));
        assert!(text.contains(
            "agency_http_request_duration_seconds_bucket{service=\"router\",route=\"/api/route\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains(
            "agency_http_request_duration_seconds_count{service=\"router\",route=\"/api/route\"} 3\n"
        ));
        // Every family is announced once, before its samples.
        assert_eq!(text.matches("# TYPE agency_http_requests_total").count(), 1);
    }
}
