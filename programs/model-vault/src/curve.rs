//! Constant-product pool math on virtual reserves (pump.fun style).
//!
//! Pure integer math with no Solana types, so it can be property-tested on its own.
//! Every rounding goes the pool's way: outputs round down, fees round up, and the
//! product `quote × tokens` never decreases across a trade.

/// Fixed-point scale of prices: USDC base units per token base unit, times 1e18.
pub const PRICE_SCALE: u128 = 1_000_000_000_000_000_000;
const BPS: u128 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurveError {
    Overflow,
    ZeroAmount,
    ZeroOutput,
    InsufficientLiquidity,
}

pub type CurveResult<T> = Result<T, CurveError>;

/// The state the price is computed from. Only `real_quote` is USDC the pool can pay out;
/// `virtual_quote` gives the token a price before anyone has bought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserves {
    pub virtual_quote: u64,
    pub real_quote: u64,
    pub tokens: u64,
}

/// The outcome of one trade: what went in, the fee kept by the pool (in quote units),
/// what comes out, and the reserves afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trade {
    pub amount_in: u64,
    pub fee: u64,
    pub amount_out: u64,
    pub after: Reserves,
}

impl Reserves {
    /// Effective quote reserve. Kept within u64 so that `k` always fits in u128.
    pub fn quote(&self) -> CurveResult<u64> {
        self.virtual_quote
            .checked_add(self.real_quote)
            .ok_or(CurveError::Overflow)
    }

    /// The invariant `quote × tokens`.
    pub fn k(&self) -> CurveResult<u128> {
        Ok(u128::from(self.quote()?) * u128::from(self.tokens))
    }

    /// Spot price scaled by [`PRICE_SCALE`].
    pub fn spot_price(&self) -> CurveResult<u128> {
        if self.tokens == 0 {
            return Err(CurveError::InsufficientLiquidity);
        }
        Ok(u128::from(self.quote()?) * PRICE_SCALE / u128::from(self.tokens))
    }

    /// Exact-in buy: `quote_in` USDC (fee included) for tokens.
    pub fn buy(&self, quote_in: u64, fee_bps: u16) -> CurveResult<Trade> {
        if quote_in == 0 {
            return Err(CurveError::ZeroAmount);
        }
        let quote = u128::from(self.quote()?);
        if quote == 0 {
            return Err(CurveError::InsufficientLiquidity);
        }
        let fee = fee_ceil(quote_in, fee_bps)?;
        let net = u128::from(quote_in - fee);
        let tokens = u128::from(self.tokens);
        let out = net * tokens / (quote + net);
        if out == 0 {
            return Err(CurveError::ZeroOutput);
        }
        let after = Reserves {
            virtual_quote: self.virtual_quote,
            real_quote: self
                .real_quote
                .checked_add(quote_in)
                .ok_or(CurveError::Overflow)?,
            tokens: self.tokens - out as u64,
        };
        after.quote()?;
        Ok(Trade {
            amount_in: quote_in,
            fee,
            amount_out: out as u64,
            after,
        })
    }

    /// Exact-in sell: `tokens_in` tokens for USDC, the fee taken from the proceeds.
    pub fn sell(&self, tokens_in: u64, fee_bps: u16) -> CurveResult<Trade> {
        if tokens_in == 0 {
            return Err(CurveError::ZeroAmount);
        }
        let tokens_after = self
            .tokens
            .checked_add(tokens_in)
            .ok_or(CurveError::Overflow)?;
        let quote = u128::from(self.quote()?);
        let gross = u128::from(tokens_in) * quote / u128::from(tokens_after);
        // gross < quote ≤ u64::MAX, so the casts below are lossless.
        let fee = fee_ceil(gross as u64, fee_bps)?;
        let out = gross as u64 - fee;
        if out == 0 {
            return Err(CurveError::ZeroOutput);
        }
        let real_quote = self
            .real_quote
            .checked_sub(out)
            .ok_or(CurveError::InsufficientLiquidity)?;
        Ok(Trade {
            amount_in: tokens_in,
            fee,
            amount_out: out,
            after: Reserves {
                virtual_quote: self.virtual_quote,
                real_quote,
                tokens: tokens_after,
            },
        })
    }
}

