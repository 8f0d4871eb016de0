//! Health probes, one round at a time (the local server runs a round on a timer, the
//! monitoring Worker on its cron): every part's health, the gateway's health URL and
//! each agent's and each instance's, each result stored for the SLA. A target is down after
//! [`ProbeSettings::down_after`] failures in a row and up again at its first success;
//! every change is an incident, and an agent's change is told to the skill graph, so
//! routing falls back while it is down.

use agency_kit::{ApiError, Part};
use agency_monitor::metrics::{PROBE_DURATION, PROBE_UP};
use serde::Serialize;

use crate::MonitorPorts;
use crate::store::{self, Status};

/// The parts probed in every round: every part but monitoring, which answers for
/// itself.
pub fn probed_parts() -> impl Iterator<Item = Part> {
    Part::ALL.into_iter().filter(|p| *p != Part::Monitoring)
}

/// The target whose probes make the SLA: up when every part was.
pub const AGENCY: &str = "agency";

/// How probing is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    /// Failures in a row before a target counts as down.
    pub down_after: u32,
    /// The SLA's objective (0.999 is 99.9%).
    pub objective: f64,
    /// The gateway's health URL.
    pub gateway: Option<String>,
    /// Each agent's health URL at the gateway, `{agent}` standing for its id.
    pub agent: Option<String>,
    /// Each instance's health URL (agents that list instances), `{agent}` and
    /// `{instance}` standing for their ids; a JSON answer's `load` (0..1) is reported
    /// with its health.
    pub instance: Option<String>,
    /// How long a probe may take.
    pub timeout_ms: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            down_after: 3,
            objective: agency_monitor::sla::DEFAULT_OBJECTIVE,
            gateway: None,
            agent: None,
            instance: None,
            timeout_ms: 5_000,
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probed {
    pub up: bool,
    pub ms: f64,
    pub detail: Option<String>,
}

/// The day of `ms` (`2026-11-30`).
pub fn day(ms: i64) -> String {
    agency_kit::ports::rfc3339(ms).chars().take(10).collect()
}

async fn url<P: MonitorPorts>(p: &P, url: &str, timeout_ms: u64) -> Probed {
    probe(p, url, timeout_ms).await.0
}

/// [`url`], with the `load` (0..1) a 2xx JSON answer carries, if any.
async fn probe<P: MonitorPorts>(p: &P, url: &str, timeout_ms: u64) -> (Probed, Option<f64>) {
    let start = p.precise_ms();
    let answer = p
        .send(agency_kit::OutRequest::get(url, timeout_ms))
        .await
        .map(|r| {
            let load = serde_json::from_slice::<serde_json::Value>(&r.body)
                .ok()
                .and_then(|v| v.get("load").and_then(serde_json::Value::as_f64))
                .filter(|l| (0.0..=1.0).contains(l));
            (r.status, load)
        });
    let ms = (p.precise_ms() - start).max(0.0);
    let load = answer.as_ref().ok().and_then(|a| a.1);
    let answer = answer.map(|a| a.0);
    let probed = match answer {
        Ok(status) if (200..300).contains(&status) => Probed {
            up: true,
            ms,
            detail: None,
        },
        Ok(status) => Probed {
            up: false,
            ms,
            detail: Some(format!("answered {status}")),
        },
        Err(e) => Probed {
            up: false,
            ms,
            detail: Some(e.to_string()),
        },
    };
    (probed, load)
}

/// What a probed target is, beyond its name.
enum Probe {
    Part,
    Agent(String),
    /// Agent, instance, and the load its answer carried.
    Instance(String, String, Option<f64>),
}

/// One round over every target; how many were probed.
pub async fn round<P: MonitorPorts>(p: &P) -> Result<usize, ApiError> {
    let settings = p.probe_settings();
    let now = p.now_ms();
    let known: Vec<Status> = store::statuses(p.db()).await?;
    let mut results: Vec<(String, Probe, Probed)> = Vec::new();
    let mut parts_up = true;
    for part in probed_parts() {
        let r = p.probe_part(part).await;
        parts_up &= r.up;
        results.push((part.name().to_owned(), Probe::Part, r));
    }
    results.push((
        AGENCY.to_owned(),
        Probe::Part,
        Probed {
            up: parts_up,
            ms: 0.0,
            detail: (!parts_up).then(|| "a part is down".to_owned()),
        },
    ));
    if let Some(g) = &settings.gateway {
        results.push((
            "gateway".to_owned(),
            Probe::Part,
            url(p, g, settings.timeout_ms).await,
        ));
    }
    // One read of the agents serves both kinds of probe.
    let agents = if settings.agent.is_some() || settings.instance.is_some() {
        crate::agents(p).await
    } else {
        Vec::new()
    };
    if let Some(template) = &settings.agent {
        for agent in &agents {
            let target = template.replace("{agent}", &agent.id);
            let r = url(p, &target, settings.timeout_ms).await;
            results.push((
                format!("agent:{}", agent.id),
                Probe::Agent(agent.id.clone()),
                r,
            ));
        }
    }
    if let Some(template) = &settings.instance {
        for agent in &agents {
            for instance in &agent.instances {
                let target = template
                    .replace("{agent}", &agent.id)
                    .replace("{instance}", &instance.id);
                let (r, load) = probe(p, &target, settings.timeout_ms).await;
                results.push((
                    format!("instance:{}/{}", agent.id, instance.id),
                    Probe::Instance(agent.id.clone(), instance.id.clone(), load),
                    r,
                ));
            }
        }
    }
    let n = results.len();
    for (target, probe, r) in results {
        let before = known.iter().find(|s| s.target == target);
        let previous = before.map_or("unknown", |s| s.status.as_str()).to_owned();
        let failures = if r.up {
            0
        } else {
            before.map_or(0, |s| s.failures) + 1
        };
        // Down after enough failures in a row (or still down); up at the first success.
        let status = if r.up {
            "up"
        } else if failures >= i64::from(settings.down_after) || previous == "down" {
            "down"
        } else {
            "up"
        };
        let changed = status != previous;
        let now_status = Status {
            target: target.clone(),
            status: status.to_owned(),
            failures,
            since_ms: if changed {
                now
            } else {
                before.map_or(now, |s| s.since_ms)
            },
        };
        // Starting up is not an incident; a change between up and down is.
        let incident = (changed && previous != "unknown").then_some((
            status,
            previous.as_str(),
            r.detail.as_deref(),
        ));
        store::record(p.db(), &target, now, r.up, r.ms, &now_status, incident).await?;
        if target != AGENCY {
            p.sample(&mut |m| {
                let _ = m.set(PROBE_UP, &[&target], if r.up { 1.0 } else { 0.0 });
                let _ = m.observe(PROBE_DURATION, &[&target], r.ms / 1000.0);
            });
        }
        match probe {
            Probe::Agent(agent) if changed && (previous != "unknown" || status == "down") => {
                crate::set_agent_health(p, &agent, status == "up").await?;
            }
            // Every round: a report expires unless it is made again.
            Probe::Instance(agent, instance, load) => {
                crate::report_instance(p, &agent, &instance, status == "up", load).await?;
            }
            _ => {}
        }
    }
    if let Some(usd) = crate::cost_today(p).await {
        store::cost(p.db(), &day(now), usd).await?;
    }
    // Shipped samples are folded into their minutes on the same schedule.
    crate::samples::fold(p, p.db()).await?;
    let metrics = crate::samples::merged(p).await?;
    store::note(p.db(), now, &crate::series::figures(&metrics, parts_up)).await?;
    store::prune(p.db(), now - 31 * 24 * 3_600_000).await?;
    Ok(n)
}
