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

/// `exp` for the terms of probability pooling (`x <= 0`, a skill's score less the
/// best one's), several times cheaper than `libm::exp` and within 2 ulp of it: x is
/// split as `k ln2/64 + r` with `|r| <= ln2/128`, `exp(r)` is a degree-5 polynomial
/// (truncation below 4e-17), and `2^(k/64)` comes from a table built with
/// `libm::exp2`. Pure arithmetic with no fused operations, so it gives the same bits
/// natively and in wasm. Outside `[-700, 0]` (or NaN) it is `libm::exp`.
pub(crate) struct PoolExp {
    table: [f64; 64],
    /// `libm::exp` instead: the reference the tests compare decisions with.
    #[cfg(test)]
    pub(crate) exact: bool,
}

impl PoolExp {
    pub(crate) fn new() -> PoolExp {
        PoolExp {
            table: std::array::from_fn(|j| libm::exp2(j as f64 / 64.0)),
            #[cfg(test)]
            exact: false,
        }
    }

    #[inline]
    pub(crate) fn exp(&self, x: f64) -> f64 {
        // ln 2 in two parts: `k * LN2_HI` is exact for the k this range gives.
        const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
        const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
        const N: f64 = 64.0;
        #[cfg(test)]
        if self.exact {
            return libm::exp(x);
        }
        if !(-700.0..=0.0).contains(&x) {
            return libm::exp(x);
        }
        // Rounded to the nearest integer (ties to even) by adding and taking away
        // 1.5 * 2^52, exact for |y| < 2^51.
        const SHIFT: f64 = 6_755_399_441_055_744.0;
        let kf = (x * (N / std::f64::consts::LN_2) + SHIFT) - SHIFT;
        let r = (x - kf * (LN2_HI / N)) - kf * (LN2_LO / N);
        let p = 1.0
            + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))));
        let k = kf as i64;
        let scale = f64::from_bits(((1023 + (k >> 6)) as u64) << 52);
        self.table[(k & 63) as usize] * p * scale
    }
}
