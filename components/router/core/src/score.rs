//! The scoring constants and formulas. Only `+ - * /` and comparisons: transcendental
//! functions differ in the last bit between libms, and decisions must be identical
//! natively and inside the wasm component.

/// Share of a skill's score that flows to the agents of skills it links to.
pub const LINK_SHARE: f64 = 0.25;

/// Evidence a message needs before confidence can get close to 1.
pub const EVIDENCE_SCALE: f64 = 1.0;

/// Confidence in the top agent from its score and the runner-up's.
pub fn confidence(top: f64, second: f64) -> f64 {
    if top <= 0.0 {
        return 0.0;
    }
    let margin = (top - second) / top;
    let strength = top / (top + EVIDENCE_SCALE);
    (margin * strength).clamp(0.0, 1.0)
}

/// An agent's share of all evidence, for alternatives.
pub fn share(score: f64, total: f64) -> f64 {
    if total <= 0.0 { 0.0 } else { (score / total).clamp(0.0, 1.0) }
}

/// Skills meant for other channels count less; skills for this one a little more.
pub fn channel_factor(channel: Option<u32>, skill_channels: &[u32]) -> f64 {
    match channel {
        Some(c) if !skill_channels.is_empty() => {
            if skill_channels.contains(&c) {
                1.2
            } else {
                0.5
            }
        }
        _ => 1.0,
    }
}

/// Skills sized for the message's complexity count more than ones two levels off.
pub fn complexity_factor(message: agency_skill_graph::Complexity, skill: Option<agency_skill_graph::Complexity>) -> f64 {
    match skill {
        None => 1.0,
        Some(s) => match (message.rank() - s.rank()).abs() {
            0 => 1.1,
            1 => 1.0,
            _ => 0.8,
        },
    }
}

/// Four decimals: enough for humans and thresholds, stable in JSON.
pub fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
