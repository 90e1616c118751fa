//! Resource quantities in the form the API server stores them.
//!
//! The kube-apiserver decodes every `resource.Quantity` of a built-in type
//! and writes it back in canonical form (apimachinery's
//! `Quantity.CanonicalizeBytes`): `0.5` is stored as `500m`, `1.5Gi` as
//! `1536Mi`, `2.5e9` as `2500e6`, while `100m`, `1Gi`, `512M` and `129e6`
//! are already canonical. Values of a `ResourceList` (requests, limits,
//! capacity, quota) are first rounded up to millis. Custom resources are
//! stored as sent: only typed fields are canonicalized.

use serde_json::Value;

/// The notation a quantity was written in (its suffix decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `Ki`, `Mi`, ... `Ei`.
    BinarySi,
    /// `n`, `u`, `m`, none, `k`, `M`, ... `E`.
    DecimalSi,
    /// `e3`, `E-2`, ...
    DecimalExponent,
}

/// A parsed quantity: exactly `mantissa × 10^scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Quantity {
    mantissa: i128,
    scale: i32,
    format: Format,
}

const BINARY: [(&str, u32); 6] = [
    ("Ki", 1),
    ("Mi", 2),
    ("Gi", 3),
    ("Ti", 4),
    ("Pi", 5),
    ("Ei", 6),
];

const DECIMAL: [(&str, i32); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Digits beyond this many make the sim keep the spelling as sent rather
/// than risk overflow (no real manifest comes close).
const MAX_DIGITS: usize = 30;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Quantity {
    /// Parses what `resource.ParseQuantity` accepts; `None` for anything else.
    fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = rest.split_at(int_len);
        let (frac, suffix) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > MAX_DIGITS {
            return None;
        }
        let mut mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let frac_len = i32::try_from(frac.len()).ok()?;
        let (format, mut scale) =
            if let Some(&(_, power)) = BINARY.iter().find(|(name, _)| *name == suffix) {
                mantissa = mantissa.checked_mul(1i128.checked_shl(10 * power)?)?;
                (Format::BinarySi, 0)
            } else if let Some(&(_, exp)) = DECIMAL.iter().find(|(name, _)| *name == suffix) {
                (Format::DecimalSi, exp)
            } else if let Some(exp) = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
            {
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let exp: i32 = exp.parse().ok()?;
                if exp.abs() > 100 {
                    return None;
                }
                (Format::DecimalExponent, exp)
            } else {
                return None;
            };
        scale -= frac_len;
        if negative {
            mantissa = -mantissa;
        }
        Some(Quantity {
            mantissa,
            scale,
            format,
        })
    }

    /// Rounds up (away from zero) to millis, as `SetDefaults_ResourceList` does.
    fn round_up_to_milli(mut self) -> Option<Quantity> {
        if self.scale >= -3 {
            return Some(self);
        }
        let divisor = pow10(u32::try_from(-3 - self.scale).ok()?)?;
        let mut q = self.mantissa / divisor;
        if self.mantissa % divisor != 0 {
            q += self.mantissa.signum();
        }
        self.mantissa = q;
        self.scale = -3;
        Some(self)
    }

    /// The value as an integer, when it is one.
    fn integer(&self) -> Option<i128> {
        if self.scale >= 0 {
            self.mantissa.checked_mul(pow10(self.scale.unsigned_abs())?)
        } else {
            let d = pow10(self.scale.unsigned_abs())?;
            (self.mantissa % d == 0).then_some(self.mantissa / d)
        }
    }

    /// `Quantity.String()`: the canonical spelling.
    fn canonical(&self) -> Option<String> {
        if self.mantissa == 0 {
            return Some("0".to_string());
        }
        let mut format = self.format;
        let mut integer = None;
        if format == Format::BinarySi {
            match self.integer() {
                Some(v) if v.abs() >= 1024 => integer = Some(v),
                _ => format = Format::DecimalSi,
            }
        }
        if let Some(mut amount) = integer {
            let mut power = 0usize;
            while amount % 1024 == 0 && power < 6 {
                amount /= 1024;
                power += 1;
            }
            let suffix = match power {
                0 => "",
                p => BINARY[p - 1].0,
            };
            return Some(format!("{amount}{suffix}"));
        }
        let mut amount = self.mantissa;
        let mut exponent = self.scale;
        while amount % 10 == 0 {
            amount /= 10;
            exponent += 1;
        }
        match exponent.rem_euclid(3) {
            1 => {
                amount = amount.checked_mul(10)?;
                exponent -= 1;
            }
            2 => {
                amount = amount.checked_mul(100)?;
                exponent -= 2;
            }
            _ => {}
        }
        let suffix = match format {
            Format::DecimalExponent if exponent == 0 => String::new(),
            Format::DecimalExponent => format!("e{exponent}"),
            _ => match DECIMAL.iter().find(|(_, e)| *e == exponent) {
                Some((name, _)) => (*name).to_string(),
                None => format!("e{exponent}"),
            },
        };
        Some(format!("{amount}{suffix}"))
    }
}

