//! Label syntax as the API server validates it.
//!
//! One definition serves the pushdown (a value that is not a valid label
//! would be a selector syntax error on the server, so it stays a
//! client-side filter) and `selector_matches` (a selector no server would
//! accept is bad input).

/// Label keys: optional DNS prefix and a name of alphanumerics, `-`, `_`, `.`.
pub fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    });
    prefix_ok && valid_label_value(name) && !name.is_empty()
}

/// Label values: at most 63 of alphanumerics, `-`, `_`, `.`, alphanumeric at
/// both ends (or empty). Nothing else can be a label value.
pub fn valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && value
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_none_or(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_syntax_follows_the_api_server() {
        assert!(valid_label_key("app.kubernetes.io/name"));
        assert!(!valid_label_key("bad key"));
        assert!(valid_label_value("web-1"));
        assert!(valid_label_value(""));
        assert!(!valid_label_value("-web"));
        assert!(!valid_label_value("a b"));
    }
}
