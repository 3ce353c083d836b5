//! Property tests of the pool math, on its own (no bank needed).

use model_vault::curve::{self, CurveError, Reserves, SpendLimit};
use proptest::prelude::*;

/// Reserves anywhere in u64, including both extremes.
fn any_reserves() -> impl Strategy<Value = Reserves> {
    let amount = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX / 2),
        any::<u64>(),
        1u64..1_000_000_000_000_000
    ];
    (amount.clone(), amount.clone(), amount).prop_map(|(virtual_quote, real_quote, tokens)| {
        Reserves {
            virtual_quote,
            real_quote,
            tokens,
        }
    })
}

/// Pools shaped like real ones: large virtual reserve, supply up to 1e18 base units.
fn realistic_reserves() -> impl Strategy<Value = Reserves> {
    (
        1u64..100_000_000_000_000,
        0u64..100_000_000_000_000,
        1_000u64..1_000_000_000_000_000_000,
    )
        .prop_map(|(virtual_quote, real_quote, tokens)| Reserves {
            virtual_quote,
            real_quote,
            tokens,
        })
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        any::<u64>(),
        1u64..10_000_000_000_000
    ]
}

fn fee_bps() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(9_999), 0u16..1_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_panic_and_no_wrap_at_u64_extremes(r in any_reserves(), x in amount(), fee in fee_bps()) {
        // Overflow checks are on in test builds: any wrap would panic here.
        for trade in [r.buy(x, fee), r.sell(x, fee)].into_iter().flatten() {
            prop_assert!(trade.after.quote().is_ok(), "reserves stay within u64");
        }
        let _ = r.spot_price();
    }

    #[test]
    fn k_never_decreases(r in any_reserves(), x in amount(), fee in fee_bps()) {
        for trade in [r.buy(x, fee), r.sell(x, fee)].into_iter().flatten() {
            prop_assert!(trade.after.k().unwrap() >= r.k().unwrap());
        }
    }

    #[test]
    fn rounding_favours_the_pool(r in any_reserves(), x in amount(), fee in fee_bps()) {
        let q = u128::from(r.quote().unwrap_or(0));
        let t = u128::from(r.tokens);
        if let Ok(buy) = r.buy(x, fee) {
            // the fee is rounded up ...
            prop_assert!(u128::from(buy.fee) * 10_000 >= u128::from(x) * u128::from(fee));
            // ... and the tokens out rounded down from the exact constant-product amount
            let net = u128::from(x - buy.fee);
            prop_assert!(u128::from(buy.amount_out) * (q + net) <= net * t);
        }
        if let Ok(sell) = r.sell(x, fee) {
            let tin = u128::from(x);
            prop_assert!(u128::from(sell.amount_out + sell.fee) * (t + tin) <= tin * q);
            prop_assert!(u128::from(sell.fee) * 10_000 >= u128::from(sell.amount_out + sell.fee) * u128::from(fee));
        }
    }

    #[test]
    fn buy_then_sell_never_profits(r in realistic_reserves(), x in 1u64..10_000_000_000_000, fee in fee_bps()) {
        if let Ok(buy) = r.buy(x, fee) {
            match buy.after.sell(buy.amount_out, fee) {
                Ok(sell) => prop_assert!(sell.amount_out <= x, "paid {x}, got back {}", sell.amount_out),
                Err(e) => prop_assert!(matches!(e, CurveError::ZeroOutput | CurveError::InsufficientLiquidity)),
            }
        }
    }

    #[test]
    fn sell_then_buy_never_profits(r in realistic_reserves(), x in 1u64..1_000_000_000_000_000, fee in fee_bps()) {
        if let Ok(sell) = r.sell(x, fee) {
            if let Ok(buy) = sell.after.buy(sell.amount_out, fee) {
                prop_assert!(buy.amount_out <= x);
            }
        }
    }

    #[test]
    fn buys_raise_and_sells_lower_the_price(r in realistic_reserves(), x in 1u64..10_000_000_000_000) {
        let before = r.spot_price().unwrap();
        if let Ok(buy) = r.buy(x, 100) {
            prop_assert!(buy.after.spot_price().unwrap() >= before);
        }
        if let Ok(sell) = r.sell(x, 100) {
            prop_assert!(sell.after.spot_price().unwrap() <= before);
        }
    }

    #[test]
    fn reference_moves_toward_spot_without_overshooting(
        reference in 1u128..u128::MAX / 2, spot in 0u128..u128::MAX / 2, elapsed in 0u64..100_000, window in 1u64..1_000,
    ) {
        let next = curve::next_reference(reference, spot, elapsed, window);
        prop_assert!(next >= reference.min(spot) && next <= reference.max(spot));
        if elapsed == 0 {
            prop_assert_eq!(next, reference);
        }
        // the longer the wait, the closer (never further)
        let later = curve::next_reference(reference, spot, elapsed + 1, window);
        prop_assert!(later.abs_diff(spot) <= next.abs_diff(spot));
    }

    /// M5: idle slots converge no faster than slots in which the pool is touched (one step
    /// per slot), up to a unit of rounding per step.
    #[test]
    fn idle_slots_converge_no_faster_than_touched_ones(
        reference in 1u128..1_000_000_000_000_000_000_000_000, spot in 0u128..1_000_000_000_000_000_000_000_000,
        elapsed in 1u64..300, window in 1u64..1_000,
    ) {
        let idle = curve::next_reference(reference, spot, elapsed, window);
        let mut touched = reference;
        for _ in 0..elapsed {
            touched = curve::next_reference(touched, spot, 1, window);
        }
        let slack = u128::from(elapsed) + reference.abs_diff(spot) / 1_000_000_000_000;
        prop_assert!(idle.abs_diff(spot) + slack >= touched.abs_diff(spot),
            "idle gap {} vs touched gap {}", idle.abs_diff(spot), touched.abs_diff(spot));
    }

    /// M4: the spend found is within the cap and the largest that is.
    #[test]
    fn max_spend_within_is_the_largest_spend_under_the_cap(
        r in realistic_reserves(), fee in fee_bps(), cap in 1u16..2_000, upper in 0u64..10_000_000_000_000, below in 0u16..300,
    ) {
        let Ok(spot) = r.spot_price() else { return Ok(()) };
        if spot == 0 { return Ok(()) }
        // an anchor at or a little below spot, as when the reference lags under it
        let anchor = spot - spot * u128::from(below) / 10_000;
        let limit = SpendLimit { anchor, cap_bps: cap, upper };
        let s = curve::max_spend_within(&r, fee, &limit).unwrap();
        prop_assert!(s <= upper);
        prop_assert!(within(&r, fee, &limit, s));
        if s < upper {
            prop_assert!(!within(&r, fee, &limit, s + 1), "{} would fit too", s + 1);
        }
    }
}

