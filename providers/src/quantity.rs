//! Kubernetes resource quantities (`100m`, `1.5`, `2Gi`, `1e3`, `129e6`) parsed exactly.
//!
//! The grammar is the one of `k8s.io/apimachinery/pkg/api/resource`: a signed
//! decimal number followed by a binary suffix (`Ki`…`Ei`), a decimal SI suffix
//! (`n u m k M G T P E`) or a decimal exponent (`e3`, `E-2`). Values are kept
//! as an exact decimal (integer mantissa, power of ten, power of 1024) so that
//! conversions to millicores and bytes round exactly as Kubernetes does: up,
//! away from zero, never through a lossy float.

use std::fmt;

/// Errors from parsing or converting a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("parse quantity: empty string")]
    Empty,
    #[error("parse quantity {0:?}: not a number")]
    NotANumber(String),
    #[error("parse quantity {0:?}: unknown suffix {1:?}")]
    UnknownSuffix(String, String),
    #[error("parse quantity {0:?}: too many digits")]
    TooManyDigits(String),
    #[error("convert quantity {0}: out of range for a 64-bit integer")]
    OutOfRange(String),
}

/// An exact Kubernetes quantity: `mantissa × 10^exp10 × 1024^exp1024`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    exp1024: u32,
}

/// Parses a quantity string the way the Kubernetes API server accepts it.
pub fn parse_quantity(text: &str) -> Result<Quantity, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let negative = match bytes[0] {
        b'-' => {
            pos = 1;
            true
        }
        b'+' => {
            pos = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut frac_digits: i32 = 0;
    let mut digits = 0usize;
    let mut seen_dot = false;
    while pos < bytes.len() {
        let c = bytes[pos];
        if c.is_ascii_digit() {
            // Leading zeros never overflow; only significant digits count.
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| QuantityError::TooManyDigits(text.to_string()))?;
            digits += 1;
            if seen_dot {
                frac_digits += 1;
            }
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        pos += 1;
    }
    if digits == 0 {
        return Err(QuantityError::NotANumber(text.to_string()));
    }
    let suffix = &s[pos..];
    let (exp10, exp1024) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        other => match parse_exponent(other) {
            Some(e) => (e, 0),
            None => {
                return Err(QuantityError::UnknownSuffix(
                    text.to_string(),
                    other.to_string(),
                ));
            }
        },
    };
    Ok(Quantity {
        mantissa: if negative { -mantissa } else { mantissa },
        exp10: exp10 - frac_digits,
        exp1024,
    })
}

/// `e3`, `E-2`, `e+10`: a decimal exponent suffix.
fn parse_exponent(suffix: &str) -> Option<i32> {
    let rest = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'))?;
    let digits = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix('+'))
        .unwrap_or(rest);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Bounded so later arithmetic on the exponent cannot overflow.
    let value: i32 = rest.parse().ok()?;
    (-10_000..=10_000).contains(&value).then_some(value)
}

fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

impl Quantity {
    /// The value scaled by `10^shift`, as an integer rounded away from zero
    /// (Kubernetes' `ScaledValue` rounding: `0.1` bytes is 1 byte, `0.5m` is 1m).
    fn scaled(&self, shift: i32) -> Result<i64, QuantityError> {
        let out_of_range = || QuantityError::OutOfRange(self.to_string());
        if self.mantissa == 0 {
            return Ok(0);
        }
        let binary = 1i128
            .checked_shl(10 * self.exp1024)
            .filter(|_| self.exp1024 <= 6)
            .ok_or_else(out_of_range)?;
        let numerator = self.mantissa.checked_mul(binary).ok_or_else(out_of_range)?;
        let exp = self.exp10 + shift;
        let value = if exp >= 0 {
            let factor = pow10(exp.unsigned_abs()).ok_or_else(out_of_range)?;
            numerator.checked_mul(factor).ok_or_else(out_of_range)?
        } else {
            match pow10(exp.unsigned_abs()) {
                Some(divisor) => {
                    let quotient = numerator / divisor;
                    if numerator % divisor == 0 {
                        quotient
                    } else if numerator > 0 {
                        quotient + 1
                    } else {
                        quotient - 1
                    }
                }
                // The divisor exceeds any i128 numerator: |value| < 1, rounds to ±1.
                None => numerator.signum(),
            }
        };
        i64::try_from(value).map_err(|_| out_of_range())
    }

    /// Thousandths of the unit, rounded up (CPU: `100m` → 100, `1.5` → 1500).
    pub fn to_millis(&self) -> Result<i64, QuantityError> {
        self.scaled(3)
    }

    /// Whole units, rounded up (memory and storage: `2Gi` → 2147483648, `0.1` → 1).
    pub fn to_units(&self) -> Result<i64, QuantityError> {
        self.scaled(0)
    }

    /// The value in base units as a float (exact for ordinary sizes).
    pub fn as_f64(&self) -> f64 {
        let binary = 1024f64.powi(self.exp1024 as i32);
        // Formatting and reparsing keeps e.g. 0.1 exact instead of 1 × 10^-1 in binary.
        let text = format!("{}e{}", self.mantissa, self.exp10);
        text.parse::<f64>().unwrap_or(f64::NAN) * binary
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mantissa)?;
        if self.exp10 != 0 {
            write!(f, "e{}", self.exp10)?;
        }
        if self.exp1024 != 0 {
            write!(f, "×1024^{}", self.exp1024)?;
        }
        Ok(())
    }
}

