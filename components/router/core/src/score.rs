//! The scoring constants and formulas. Decisions must be identical natively and inside
//! the wasm component, so the only transcendental function is `libm::exp`, the same
//! code on both.

/// Share of a skill's score that flows to the agents of skills it links to.
pub const LINK_SHARE: f64 = 0.25;

/// Softmax over the agents with evidence and a constant "nobody" score, written into
/// `probs` (same order as `scores`). `libm::exp` gives the same bits natively and in
/// wasm, so decisions match across runtimes.
pub fn softmax_into(scores: &[(u32, f64)], none_score: f64, probs: &mut Vec<f64>) {
    probs.clear();
    let m = scores.iter().map(|x| x.1).fold(none_score, f64::max);
    probs.extend(scores.iter().map(|x| libm::exp(x.1 - m)));
    let z: f64 = probs.iter().sum::<f64>() + libm::exp(none_score - m);
    for p in probs.iter_mut() {
        *p = (*p / z).clamp(0.0, 1.0);
    }
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
pub fn complexity_factor(
    message: agency_skill_graph::Complexity,
    skill: Option<agency_skill_graph::Complexity>,
) -> f64 {
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
