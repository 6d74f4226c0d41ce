use std::sync::Arc;

use axum::http::Method;

use crate::domain::Invalid;

/// One route pattern a caller is granted: `*`, `GET /todos*`, `/todos/*` (any method) or
/// `* /todos` — a method (or `*`) and a path where `*` matches any run of characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<Method>,
    path: String,
}

impl RoutePattern {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        let (method, path) = match raw.split_once(' ') {
            Some((method, path)) => (method, path.trim()),
            None if raw.starts_with('/') || raw == "*" => ("*", raw),
            None => {
                return Err(Invalid(format!(
                    "route pattern {raw:?} has no path; write a method (or *) and a path, \
                     e.g. 'GET /todos*'"
                )));
            }
        };
        let method = match method {
            "*" => None,
            m => Some(
                METHODS
                    .iter()
                    .find(|known| known.as_str() == m)
                    .cloned()
                    .ok_or_else(|| bad_method(raw, m))?,
            ),
        };
        if !(path.starts_with('/') || path == "*") || path.contains(' ') {
            return Err(Invalid(format!(
                "route pattern {raw:?} needs a path starting with / (or *), e.g. 'GET /todos*'"
            )));
        }
        Ok(Self {
            method,
            path: path.to_owned(),
        })
    }

    pub fn matches(&self, method: &Method, path: &str) -> bool {
        let method_ok = match &self.method {
            None => true,
            Some(m) => m == method || (*m == Method::GET && *method == Method::HEAD),
        };
        method_ok && glob(self.path.as_bytes(), path.as_bytes())
    }
}

/// The methods a route of the API answers: a pattern naming another could grant nothing.
const METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn bad_method(raw: &str, m: &str) -> Invalid {
    Invalid(format!(
        "route pattern {raw:?}: {m:?} is not a method of the API; write one of GET, HEAD, POST, \
         PUT, PATCH, DELETE or *, then the path, e.g. 'GET /todos*'"
    ))
}

impl std::fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.method {
            Some(m) => write!(f, "{m} {}", self.path),
            None if self.path == "*" => f.write_str("*"),
            None => write!(f, "* {}", self.path),
        }
    }
}

/// `*` matches any (possibly empty) run of bytes; everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Every session's own token grants `*`: answered without walking the path.
    if pattern == b"*" {
        return true;
    }
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, from)) = backtrack {
            p = star + 1;
            t = from + 1;
            backtrack = Some((star, from + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// The routes a caller may call. Shared, not copied: a token's grants go into every decision
/// made on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteGrants(Arc<[RoutePattern]>);

impl RouteGrants {
    pub fn all() -> Self {
        Self(Arc::new([RoutePattern {
            method: None,
            path: "*".into(),
        }]))
    }

    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<Self, Invalid> {
        patterns
            .iter()
            .map(|p| RoutePattern::parse(p.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn allows(&self, method: &Method, path: &str) -> bool {
        self.0.iter().any(|p| p.matches(method, path))
    }

    pub fn patterns(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, method: Method, path: &str) -> bool {
        RoutePattern::parse(pattern).unwrap().matches(&method, path)
    }

    #[test]
    fn a_star_grants_everything() {
        assert!(allows("*", Method::DELETE, "/todos/1"));
    }

    #[test]
    fn method_and_path_glob_must_both_match() {
        assert!(allows("GET /todos*", Method::GET, "/todos"));
        assert!(allows("GET /todos*", Method::GET, "/todos/abc"));
        assert!(allows("GET /todos*", Method::HEAD, "/todos/abc"));
        assert!(!allows("GET /todos*", Method::POST, "/todos"));
        assert!(!allows("GET /todos*", Method::GET, "/users/x"));
        assert!(allows("/todos/*/x", Method::PUT, "/todos/abc/x"));
        assert!(!allows("/todos/*/x", Method::PUT, "/todos/abc/y"));
        assert!(allows("* /a*b*c", Method::GET, "/aXbYbZc"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "",
            "todos",
            "get /todos",
            "GET todos",
            "GET /a b",
            "FETCH /x",
            "CONNECT /todos",
        ] {
            assert!(RoutePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patterns_print_as_they_parse() {
        for p in ["*", "GET /todos*", "* /todos"] {
            assert_eq!(RoutePattern::parse(p).unwrap().to_string(), p);
        }
    }
}