/// The canonical spelling of a quantity, or `None` when `s` is not one.
pub(crate) fn canonical(s: &str) -> Option<String> {
    Quantity::parse(s)?.canonical()
}

/// The canonical spelling of a `ResourceList` value (rounded up to millis).
pub(crate) fn canonical_in_list(s: &str) -> Option<String> {
    Quantity::parse(s)?.round_up_to_milli()?.canonical()
}

/// Rewrites a JSON quantity (a string, or a number as YAML manifests send
/// it) in canonical form; anything unparseable is left as sent.
pub(crate) fn canonicalize(v: &mut Value, in_list: bool) {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return,
    };
    let out = if in_list {
        canonical_in_list(&text)
    } else {
        canonical(&text)
    };
    if let Some(out) = out {
        *v = Value::String(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_the_real_server_rewrites() {
        // Observed on kube-apiserver v1.37.2.
        for (sent, stored) in [
            ("0.5", "500m"),
            ("0.25", "250m"),
            ("1.5Gi", "1536Mi"),
            ("2.5e9", "2500e6"),
            ("1.5", "1500m"),
            ("1000m", "1"),
            ("2000m", "2"),
            ("1024Mi", "1Gi"),
            ("2048Ki", "2Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("1000M", "1G"),
            ("12e2", "1200"),
            ("1.0", "1"),
            ("0100m", "100m"),
            ("0", "0"),
            ("0Gi", "0"),
            ("+1", "1"),
            ("-1.5", "-1500m"),
        ] {
            assert_eq!(canonical(sent).as_deref(), Some(stored), "{sent}");
        }
    }

    #[test]
    fn canonical_spellings_stay() {
        for s in [
            "100m", "250m", "1Gi", "512Mi", "1536Mi", "512M", "129e6", "1e3", "1e9", "1", "10Gi",
            "3Ki", "1025Ki", "1200m", "110", "4Gi", "20Gi", "7Ti", "1n", "5u",
        ] {
            assert_eq!(canonical(s).as_deref(), Some(s), "{s}");
        }
    }

    #[test]
    fn resource_lists_round_up_to_millis() {
        assert_eq!(canonical_in_list("1n").as_deref(), Some("1m"));
        assert_eq!(canonical_in_list("1500u").as_deref(), Some("2m"));
        assert_eq!(canonical_in_list("0.0001").as_deref(), Some("1m"));
        assert_eq!(canonical_in_list("0.5").as_deref(), Some("500m"));
        assert_eq!(canonical("1n").as_deref(), Some("1n"));
    }

    #[test]
    fn not_quantities_are_left_alone() {
        for s in ["", "abc", "1Xi", "1e", "1.2.3", "--1", "e3", "1 Gi"] {
            assert_eq!(canonical(s), None, "{s:?}");
        }
        let mut v = Value::from("nope");
        canonicalize(&mut v, true);
        assert_eq!(v, "nope");
        let mut v = serde_json::json!(2);
        canonicalize(&mut v, true);
        assert_eq!(v, "2");
    }
}