/// `amount × bps / 10000`, rounded up: what a fee takes.
pub fn fee_ceil(amount: u64, bps: u16) -> CurveResult<u64> {
    if u128::from(bps) > BPS {
        return Err(CurveError::Overflow);
    }
    let fee = (u128::from(amount) * u128::from(bps)).div_ceil(BPS);
    Ok(fee as u64)
}

/// `amount × bps / 10000`, rounded down: a share paid out of the pool's or vault's money.
pub fn share_floor(amount: u64, bps: u16) -> CurveResult<u64> {
    if u128::from(bps) > BPS {
        return Err(CurveError::Overflow);
    }
    Ok((u128::from(amount) * u128::from(bps) / BPS) as u64)
}

/// Relative distance `|a − b| / b` in basis points, rounded up (so a guard never
/// lets through a move it should have refused).
pub fn deviation_bps(a: u128, b: u128) -> CurveResult<u128> {
    if b == 0 {
        return Err(CurveError::InsufficientLiquidity);
    }
    let diff = a.abs_diff(b);
    diff.checked_mul(BPS)
        .map(|d| d.div_ceil(b))
        .ok_or(CurveError::Overflow)
}

/// Moves the reference price towards `spot`, keeping `(1 − 1/window)^elapsed` of the gap.
/// Called with the pre-trade spot at the first touch of the pool in a slot, so one slot of
/// manipulation moves the reference by at most `1 / window` of the distortion, and trades
/// later in the same slot cannot move it at all. Idle slots count exactly like touched ones:
/// a pump held in a quiet pool catches up no faster than in a busy one (it used to snap to
/// spot after `window` idle slots).
pub fn next_reference(reference: u128, spot: u128, elapsed_slots: u64, window_slots: u64) -> u128 {
    if window_slots == 0 || reference == 0 {
        return spot;
    }
    let window = u128::from(window_slots);
    let kept = pow_scaled((window - 1) * PRICE_SCALE / window, elapsed_slots);
    // The gap left is rounded up, so the reference never moves further than the formula says.
    let left = mul_scaled_ceil(reference.abs_diff(spot), kept);
    if spot >= reference {
        spot - left
    } else {
        spot + left
    }
}

/// `base^exp` for `base ≤ PRICE_SCALE` read as a fraction of one, by squaring (at most 64
/// rounds whatever `exp`). Rounds each product up, so the result never understates it.
fn pow_scaled(mut base: u128, mut exp: u64) -> u128 {
    let mut acc = PRICE_SCALE;
    while exp > 0 {
        // At one unit or zero every further power is the same: stop early (fewer rounds, and
        // so less compute, for long idle spells).
        if base <= 1 {
            return mul_scaled_ceil(acc, base);
        }
        if exp & 1 == 1 {
            acc = mul_scaled_ceil(acc, base);
        }
        base = mul_scaled_ceil(base, base);
        exp >>= 1;
    }
    acc
}

/// `a × b / PRICE_SCALE` rounded up, for `b ≤ PRICE_SCALE`: never overflows, never exceeds `a`.
fn mul_scaled_ceil(a: u128, b: u128) -> u128 {
    let (whole, rest) = (a / PRICE_SCALE, a % PRICE_SCALE);
    // rest × b < PRICE_SCALE² ≈ 1e36 < u128::MAX
    whole * b + (rest * b).div_ceil(PRICE_SCALE)
}

/// How far a buyback may lift the price: at most `cap_bps` above `anchor`, spending at most
/// `upper`. (One argument rather than three: SBF passes at most five, by value.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendLimit {
    pub anchor: u128,
    pub cap_bps: u16,
    pub upper: u64,
}

