//! The Kubernetes version a simulated cluster claims to be, and the
//! behaviour that depends on it.
//!
//! kq must work against the servers people actually run, which lag the
//! newest release by years. A fleet can therefore say "I am 1.27" and the
//! sim answers as the real kube-apiserver of that minor release does:
//! `/version`, which aggregated-discovery versions it negotiates, and which
//! field selectors each resource accepts (see `selector.rs`). Only minors
//! from [`ServerVersion::OLDEST`] to [`ServerVersion::DEFAULT`] are
//! accepted, because those are the ones whose behaviour the sim models.

use std::fmt;
use std::str::FromStr;

use crate::error::SimError;

/// A Kubernetes `MAJOR.MINOR` release the simulated API server claims to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    major: u32,
    minor: u32,
}

/// The patch release reported for each minor: the last patch of that minor
/// (or a recent one for minors still maintained), so `gitVersion` looks like
/// what a real, up-to-date cluster of that minor reports.
const PATCHES: &[(u32, u32)] = &[
    (20, 15),
    (21, 14),
    (22, 17),
    (23, 17),
    (24, 17),
    (25, 16),
    (26, 15),
    (27, 16),
    (28, 15),
    (29, 15),
    (30, 14),
    (31, 10),
    (32, 6),
    (33, 1),
];

impl ServerVersion {
    /// The oldest release the sim can imitate.
    pub const OLDEST: ServerVersion = ServerVersion {
        major: 1,
        minor: 20,
    };
    /// The release the sim reports unless told otherwise (and the newest it imitates).
    pub const DEFAULT: ServerVersion = ServerVersion {
        major: 1,
        minor: 33,
    };

    /// `major.minor`, if the sim can imitate it ([`Self::OLDEST`]..=[`Self::DEFAULT`]).
    pub fn new(major: u32, minor: u32) -> Result<Self, SimError> {
        let v = ServerVersion { major, minor };
        if (Self::OLDEST..=Self::DEFAULT).contains(&v) {
            Ok(v)
        } else {
            Err(SimError::ServerVersion(format!("{major}.{minor}")))
        }
    }

    pub fn major(self) -> u32 {
        self.major
    }

    pub fn minor(self) -> u32 {
        self.minor
    }

    /// The patch release reported in `gitVersion`.
    pub fn patch(self) -> u32 {
        PATCHES
            .iter()
            .find(|(m, _)| *m == self.minor)
            .map(|(_, p)| *p)
            .unwrap_or(0)
    }

    /// `v1.27.16`: what `/version` reports as `gitVersion`.
    pub fn git_version(self) -> String {
        format!("v{}.{}.{}", self.major, self.minor, self.patch())
    }

    /// Whether this release is `1.minor` or newer.
    pub(crate) fn at_least(self, minor: u32) -> bool {
        self.major > 1 || self.minor >= minor
    }

    /// Whether the release serves aggregated discovery (`/api`, `/apis` as an
    /// `APIGroupDiscoveryList`) in `apidiscovery.k8s.io/<version>` by default.
    ///
    /// v2beta1 arrived in 1.26 behind the alpha `AggregatedDiscoveryEndpoint`
    /// gate (off by default), so 1.27 (beta, on) is the first release that
    /// answers it out of the box; v2 arrived with GA in 1.30; v2beta1 stopped
    /// being served in 1.33, where `AggregatedDiscoveryRemoveBetaType`
    /// defaults to true. Older releases ignore the request and send the
    /// legacy documents.
    pub(crate) fn serves_aggregated_discovery(self, version: &str) -> bool {
        match version {
            "v2" => self.at_least(30),
            "v2beta1" => self.at_least(27) && !self.at_least(33),
            _ => false,
        }
    }
}

impl Default for ServerVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ServerVersion {
    type Err = SimError;

    /// Parses `MAJOR.MINOR` (for example `1.27`).
    fn from_str(s: &str) -> Result<Self, SimError> {
        let bad = || SimError::ServerVersion(s.to_string());
        let (major, minor) = s.split_once('.').ok_or_else(bad)?;
        let number = |part: &str| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse::<u32>().map_err(|_| bad())
        };
        let (major, minor) = (number(major)?, number(minor)?);
        ServerVersion::new(major, minor).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_major_minor_within_the_modelled_range() {
        let v: ServerVersion = "1.27".parse().unwrap();
        assert_eq!((v.major(), v.minor()), (1, 27));
        assert_eq!(v.git_version(), "v1.27.16");
        assert_eq!(v.to_string(), "1.27");
        assert_eq!(ServerVersion::default().git_version(), "v1.33.1");
        for bad in [
            "", "1", "1.", ".27", "1.27.3", "v1.27", "1.19", "1.34", "2.0", "1.x", "1.+2",
        ] {
            let e = bad.parse::<ServerVersion>().unwrap_err();
            assert!(matches!(e, SimError::ServerVersion(_)), "{bad}: {e}");
        }
        assert!(ServerVersion::new(1, 20).is_ok());
        assert!(ServerVersion::new(1, 34).is_err());
    }

    #[test]
    fn aggregated_discovery_follows_the_release() {
        let v = |m| ServerVersion::new(1, m).unwrap();
        assert!(!v(25).serves_aggregated_discovery("v2beta1"));
        assert!(!v(26).serves_aggregated_discovery("v2beta1"));
        assert!(v(27).serves_aggregated_discovery("v2beta1"));
        assert!(!v(27).serves_aggregated_discovery("v2"));
        assert!(v(30).serves_aggregated_discovery("v2"));
        assert!(v(32).serves_aggregated_discovery("v2beta1"));
        assert!(!v(33).serves_aggregated_discovery("v2beta1"));
        assert!(v(33).serves_aggregated_discovery("v2"));
    }
}
