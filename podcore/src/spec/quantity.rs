//! Kubernetes resource quantities (`100m`, `0.5`, `64Mi`, `1G`, `129e6`).

/// Parse a quantity into thousandths of its unit (milli-CPU for `cpu`,
/// milli-bytes for memory), rejecting negative and malformed values.
pub fn parse_milli(text: &str) -> Result<u128, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.starts_with('-') {
        return Err(format!(
            "{text:?} is negative: quantities must be zero or more"
        ));
    }
    let number = number.trim_start_matches('+');
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(format!(
            "{text:?} is not a quantity: expected a number with an optional suffix like 100m, 0.5, 64Mi or 1G"
        ));
    }
    // Value in thousandths, as (whole * 1000 + fraction digits), then scaled.
    let fraction3: String = fraction.chars().chain("000".chars()).take(3).collect();
    let base: u128 =
        whole.parse::<u128>().unwrap_or(0) * 1000 + fraction3.parse::<u128>().unwrap_or(0);
    let rest_of_fraction = fraction.get(3..).unwrap_or("");
    let (multiplier, divisor): (u128, u128) = match suffix {
        "" => (1, 1),
        "m" => (1, 1000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exponent: u32 = s[1..]
                .parse()
                .map_err(|_| format!("{text:?} has a malformed exponent"))?;
            (
                10u128
                    .checked_pow(exponent)
                    .ok_or_else(|| format!("{text:?} is too large"))?,
                1,
            )
        }
        other => {
            return Err(format!(
                "{text:?} has an unknown suffix {other:?}: use m, k, M, G, T, Ki, Mi, Gi or Ti"
            ));
        }
    };
    if !rest_of_fraction.is_empty()
        && rest_of_fraction.bytes().any(|b| b != b'0')
        && multiplier == 1
    {
        // Finer than a thousandth: Kubernetes rounds up.
        return Ok(base * multiplier / divisor + 1);
    }
    Ok(base * multiplier / divisor)
}

/// A CPU quantity in milli-CPU (`0.5` and `500m` are 500).
pub fn cpu_millis(text: &str) -> Result<u64, String> {
    Ok(parse_milli(text)? as u64)
}

/// A memory quantity in bytes (rounded up).
pub fn memory_bytes(text: &str) -> Result<u64, String> {
    Ok(parse_milli(text)?.div_ceil(1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(cpu_millis("100m").unwrap(), 100);
        assert_eq!(cpu_millis("0.5").unwrap(), 500);
        assert_eq!(cpu_millis("2").unwrap(), 2000);
        assert_eq!(cpu_millis("1.5").unwrap(), 1500);
        assert!(cpu_millis("-1").is_err());
        assert!(cpu_millis("abc").is_err());
        assert!(cpu_millis("1x").is_err());
    }

    #[test]
    fn memory() {
        assert_eq!(memory_bytes("64Mi").unwrap(), 64 << 20);
        assert_eq!(memory_bytes("1G").unwrap(), 1_000_000_000);
        assert_eq!(memory_bytes("129e6").unwrap(), 129_000_000);
        assert_eq!(memory_bytes("128974848").unwrap(), 128_974_848);
        assert_eq!(memory_bytes("1.5Gi").unwrap(), 3 << 29);
        assert!(memory_bytes("-64Mi").is_err());
        assert!(memory_bytes("64MB").is_err());
    }
}
