//! Glob patterns over object keys: the literal prefix to list, and matching listed keys
//! with the same rules as local globs (`*` and `?` stay inside one `/`-separated part,
//! `**` spans parts, `[abc]` classes).

use crate::{Error, Result};

/// Whether `s` holds glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The part of a key pattern before its first glob character: what to list.
pub fn literal_prefix(pattern: &str) -> &str {
    match pattern.find(['*', '?', '[']) {
        Some(i) => &pattern[..i],
        None => pattern,
    }
}

/// A compiled key pattern.
#[derive(Debug, Clone)]
pub struct KeyGlob {
    pattern: glob::Pattern,
}

impl KeyGlob {
    /// Compiles `pattern`; `url` names it in the error.
    pub fn new(pattern: &str, url: &str) -> Result<KeyGlob> {
        let pattern = glob::Pattern::new(pattern).map_err(|e| Error::Pattern {
            pattern: url.to_string(),
            message: e.to_string(),
        })?;
        Ok(KeyGlob { pattern })
    }

    /// Whether `key` matches.
    pub fn matches(&self, key: &str) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        self.pattern.matches_with(key, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stop_at_the_first_glob_character() {
        assert_eq!(literal_prefix("logs/2024-*/x.txt"), "logs/2024-");
        assert_eq!(literal_prefix("a/b?.csv"), "a/b");
        assert_eq!(literal_prefix("a/[xy].csv"), "a/");
        assert_eq!(literal_prefix("*.csv"), "");
        assert_eq!(literal_prefix("plain/key"), "plain/key");
        assert!(has_glob("a/*") && has_glob("a?") && has_glob("[a]") && !has_glob("a/b"));
    }

    #[test]
    fn star_stays_inside_one_part_and_double_star_spans_parts() {
        let g = KeyGlob::new("data/*.csv", "s3://b/data/*.csv").unwrap();
        assert!(g.matches("data/a.csv"));
        assert!(g.matches("data/.csv"));
        assert!(!g.matches("data/sub/a.csv"));
        assert!(!g.matches("data/a.csv.gz"));
        assert!(!g.matches("other/a.csv"));
        let g = KeyGlob::new("data/**/*.csv", "u").unwrap();
        assert!(g.matches("data/sub/deeper/a.csv"));
        assert!(g.matches("data/a.csv"));
        let g = KeyGlob::new("p/part-?[0-3].txt", "u").unwrap();
        assert!(g.matches("p/part-a2.txt"));
        assert!(!g.matches("p/part-a7.txt"));
        assert!(!g.matches("p/part-/2.txt"));
        let e = KeyGlob::new("a/[", "s3://b/a/[").unwrap_err().to_string();
        assert!(e.contains("s3://b/a/["), "{e}");
    }
}