/// CPU in millicores, rounded up; `None` when the text is not a quantity.
pub fn cpu_millicores(text: &str) -> Option<i64> {
    parse_quantity(text).ok()?.to_millis().ok()
}

/// Memory or storage in bytes, rounded up; `None` when the text is not a quantity.
pub fn memory_bytes(text: &str) -> Option<i64> {
    parse_quantity(text).ok()?.to_units().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(s: &str) -> i64 {
        parse_quantity(s).unwrap().to_millis().unwrap()
    }
    fn units(s: &str) -> i64 {
        parse_quantity(s).unwrap().to_units().unwrap()
    }

    #[test]
    fn anchor_bug_cases() {
        assert_eq!(millis("100m"), 100);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(units("2Gi"), 2 * 1024 * 1024 * 1024);
        assert_eq!(units("1e3"), 1000);
        assert_eq!(millis("1e3"), 1_000_000);
        assert_eq!(units("500M"), 500_000_000);
        assert_eq!(units("129e6"), 129_000_000);
        assert_eq!(millis("0.1"), 100);
        assert_eq!(units("1.5Gi"), 1_610_612_736);
    }

    #[test]
    fn plain_and_decimal_numbers() {
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("0.5"), 500);
        assert_eq!(millis(".5"), 500);
        assert_eq!(millis("5."), 5000);
        assert_eq!(millis("0"), 0);
        assert_eq!(millis("000250m"), 250);
        assert_eq!(units("12345"), 12345);
        assert_eq!(millis(" 2 "), 2000);
    }

    #[test]
    fn every_decimal_suffix() {
        assert_eq!(units("1k"), 1_000);
        assert_eq!(units("1M"), 1_000_000);
        assert_eq!(units("1G"), 1_000_000_000);
        assert_eq!(units("1T"), 1_000_000_000_000);
        assert_eq!(units("1P"), 1_000_000_000_000_000);
        assert_eq!(units("1E"), 1_000_000_000_000_000_000);
        assert_eq!(millis("1000000n"), 1);
        assert_eq!(millis("1000u"), 1);
        assert_eq!(millis("250m"), 250);
    }

    #[test]
    fn every_binary_suffix() {
        assert_eq!(units("1Ki"), 1 << 10);
        assert_eq!(units("1Mi"), 1 << 20);
        assert_eq!(units("1Gi"), 1 << 30);
        assert_eq!(units("1Ti"), 1 << 40);
        assert_eq!(units("1Pi"), 1 << 50);
        assert_eq!(units("1Ei"), 1 << 60);
        assert_eq!(units("512Mi"), 536_870_912);
        assert_eq!(units("0.5Ki"), 512);
    }

    #[test]
    fn exponents() {
        assert_eq!(units("1E3"), 1000);
        assert_eq!(units("1e+3"), 1000);
        assert_eq!(millis("1e-3"), 1);
        assert_eq!(millis("5e-1"), 500);
        assert_eq!(units("1.5e3"), 1500);
        assert_eq!(units("12e0"), 12);
    }

    #[test]
    fn signs() {
        assert_eq!(millis("-1"), -1000);
        assert_eq!(millis("+1"), 1000);
        assert_eq!(millis("-100m"), -100);
        assert_eq!(units("-1Ki"), -1024);
    }

    #[test]
    fn rounding_is_up_away_from_zero() {
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(millis("1.0001"), 1001);
        assert_eq!(millis("1n"), 1);
        assert_eq!(millis("-1n"), -1);
        assert_eq!(units("0.1"), 1);
        assert_eq!(units("100m"), 1);
        assert_eq!(units("1500m"), 2);
        assert_eq!(units("1.1Ki"), 1127); // 1126.4 rounded up
        assert_eq!(millis("1e-30"), 1);
        assert_eq!(millis("1e-100"), 1);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            "", " ", "m", "abc", "1x", "1KB", "1 Gi", "1.2.3", "--1", "1e", "1e-", "1ee3", "Gi",
            "1gi", "0x10", "1e3.5", "1e99999", ".",
        ] {
            assert!(parse_quantity(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(cpu_millicores("nonsense"), None);
        assert_eq!(memory_bytes(""), None);
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        assert!(matches!(
            parse_quantity("100E").unwrap().to_units(),
            Err(QuantityError::OutOfRange(_))
        ));
        assert!(parse_quantity("16Ei").unwrap().to_units().is_err());
        assert!(parse_quantity("1e40").unwrap().to_units().is_err());
        assert!(parse_quantity("99999999999999999999999999999999999999999999").is_err());
        assert_eq!(memory_bytes("8Ei"), None); // 2^63 does not fit an i64
        assert_eq!(memory_bytes("7Ei"), Some(7 << 60));
    }

    #[test]
    fn floats_in_base_units() {
        let q = |s: &str| parse_quantity(s).unwrap().as_f64();
        assert_eq!(q("100m"), 0.1);
        assert_eq!(q("1.5Gi"), 1_610_612_736.0);
        assert_eq!(q("129e6"), 129e6);
        assert_eq!(q("-2k"), -2000.0);
    }

    #[test]
    fn helpers() {
        assert_eq!(cpu_millicores("250m"), Some(250));
        assert_eq!(cpu_millicores("2"), Some(2000));
        assert_eq!(memory_bytes("64Mi"), Some(67_108_864));
    }
}
