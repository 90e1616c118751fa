//! Container image references parsed and normalized like the container runtime does.
//!
//! Follows `github.com/distribution/reference` (`ParseNormalizedNamed`): the
//! first path component is a registry only when it contains `.` or `:`, is
//! `localhost`, or has upper-case letters; otherwise the image lives on Docker
//! Hub (`docker.io`), where single-component names get the `library/` prefix.
//! `index.docker.io` is an alias of `docker.io`. The tag defaults to `latest`
//! only when the reference has neither a tag nor a digest.

use std::fmt;

/// Registry of images named without one.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Errors from parsing an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("parse image reference: empty string")]
    Empty,
    #[error("parse image reference {0:?}: invalid repository name")]
    InvalidRepository(String),
    #[error("parse image reference {0:?}: invalid registry")]
    InvalidRegistry(String),
    #[error("parse image reference {0:?}: invalid tag")]
    InvalidTag(String),
    #[error("parse image reference {0:?}: invalid digest")]
    InvalidDigest(String),
}

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host (and port): `docker.io`, `quay.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path within the registry: `library/nginx`, `bitnami/mysql`.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Content digest, `sha256:…`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// `registry/repository`, the name prefix trusted-registry policies match on.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The fully qualified reference: `docker.io/library/nginx:latest`.
    pub fn normalized(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Parses and normalizes an image reference (`nginx` → `docker.io/library/nginx:latest`).
pub fn parse_image(text: &str) -> Result<ImageRef, ImageError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(ImageError::Empty);
    }
    let err_repo = || ImageError::InvalidRepository(text.to_string());

    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => {
            if !valid_digest(digest) {
                return Err(ImageError::InvalidDigest(text.to_string()));
            }
            (rest, Some(digest.to_string()))
        }
        None => (s, None),
    };
    // A ':' after the last '/' starts the tag; earlier ones belong to a registry port.
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            let tag = &rest[colon + 1..];
            if !valid_tag(tag) {
                return Err(ImageError::InvalidTag(text.to_string()));
            }
            (&rest[..colon], Some(tag.to_string()))
        }
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err(err_repo());
    }

    let (registry, repository) = match name.split_once('/') {
        Some((first, remainder))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), remainder.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    if !valid_registry(&registry) {
        return Err(ImageError::InvalidRegistry(text.to_string()));
    }
    let registry = if registry == "index.docker.io" {
        DEFAULT_REGISTRY.to_string()
    } else {
        registry
    };
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    if !repository.split('/').all(valid_path_component) {
        return Err(err_repo());
    }
    let tag = match (tag, &digest) {
        (None, None) => Some("latest".to_string()),
        (tag, _) => tag,
    };
    Ok(ImageRef {
        registry,
        repository,
        tag,
        digest,
    })
}

/// `[a-z0-9]+` separated by `.`, `_`, `__` or runs of `-`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Host (DNS labels or an IPv6 literal in brackets) with an optional numeric port.
fn valid_registry(r: &str) -> bool {
    let (host, port) = if let Some(stripped) = r.strip_prefix('[') {
        match stripped.split_once(']') {
            Some((v6, rest)) => {
                if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                    return false;
                }
                match rest {
                    "" => return true,
                    p => match p.strip_prefix(':') {
                        Some(port) => ("x", Some(port)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match r.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (r, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || x == b'_' || x == b'.' || x == b'-')
}

/// `algorithm:hex`, with at least 32 hex digits (sha256 has 64).
fn valid_digest(d: &str) -> bool {
    match d.split_once(':') {
        Some((alg, hex)) => {
            !alg.is_empty()
                && alg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && (alg != "sha256" || hex.len() == 64)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> ImageRef {
        parse_image(s).unwrap()
    }

    #[test]
    fn docker_hub_official_images() {
        let r = p("nginx");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "library/nginx");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        assert_eq!(r.digest, None);
        assert_eq!(r.normalized(), "docker.io/library/nginx:latest");
        assert_eq!(p("nginx:1.25").normalized(), "docker.io/library/nginx:1.25");
        assert_eq!(
            p("docker.io/library/mysql:8.4").normalized(),
            "docker.io/library/mysql:8.4"
        );
        assert_eq!(
            p("docker.io/mysql").normalized(),
            "docker.io/library/mysql:latest"
        );
    }

    #[test]
    fn docker_hub_user_images() {
        let r = p("bitnami/mysql:8.0");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "bitnami/mysql");
        assert_eq!(r.tag.as_deref(), Some("8.0"));
        assert_eq!(r.name(), "docker.io/bitnami/mysql");
    }

    #[test]
    fn index_docker_io_is_docker_io() {
        assert_eq!(
            p("index.docker.io/redis:7").normalized(),
            "docker.io/library/redis:7"
        );
        assert_eq!(
            p("index.docker.io/grafana/grafana").normalized(),
            "docker.io/grafana/grafana:latest"
        );
    }

    #[test]
    fn registries_with_ports_and_localhost() {
        let r = p("localhost:5000/app:1.2");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag.as_deref(), Some("1.2"));
        let r = p("localhost/app");
        assert_eq!(r.registry, "localhost");
        assert_eq!(r.repository, "app");
        let r = p("registry.example.com:8443/team/app");
        assert_eq!(r.registry, "registry.example.com:8443");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = p("[::1]:5000/app:v1");
        assert_eq!(r.registry, "[::1]:5000");
        assert_eq!(r.tag.as_deref(), Some("v1"));
    }

    #[test]
    fn first_component_without_dot_is_a_docker_hub_namespace() {
        let r = p("myregistry/app");
        assert_eq!(r.registry, "docker.io");
        assert_eq!(r.repository, "myregistry/app");
        // An upper-case first component can only be a host name.
        let r = p("MyHost/app");
        assert_eq!(r.registry, "MyHost");
        assert_eq!(r.repository, "app");
    }

    #[test]
    fn digests() {
        let r = p(&format!("quay.io/x/y@{SHA}"));
        assert_eq!(r.registry, "quay.io");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(SHA));
        assert_eq!(r.normalized(), format!("quay.io/x/y@{SHA}"));
        let r = p(&format!("nginx:1.25@{SHA}"));
        assert_eq!(r.tag.as_deref(), Some("1.25"));
        assert_eq!(r.digest.as_deref(), Some(SHA));
        assert_eq!(
            r.normalized(),
            format!("docker.io/library/nginx:1.25@{SHA}")
        );
    }

    #[test]
    fn deep_paths_and_separators() {
        let r = p("gcr.io/my-project/team/sub_dir/app.name:v1.2.3-rc_1");
        assert_eq!(r.registry, "gcr.io");
        assert_eq!(r.repository, "my-project/team/sub_dir/app.name");
        assert_eq!(r.tag.as_deref(), Some("v1.2.3-rc_1"));
        assert_eq!(
            p("registry.k8s.io/kube-apiserver:v1.33.0").repository,
            "kube-apiserver"
        );
        assert_eq!(p("a__b/c---d").repository, "a__b/c---d");
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "",
            "   ",
            "Nginx",
            "nginx:",
            ":latest",
            "nginx@sha256:abc",
            "nginx@",
            "docker.io/",
            "-nginx",
            "nginx-",
            "a//b",
            "nginx:-bad",
            "nginx:has space",
            "bad host!/app",
            "host:port/app",
            "foo/Bar",
            "a_-b",
        ] {
            assert!(parse_image(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(matches!(parse_image(""), Err(ImageError::Empty)));
        assert!(matches!(
            parse_image("nginx@md5"),
            Err(ImageError::InvalidDigest(_))
        ));
    }

    #[test]
    fn whitespace_is_trimmed() {
        assert_eq!(p(" nginx ").normalized(), "docker.io/library/nginx:latest");
    }
}
