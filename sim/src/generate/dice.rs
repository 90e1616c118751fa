//! Deterministic primitives of the generator: the seeded RNG, identifiers,
//! Kubernetes-style random suffixes, stable hashes and timestamps.
//!
//! Nothing here reads the clock or process-random state, so the same seed
//! always yields the same bytes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 2026-06-01T00:00:00Z: every generated timestamp is this instant minus an age.
pub(crate) const BASE_EPOCH: i64 = 1_780_272_000;

/// The alphabet Kubernetes uses for generated name suffixes (no vowels, no
/// look-alike digits), so generated names look like the ones controllers make.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const HEX: &[u8] = b"0123456789abcdef";

/// FNV-1a: stable across Rust versions and processes, unlike `RandomState`.
pub(crate) fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64 finalizer, used to stretch one hash into many well-mixed words.
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hex string derived only from `s`: the same image always gets the same
/// digest, as it would in a registry.
pub(crate) fn hash_hex(s: &str, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut state = stable_hash(s);
    while out.len() < len {
        state = mix64(state);
        push_hex_u64(&mut out, state);
    }
    out.truncate(len);
    out
}

fn push_hex_u64(out: &mut String, v: u64) {
    for shift in (0..16).rev() {
        out.push(HEX[((v >> (shift * 4)) & 0xf) as usize] as char);
    }
}

/// Formats `BASE_EPOCH - ago_secs` as RFC 3339 with a `Z` suffix.
pub(crate) fn ts(ago_secs: i64) -> String {
    ts_abs(BASE_EPOCH - ago_secs)
}

/// Formats an absolute Unix time as RFC 3339 (`2026-05-01T10:00:00Z`).
pub(crate) fn ts_abs(epoch: i64) -> String {
    let days = epoch.div_euclid(86_400);
    let secs = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The generator's single source of randomness.
pub(crate) struct Dice {
    rng: ChaCha8Rng,
}

impl Dice {
    /// Seeds from the caller's seed plus a stable hash of the cluster name, so
    /// clusters of one fleet differ even under the same seed.
    pub(crate) fn new(seed: u64, cluster: &str) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed.wrapping_add(stable_hash(cluster))),
        }
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.rng.random()
    }

    /// A random UUID (version 4 layout), as the API server assigns to `metadata.uid`.
    pub(crate) fn uid(&mut self) -> String {
        let a = self.u64();
        let b = self.u64();
        let mut hex = String::with_capacity(32);
        push_hex_u64(&mut hex, (a & 0xffff_ffff_ffff_0fff) | 0x4000);
        push_hex_u64(
            &mut hex,
            (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000,
        );
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    pub(crate) fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len + 16);
        while out.len() < len {
            let v = self.u64();
            push_hex_u64(&mut out, v);
        }
        out.truncate(len);
        out
    }

    pub(crate) fn digits(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }

    /// A suffix like the ones ReplicaSet and pod names carry (`7d9f8b6c5d`, `x2k9q`).
    pub(crate) fn suffix(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(K8S_ALPHABET[self.below(K8S_ALPHABET.len())]))
            .collect()
    }

    /// Uniform in `0..n`; 0 when `n` is 0 so callers need no special case.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.rng.random_range(0..n)
        }
    }

    /// Uniform in `lo..=hi` (returns `lo` when the range is empty).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Picks by integer weight; `items` must not be empty.
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u32 = items.iter().map(|(_, w)| *w).sum();
        let mut roll = self.below(total.max(1) as usize) as u32;
        for (item, w) in items {
            if roll < *w {
                return item;
            }
            roll -= *w;
        }
        &items[items.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_time_formats_as_first_of_june_2026() {
        assert_eq!(ts(0), "2026-06-01T00:00:00Z");
        assert_eq!(ts(31 * 86_400 - 36_000), "2026-05-01T10:00:00Z");
        assert_eq!(ts_abs(4_102_444_800), "2100-01-01T00:00:00Z");
        assert_eq!(ts_abs(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn uid_is_uuid_shaped_and_seeded() {
        let mut a = Dice::new(7, "prod");
        let mut b = Dice::new(7, "prod");
        let u = a.uid();
        assert_eq!(u, b.uid());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(Dice::new(7, "dev").uid(), u);
    }

    #[test]
    fn hash_hex_is_stable() {
        assert_eq!(hash_hex("nginx", 64), hash_hex("nginx", 64));
        assert_eq!(hash_hex("nginx", 64).len(), 64);
        assert_ne!(hash_hex("nginx", 64), hash_hex("redis", 64));
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
    }
}
