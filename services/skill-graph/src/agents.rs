//! The agents' endpoints: the agents with their health and instances, marking an agent
//! down or up, an instance's report, and the channels.

use agency_kit::http::json;
use agency_kit::{ApiError, ApiResult, Request};
use agency_router::contract::{HealthBody, InstanceBody};
use agency_router::pool;
use http::StatusCode;

use crate::{GraphPorts, InstanceReport, current, store, views};

pub(crate) async fn agents<P: GraphPorts>(p: &P) -> ApiResult {
    let (head, graph) = current(p).await?;
    let now = p.now_ms();
    let reports = store::instance_reports(p.db(), now).await?;
    let down = pool::down_agents(&graph, &store::down_agents(p.db()).await?, &reports, now);
    let agents = graph
        .agents
        .iter()
        .map(|a| views::AgentStatus {
            id: a.id.clone(),
            name: a.name.clone(),
            fallback: a.fallback.clone(),
            description: a.description.clone(),
            healthy: !down.contains(&a.id),
            instances: pool::candidates(a, &reports, now)
                .into_iter()
                .map(|c| views::InstanceStatus {
                    id: c.id.to_owned(),
                    weight: c.weight,
                    healthy: c.healthy,
                    load: c.report.map(|r| r.load),
                    reported_at: c.report.map(|r| agency_kit::ports::rfc3339(r.updated_ms)),
                })
                .collect(),
        })
        .collect();
    Ok(json(
        StatusCode::OK,
        &views::Agents {
            agents,
            graph_version: head.version,
        },
    ))
}

pub(crate) async fn set_health<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let id = req.param(0, "agent id")?;
    let body: HealthBody = req.json()?;
    let (_, graph) = current(p).await?;
    if graph.agent(&id).is_none() {
        return Err(ApiError::not_found(format!("no agent {id:?}")));
    }
    store::set_health(p.db(), &id, body.healthy, p.now_ms()).await?;
    health_changed(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::Health {
            agent: id,
            healthy: body.healthy,
        },
    ))
}

/// Tells the runtime the health it routes with now.
pub(crate) async fn health_changed<P: GraphPorts>(p: &P) -> Result<(), ApiError> {
    let down = store::down_agents(p.db()).await?;
    let reports = store::instance_reports(p.db(), p.now_ms()).await?;
    p.health_changed(&down, &reports).await;
    Ok(())
}

pub(crate) async fn set_instance<P: GraphPorts>(p: &P, req: &Request) -> ApiResult {
    let agent = req.param(0, "agent id")?;
    let instance = req.param(1, "instance id")?;
    let body: InstanceBody = req.json()?;
    if !(0.0..=1.0).contains(&body.load) {
        return Err(ApiError::bad_request(format!(
            "load must be within 0..1, got {}",
            body.load
        )));
    }
    let (_, graph) = current(p).await?;
    let Some(a) = graph.agent(&agent) else {
        return Err(ApiError::not_found(format!("no agent {agent:?}")));
    };
    if !a.instances.iter().any(|i| i.id == instance) {
        return Err(ApiError::not_found(format!(
            "agent {agent:?} lists no instance {instance:?}"
        )));
    }
    let report = InstanceReport {
        agent,
        instance,
        healthy: body.healthy,
        load: body.load,
        updated_ms: p.now_ms(),
    };
    store::set_instance(p.db(), &report).await?;
    health_changed(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::InstanceHealth {
            expires_at: agency_kit::ports::rfc3339(report.updated_ms + pool::REPORT_TTL_MS),
            agent: report.agent,
            instance: report.instance,
            healthy: report.healthy,
            load: report.load,
        },
    ))
}

pub(crate) async fn channels<P: GraphPorts>(p: &P) -> ApiResult {
    let (head, graph) = current(p).await?;
    Ok(json(
        StatusCode::OK,
        &views::Channels {
            channels: graph.channels.clone(),
            graph_version: head.version,
        },
    ))
}
