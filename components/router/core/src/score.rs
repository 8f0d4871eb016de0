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

// ln 2 in two parts: `k * LN2_HI` is exact for the k `PoolExp` meets.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// `PoolExp`'s table steps: 2^(1/N).
const N: f64 = 64.0;
/// Rounding to the nearest integer (ties to even) by adding 1.5 * 2^52: the integer is
/// then the low bits of the sum, and taking 1.5 * 2^52 away again gives it as a float.
/// Exact for |k| < 2^51.
const SHIFT: f64 = 6_755_399_441_055_744.0;

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
        #[cfg(test)]
        if self.exact {
            return libm::exp(x);
        }
        if !(-700.0..=0.0).contains(&x) {
            return libm::exp(x);
        }
        self.exp_in_range([x, 0.0])[0]
    }

    /// `exp` of two values at once, the same bits as [`PoolExp::exp`] of each: written
    /// lane by lane, so that natively the compiler keeps both in one SIMD register
    /// (pooling CLINC's per-intent graph: 3.36 against 3.58 µs a message). Compiled
    /// for the component it stays scalar; written there with simd128 intrinsics it
    /// measured no faster, so it is not.
    #[inline]
    pub(crate) fn exp_pair(&self, x: [f64; 2]) -> [f64; 2] {
        #[cfg(test)]
        if self.exact {
            return x.map(libm::exp);
        }
        if !x.iter().all(|x| (-700.0..=0.0).contains(x)) {
            return x.map(|x| self.exp(x));
        }
        self.exp_in_range(x)
    }

    /// The arithmetic of `exp` for `x` in `[-700, 0]`.
    #[inline(always)]
    fn exp_in_range(&self, x: [f64; 2]) -> [f64; 2] {
        let y = x.map(|x| x * (N / std::f64::consts::LN_2) + SHIFT);
        let mut out = [0.0; 2];
        for i in 0..2 {
            let kf = y[i] - SHIFT;
            let r = (x[i] - kf * (LN2_HI / N)) - kf * (LN2_LO / N);
            let p = 1.0
                + r * (1.0
                    + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))));
            // k in two's complement; 2^(k/64) = 2^(k mod 64 / 64) * 2^floor(k/64), the
            // second built in the exponent bits: floor(k/64) << 52 is (k & !63) << 46.
            let k = y[i].to_bits().wrapping_sub(SHIFT.to_bits());
            let scale = f64::from_bits(((k & !63) << 46).wrapping_add(1023 << 52));
            out[i] = self.table[(k & 63) as usize] * p * scale;
        }
        out
    }
}
