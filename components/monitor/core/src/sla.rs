//! The SLA's arithmetic: uptime from probe results over a window, the error budget left
//! against an objective and how fast it burns, and a series' trend.

use serde::{Deserialize, Serialize};

/// One health probe's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub at_ms: i64,
    pub up: bool,
}

/// The default objective: 99.9% of probes up.
pub const DEFAULT_OBJECTIVE: f64 = 0.999;

/// The share of probes in the `window_ms` before `now_ms` that were up; None without
/// any (nothing was measured, which is not 100%).
pub fn uptime(probes: &[Probe], now_ms: i64, window_ms: i64) -> Option<f64> {
    let from = now_ms.saturating_sub(window_ms);
    let (up, all) = probes
        .iter()
        .filter(|p| p.at_ms > from && p.at_ms <= now_ms)
        .fold((0u64, 0u64), |(u, a), p| (u + u64::from(p.up), a + 1));
    (all > 0).then(|| up as f64 / all as f64)
}

/// What a window of probes says against an objective; all None without probes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub uptime: Option<f64>,
    pub budget_remaining: Option<f64>,
    pub burn_rate: Option<f64>,
}

/// Uptime, budget left and burn rate over the `window_ms` before `now_ms`.
pub fn window(probes: &[Probe], now_ms: i64, window_ms: i64, objective: f64) -> Window {
    let up = uptime(probes, now_ms, window_ms);
    Window {
        uptime: up,
        budget_remaining: up.map(|u| budget_remaining(u, objective)),
        burn_rate: up.map(|u| burn_rate(u, objective)),
    }
}

/// A share as a percentage to four decimals (0.999957 is 99.9957).
pub fn percent4(share: f64) -> f64 {
    (share * 100.0 * 10_000.0).round() / 10_000.0
}

/// How much of the error budget is left: 1 when nothing failed, 0 when exactly the
/// objective's allowance failed, negative past it.
pub fn budget_remaining(uptime: f64, objective: f64) -> f64 {
    let allowed = 1.0 - objective;
    if allowed <= 0.0 {
        return if uptime >= 1.0 {
            1.0
        } else {
            f64::NEG_INFINITY
        };
    }
    1.0 - (1.0 - uptime) / allowed
}

/// How fast the budget burns over a window: 1 spends it exactly over the objective's
/// period, 14.4 spends a 30-day budget in about two days.
pub fn burn_rate(uptime: f64, objective: f64) -> f64 {
    let allowed = 1.0 - objective;
    if allowed <= 0.0 {
        return if uptime >= 1.0 { 0.0 } else { f64::INFINITY };
    }
    (1.0 - uptime) / allowed
}

/// Which way a series goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Rising,
    Stable,
    Falling,
}

/// A series' direction and least-squares slope (per step).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub direction: Direction,
    pub slope: f64,
}

/// The trend of `values` (one per step, oldest first): the least-squares slope, called
/// stable while it moves less than `tolerance` of the mean per step (5% is usual).
pub fn trend(values: &[f64], tolerance: f64) -> Trend {
    let n = values.len() as f64;
    if values.len() < 2 {
        return Trend {
            direction: Direction::Stable,
            slope: 0.0,
        };
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    let slope = if den > 0.0 { num / den } else { 0.0 };
    let direction = if slope.abs() <= tolerance * mean_y.abs() || slope == 0.0 {
        Direction::Stable
    } else if slope > 0.0 {
        Direction::Rising
    } else {
        Direction::Falling
    };
    Trend { direction, slope }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn uptime_counts_the_window_and_rounds_to_four_decimals() {
        // A probe a minute for 30 days, with two failures in the last day.
        let now = 30 * 24 * 60 * MIN;
        let probes: Vec<Probe> = (1..=30 * 24 * 60)
            .map(|i| Probe {
                at_ms: i * MIN,
                up: !(i == 30 * 24 * 60 - 5 || i == 30 * 24 * 60 - 6),
            })
            .collect();
        let day = uptime(&probes, now, 24 * 60 * MIN).unwrap();
        assert_eq!(percent4(day), 99.8611);
        let month = uptime(&probes, now, 30 * 24 * 60 * MIN).unwrap();
        assert_eq!(percent4(month), 99.9954);
        assert_eq!(uptime(&probes, 0, MIN), None);
        // 0.999957 shows as the issue writes it.
        assert_eq!(percent4(0.999957), 99.9957);
    }

    #[test]
    fn the_budget_and_its_burn() {
        assert!((budget_remaining(1.0, 0.999) - 1.0).abs() < 1e-12);
        assert!(budget_remaining(0.999, 0.999).abs() < 1e-9);
        assert!((budget_remaining(0.9995, 0.999) - 0.5).abs() < 1e-9);
        assert!(budget_remaining(0.99, 0.999) < 0.0);
        assert!((burn_rate(0.9856, 0.999) - 14.4).abs() < 1e-9);
        assert_eq!(burn_rate(1.0, 0.999), 0.0);
    }

    #[test]
    fn trends_have_a_direction_and_a_slope() {
        let t = trend(&[10.0, 12.0, 14.0, 16.0], 0.05);
        assert_eq!(t.direction, Direction::Rising);
        assert!((t.slope - 2.0).abs() < 1e-12);
        assert_eq!(
            trend(&[10.0, 10.1, 9.9, 10.0], 0.05).direction,
            Direction::Stable
        );
        assert_eq!(trend(&[9.0, 6.0, 3.0], 0.05).direction, Direction::Falling);
        assert_eq!(trend(&[5.0], 0.05).direction, Direction::Stable);
    }
}
