//! The front of `agency deploy dev`: one small generated Worker in front of the five,
//! so that the whole agency answers on one URL with the same routes as `agency serve`.
//! It forwards each path to the Worker whose service answers it (the registry's route
//! tables), merges the parts' `/health`, and turns a triggered cron into each
//! cron-running Worker's `POST /internal/cron` (one part's alone:
//! `POST /internal/cron/{part}`, with an operator token). Deployed environments have no front:
//! each Worker keeps its own URL.

use agency_deploy::Desired;
use agency_kit::Part;
use serde_json::json;

/// A route's path as a regular expression (`{id}` matches one segment).
fn pattern(path: &str) -> String {
    let mut re = String::from("^");
    for seg in path.split('/').skip(1) {
        re.push('/');
        if seg.starts_with('{') && seg.ends_with('}') {
            re.push_str("[^/]+");
        } else {
            re.push_str(&regex_escape(seg));
        }
    }
    re.push('$');
    re
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = ".^$*+?()[]{}|\\".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// The front's code.
pub fn script(desired: &Desired) -> String {
    let mut routes: Vec<(String, &'static str)> = Vec::new();
    for s in agency_services::SERVICES {
        for (_, path) in (s.routes)() {
            let p = (pattern(path), s.part.binding());
            if !routes.contains(&p) {
                routes.push(p);
            }
        }
    }
    let routes: Vec<_> = routes
        .into_iter()
        .map(|(re, binding)| json!([re, binding]))
        .collect();
    let parts: Vec<&str> = desired.workers.iter().map(|w| w.part.binding()).collect();
    let crons: Vec<&str> = desired
        .workers
        .iter()
        .filter(|w| !w.crons.is_empty())
        .map(|w| w.part.binding())
        .collect();
    format!(
        r#"// The front of `agency deploy dev`, generated from the service registry: do not edit.
const ROUTES = {routes}.map(([re, binding]) => [new RegExp(re), binding]);
const PARTS = {parts};
const CRONS = {crons};
const MAX_BODY = {max_body};

// The body is read here, at most MAX_BODY bytes, and handed on whole: a stream left
// half read behind an early answer (a 413) would break the next request of the
// connection. Each Worker still applies its own, smaller limits.
async function forward(env, binding, request) {{
  if (request.body === null) {{
    return env[binding].fetch(request);
  }}
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {{
    const {{ done, value }} = await reader.read();
    if (done) break;
    size += value.length;
    if (size > MAX_BODY) {{
      await reader.cancel();
      return new Response(
        JSON.stringify({{ error: {{ code: "payload_too_large", message: "request body is over the " + MAX_BODY + "-byte limit" }} }}),
        {{ status: 413, headers: {{ "content-type": "application/json", connection: "close" }} }},
      );
    }}
    chunks.push(value);
  }}
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {{
    body.set(c, at);
    at += c.length;
  }}
  return env[binding].fetch(new Request(request, {{ body }}));
}}

function internal(env, binding, method, path) {{
  const token = (env.AGENCY_OPERATOR_TOKEN || "").split(",")[0].trim();
  return env[binding].fetch("https://" + binding.toLowerCase() + path, {{
    method,
    headers: {{ authorization: "Bearer " + token }},
  }});
}}

async function health(env) {{
  const parts = {{}};
  let ok = true;
  let version = null;
  for (const binding of PARTS) {{
    try {{
      const r = await env[binding].fetch("https://" + binding.toLowerCase() + "/health");
      const body = await r.json();
      ok = ok && r.status === 200;
      version = version || body.version;
      Object.assign(parts, body.parts || {{}});
    }} catch (e) {{
      ok = false;
      parts[binding.toLowerCase().replace("_", "-")] = {{ status: "down", error: String(e) }};
    }}
  }}
  return new Response(JSON.stringify({{ status: ok ? "ok" : "degraded", version, parts }}), {{
    status: ok ? 200 : 503,
    headers: {{ "content-type": "application/json" }},
  }});
}}

export default {{
  async fetch(request, env) {{
    const url = new URL(request.url);
    if (url.pathname === "/health") {{
      return health(env);
    }}
    const cron = url.pathname.match(/^\/internal\/cron\/([a-z-]+)$/);
    if (cron) {{
      const binding = cron[1].toUpperCase().replace("-", "_");
      if (!PARTS.includes(binding)) {{
        return new Response(
          JSON.stringify({{ error: {{ code: "not_found", message: "no part " + cron[1] }} }}),
          {{ status: 404, headers: {{ "content-type": "application/json" }} }},
        );
      }}
      const url2 = new URL(request.url);
      url2.pathname = "/internal/cron";
      return forward(env, binding, new Request(url2, request));
    }}
    if (url.pathname === "/openapi.json") {{
      return env.{monitoring}.fetch(request);
    }}
    for (const [re, binding] of ROUTES) {{
      if (re.test(url.pathname)) {{
        return forward(env, binding, request);
      }}
    }}
    return new Response(
      JSON.stringify({{ error: {{ code: "not_found", message: "no route " + url.pathname }} }}),
      {{ status: 404, headers: {{ "content-type": "application/json" }} }},
    );
  }},

  async scheduled(controller, env, ctx) {{
    for (const binding of CRONS) {{
      ctx.waitUntil(
        internal(env, binding, "POST", "/internal/cron").then(async (r) => {{
          if (r.status !== 200) console.warn(binding + " cron: " + r.status + " " + (await r.text()));
        }}),
      );
    }}
  }},
}};
"#,
        routes = serde_json::Value::Array(routes),
        parts = json!(parts),
        crons = json!(crons),
        max_body = agency_kit::Limits::default().graph_bytes,
        monitoring = Part::Monitoring.binding(),
    )
}

/// The front's configuration: its script next to it, a binding to every part.
pub fn config(desired: &Desired) -> String {
    let services: Vec<_> = desired
        .workers
        .iter()
        .map(|w| json!({ "binding": w.part.binding(), "service": w.name }))
        .collect();
    let c = json!({
        "name": format!("agency-front-{}", desired.names.env()),
        "main": "front.js",
        "compatibility_date": agency_deploy::wrangler::COMPATIBILITY_DATE,
        "services": services,
    });
    format!(
        "// The front of `agency deploy dev`, generated: do not edit.\n{}\n",
        serde_json::to_string_pretty(&c).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_pattern_matches_one_segment_per_parameter() {
        let re = regex::Regex::new(&pattern("/api/events/{id}/drop")).unwrap();
        assert!(re.is_match("/api/events/evt_1/drop"));
        assert!(!re.is_match("/api/events/a/b/drop"));
        assert!(!re.is_match("/api/events/evt_1/drop/x"));
        let re = regex::Regex::new(&pattern("/openapi.json")).unwrap();
        assert!(re.is_match("/openapi.json") && !re.is_match("/openapiXjson"));
    }
}