/// The largest spend in `0..=upper` whose buy leaves the spot price at most `cap_bps` above
/// `anchor`. Decided by the pool's own trade math (the spot after a buy grows with the
/// spend), so the bound holds exactly, rounding included: one evaluation when the whole of
/// `upper` fits; otherwise a search that starts from the spend the price formula without
/// rounding gives ([`continuous_spend`]), usually a few units off, and bisects only the
/// bracket found around it — a handful of evaluations instead of log2(upper).
pub fn max_spend_within(r: &Reserves, fee_bps: u16, limit: &SpendLimit) -> CurveResult<u64> {
    let SpendLimit {
        anchor,
        cap_bps,
        upper,
    } = *limit;
    let fits = |spend: u64| -> CurveResult<bool> {
        match r.buy(spend, fee_bps) {
            Ok(t) => {
                let after = t.after.spot_price()?;
                Ok(after <= anchor || deviation_bps(after, anchor)? <= u128::from(cap_bps))
            }
            // too small to buy a token unit: moves nothing
            Err(CurveError::ZeroOutput) => Ok(true),
            // beyond what the reserves can represent: certainly past any cap
            Err(CurveError::Overflow) => Ok(false),
            Err(e) => Err(e),
        }
    };
    if upper == 0 || fits(upper)? {
        return Ok(upper);
    }
    // Invariant: fits(lo) (a zero spend moves nothing) and !fits(hi).
    let (mut lo, mut hi) = (0u64, upper);
    // The highest price `deviation_bps` lets through: `anchor` plus `cap_bps` of it, rounded down.
    let highest = anchor
        .checked_mul(u128::from(cap_bps))
        .and_then(|lift| anchor.checked_add(lift / BPS));
    let guess = highest.and_then(|p| continuous_spend(r, fee_bps, p));
    if let Some(guess) = guess.filter(|_| upper > 1) {
        let guess = guess.clamp(1, upper - 1);
        // Gallop away from the guess until the answer is bracketed.
        let mut step = 1u64;
        if fits(guess)? {
            lo = guess;
            while hi - lo > step && fits(lo + step)? {
                lo += step;
                step = step.saturating_mul(2);
            }
            hi = hi.min(lo.saturating_add(step));
        } else {
            hi = guess;
            while hi - lo > step && !fits(hi - step)? {
                hi -= step;
                step = step.saturating_mul(2);
            }
            lo = lo.max(hi - step.min(hi));
        }
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The spend after which the spot price is `price` if trades did not round: the positive root
/// of `(Q + s)(Q + a·s) = Q · P`, where `Q` is the quote reserve, `a = 1 − fee` and `P` the
/// quote reserve at which the current token reserve would trade at `price` (buying keeps
/// `quote × tokens` at its net input). Found by Newton's method rather than a square root: the
/// SBF toolchain has no 128-bit variable shifts, which `isqrt` needs. `None` for an empty
/// pool, or when a figure outgrows u128 (reserves far beyond any USDC supply): the caller then
/// bisects the whole range.
fn continuous_spend(r: &Reserves, fee_bps: u16, price: u128) -> Option<u64> {
    let q = u128::from(r.quote().ok().filter(|q| *q > 0)?);
    let kept = BPS.checked_sub(u128::from(fee_bps)).filter(|a| *a > 0)?;
    let target = price.checked_mul(u128::from(r.tokens))? / PRICE_SCALE;
    let Some(rise) = target.checked_sub(q) else {
        return Some(0);
    };
    // In bps, f(s) = kept·s² + slope·s − goal: increasing and convex for s ≥ 0, so the first
    // step from 0 lands above the root and each later one stays above it, descending. From
    // the linear estimate, three steps leave it within a unit or two at any realistic cap.
    let slope = q.checked_mul(BPS + kept)?;
    let goal = (BPS * q).checked_mul(rise)?;
    let mut s = goal / slope;
    for _ in 0..3 {
        let value = kept
            .checked_mul(s)?
            .checked_mul(s)?
            .checked_add(slope.checked_mul(s)?)?;
        let Some(excess) = value.checked_sub(goal) else {
            break;
        };
        let step = excess / (2 * kept).checked_mul(s)?.checked_add(slope)?;
        if step == 0 {
            break;
        }
        s -= step;
    }
    u64::try_from(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The search's first guess is the answer but for rounding, so the search that follows
    /// it takes a handful of evaluations instead of ~64.
    #[test]
    fn the_first_guess_lands_within_a_few_units_of_the_answer() {
        let fresh = Reserves {
            virtual_quote: 30_000_000_000,
            real_quote: 0,
            tokens: 1_000_000_000_000_000,
        };
        let spot = fresh.spot_price().unwrap();
        for cap in [1u16, 50, 200, 1_000, 2_000] {
            let limit = SpendLimit {
                anchor: spot,
                cap_bps: cap,
                upper: u64::MAX,
            };
            let exact = max_spend_within(&fresh, 100, &limit).unwrap();
            let highest = spot + spot * u128::from(cap) / BPS;
            let guess = continuous_spend(&fresh, 100, highest).unwrap();
            assert!(
                guess.abs_diff(exact) <= 2,
                "cap {cap}: guess {guess}, exact {exact}"
            );
        }
    }
}
