//! USDC amounts: base units (6 decimals) in a `u64`, read from and written as decimal text.

/// USDC in base units (1 USDC = 1,000,000).
pub type Usdc = u64;

/// Parses a USDC decimal string ("0.5", "12", "0.000001") into base units.
pub fn parse_usdc(text: &str) -> Result<Usdc, String> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 6 || whole.is_empty() && fraction.is_empty() {
        return Err(format!(
            "{text:?} is not a USDC amount (at most 6 decimals)"
        ));
    }
    let digits = |s: &str| s.is_empty() || s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(format!("{text:?} is not a USDC amount"));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?
    };
    let fraction: u64 = format!("{fraction:0<6}").parse().expect("six digits");
    whole
        .checked_mul(1_000_000)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Base units as a USDC decimal string.
pub fn format_usdc(units: Usdc) -> String {
    format!("{}.{:06}", units / 1_000_000, units % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_round_trips_in_base_units() {
        assert_eq!(parse_usdc("0.5"), Ok(500_000));
        assert_eq!(parse_usdc("12"), Ok(12_000_000));
        assert_eq!(parse_usdc(".000001"), Ok(1));
        assert_eq!(parse_usdc(" 3.25 "), Ok(3_250_000));
        assert_eq!(format_usdc(1), "0.000001");
        assert_eq!(format_usdc(12_345_678), "12.345678");
        assert_eq!(parse_usdc(&format_usdc(u64::MAX)), Ok(u64::MAX));
    }

    #[test]
    fn what_is_not_an_amount_says_so() {
        for bad in ["", ".", "1.0000001", "-1", "1e6", "0x10", "1.2.3", "１"] {
            assert!(parse_usdc(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_usdc("18446744073709.551616")
            .unwrap_err()
            .contains("too large"));
    }
}
