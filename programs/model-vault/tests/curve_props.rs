//! Property tests of the pool math, on its own (no bank needed).

use model_vault::curve::{self, CurveError, Reserves};
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
        reference in 1u128..u128::MAX / 2, spot in 0u128..u128::MAX / 2, elapsed in 0u64..1_000, window in 1u64..1_000,
    ) {
        let next = curve::next_reference(reference, spot, elapsed, window);
        prop_assert!(next >= reference.min(spot) && next <= reference.max(spot));
        if elapsed >= window {
            prop_assert_eq!(next, spot);
        }
        if elapsed == 0 {
            prop_assert_eq!(next, reference);
        }
    }
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
