//! `${VAR}` and `${VAR:-default}` substitution in config text, done before YAML parsing.
//!
//! Line numbers survive the substitution as long as values hold no newline, so errors
//! found later still point at the right line of the file the user wrote.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InterpolateError {
    #[error(
        "environment variable `{name}` is not set (write ${{{name}:-default}} to give a default)"
    )]
    Unset { line: usize, name: String },
    #[error("`${{` is not closed with `}}`")]
    Unclosed { line: usize },
    #[error("`${{{text}}}` is not a variable name")]
    BadName { line: usize, text: String },
}

impl InterpolateError {
    /// The 1-based line of the offending `${`.
    pub fn line(&self) -> usize {
        match self {
            InterpolateError::Unset { line, .. }
            | InterpolateError::Unclosed { line }
            | InterpolateError::BadName { line, .. } => *line,
        }
    }
}

/// Replaces every `${NAME}` and `${NAME:-default}` in `text` using `lookup`.
/// `$${` escapes a literal `${`.
pub fn interpolate(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let line_of = |rest: &str| text[..text.len() - rest.len()].matches('\n').count() + 1;
    while let Some(start) = rest.find("${") {
        if rest[..start].ends_with('$') {
            out.push_str(&rest[..start - 1]);
            out.push_str("${");
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(InterpolateError::Unclosed {
            line: line_of(&rest[start..]),
        })?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        let valid = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(InterpolateError::BadName {
                line: line_of(&rest[start..]),
                text: inner.to_string(),
            });
        }
        match (
            lookup(name).filter(|v| !v.is_empty() || default.is_none()),
            default,
        ) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(InterpolateError::Unset {
                    line: line_of(&rest[start..]),
                    name: name.to_string(),
                });
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_defaults() {
        assert_eq!(interpolate("a: ${KEY}", env).unwrap(), "a: sk-123");
        assert_eq!(interpolate("a: ${NOPE:-x}", env).unwrap(), "a: x");
        assert_eq!(interpolate("a: ${EMPTY:-x}", env).unwrap(), "a: x");
        assert_eq!(interpolate("a: ${EMPTY}", env).unwrap(), "a: ");
        assert_eq!(interpolate("a: $${KEY}", env).unwrap(), "a: ${KEY}");
        assert_eq!(interpolate("no vars", env).unwrap(), "no vars");
    }

    #[test]
    fn reports_line_of_unset_variable() {
        let err = interpolate("a: 1\nb: ${MISSING}\n", env).unwrap_err();
        assert_eq!(
            err,
            InterpolateError::Unset {
                line: 2,
                name: "MISSING".into()
            }
        );
        assert!(matches!(
            interpolate("x\n${BAD NAME}", env),
            Err(InterpolateError::BadName { line: 2, .. })
        ));
        assert!(matches!(
            interpolate("${OPEN", env),
            Err(InterpolateError::Unclosed { line: 1 })
        ));
    }
}