/// Whether buying for `spend` leaves the spot price within `limit` (the definition
/// `max_spend_within` must meet exactly).
fn within(r: &Reserves, fee: u16, limit: &SpendLimit, spend: u64) -> bool {
    match r.buy(spend, fee) {
        Ok(t) => {
            let after = t.after.spot_price().unwrap();
            after <= limit.anchor
                || curve::deviation_bps(after, limit.anchor).unwrap() <= u128::from(limit.cap_bps)
        }
        Err(CurveError::ZeroOutput | CurveError::ZeroAmount) => true,
        Err(_) => false,
    }
}

/// Reserves too large for the search's first guess (its u128 figures overflow) are searched
/// by bisection alone, to the same exact answer.
#[test]
fn max_spend_within_holds_for_reserves_too_large_to_estimate() {
    let r = Reserves {
        virtual_quote: u64::MAX / 4,
        real_quote: 0,
        tokens: u64::MAX / 2,
    };
    let limit = SpendLimit {
        anchor: r.spot_price().unwrap(),
        cap_bps: 100,
        upper: u64::MAX / 2,
    };
    let s = curve::max_spend_within(&r, 100, &limit).unwrap();
    assert!(s > 0 && s < limit.upper);
    assert!(within(&r, 100, &limit, s));
    assert!(!within(&r, 100, &limit, s + 1));
}

#[test]
fn a_sale_the_pool_cannot_pay_for_is_refused() {
    // 1,000 tokens sold into a pool priced only by its virtual reserve
    let r = Reserves {
        virtual_quote: 1_000_000,
        real_quote: 10,
        tokens: 1_000,
    };
    assert_eq!(r.sell(1_000, 0), Err(CurveError::InsufficientLiquidity));
}

#[test]
fn deviation_is_rounded_up_and_symmetric_in_sign() {
    assert_eq!(curve::deviation_bps(10_001, 10_000), Ok(1));
    assert_eq!(curve::deviation_bps(9_999, 10_000), Ok(1));
    assert_eq!(curve::deviation_bps(10_000, 10_000), Ok(0));
    assert_eq!(
        curve::deviation_bps(1, 0),
        Err(CurveError::InsufficientLiquidity)
    );
}

/// The numbers of the security review (issue #12), at the old default guard: a fresh pool
/// (30,000 USDC virtual) absorbs ~744.6 USDC within 500 bps; within the new 200 bps, ~300.
#[test]
fn max_spend_at_a_fresh_default_pool() {
    let fresh = Reserves {
        virtual_quote: 30_000_000_000,
        real_quote: 0,
        tokens: 1_000_000_000_000_000,
    };
    let spot = fresh.spot_price().unwrap();
    let at = |cap| {
        curve::max_spend_within(
            &fresh,
            100,
            &SpendLimit {
                anchor: spot,
                cap_bps: cap,
                upper: u64::MAX,
            },
        )
        .unwrap()
    };
    assert_eq!(at(500) / 100_000, 7_445); // 744.5 USDC
    assert_eq!(at(200) / 1_000_000, 300);
    // nothing that buys a token fits when the anchor already sits a full cap below spot
    let low = spot * 10_000 / 10_201;
    let dust = curve::max_spend_within(
        &fresh,
        100,
        &SpendLimit {
            anchor: low,
            cap_bps: 200,
            upper: u64::MAX,
        },
    )
    .unwrap();
    assert_eq!(
        fresh.buy(dust, 100).map(|t| t.amount_out),
        Err(CurveError::ZeroOutput)
    );
}

/// One slot moves the reference 1/window of the gap; a window of idle slots leaves
/// (1 − 1/window)^window ≈ 36.6% of it instead of snapping to spot.
#[test]
fn the_reference_keeps_a_geometric_share_of_the_gap() {
    let (reference, spot) = (1_000_000_000_000u128, 2_000_000_000_000u128);
    assert_eq!(
        curve::next_reference(reference, spot, 1, 100),
        1_010_000_000_000
    );
    let after_window = curve::next_reference(reference, spot, 100, 100);
    let left = spot - after_window;
    assert!(
        (365_000_000_000..=367_000_000_000).contains(&left),
        "left {left}"
    );
    assert_eq!(
        curve::next_reference(reference, spot, u64::MAX, 100),
        spot - 1
    );
}
