//! Spin's HTTP routes: exact paths (`/users`), named segments (`/users/:id`) and a trailing
//! wildcard (`/users/...` or `/users/*`). The most specific route matching a path wins:
//! segment by segment, literal text beats a named segment, which beats the wildcard; among
//! routes alike so far, the shorter one wins (`/users` before `/users/...` for `/users`).
//!
//! A route is written as in the manifest; Spin makes it absolute and drops one trailing
//! slash before matching (`users/` is `/users`), and so do we. Paths are matched as sent,
//! without their leading and trailing slashes.

use std::cmp::Ordering;
use std::sync::Arc;

/// One piece of a route pattern. A `.` inside a literal stays part of the literal; after a
/// named segment it is a piece of its own (`/:name.:ext`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Named(String),
    Slash,
    Dot,
    Wildcard,
}

impl Piece {
    /// How specific a piece is, when two routes are compared position by position.
    fn weight(&self) -> u8 {
        match self {
            Piece::Literal(_) | Piece::Dot => 3,
            Piece::Named(_) => 2,
            Piece::Wildcard => 1,
            Piece::Slash => 0,
        }
    }
}

/// One HTTP trigger route.
#[derive(Debug, Clone)]
pub struct Route {
    /// As written in the manifest (`spin-raw-component-route`).
    pub raw: String,
    /// Absolute, one trailing slash dropped (`spin-matched-route`).
    pub matched: String,
    /// The path a client sees it at, without the wildcard (`/` for the root).
    pub base: String,
    pub wildcard: bool,
    pub component: String,
    pieces: Vec<Piece>,
}

/// What a route captured from a path: each named segment with its text, and the wildcard's text.
type Captures<'r, 'p> = (Vec<(&'r str, &'p str)>, Option<&'p str>);

impl Route {
    pub fn parse(raw: &str, component: &str) -> Result<Route, String> {
        let absolute = if raw.starts_with('/') { raw.to_string() } else { format!("/{raw}") };
        let matched = absolute.strip_suffix('/').map(str::to_string).unwrap_or(absolute);
        let (pattern, prefix, wildcard) = if let Some(p) = matched.strip_suffix("/...") {
            (format!("{p}/*"), p.to_string(), true)
        } else if let Some(p) = matched.strip_suffix("/*") {
            (matched.clone(), p.to_string(), true)
        } else {
            (matched.clone(), matched.clone(), false)
        };
        let pieces = pieces(&pattern)?;
        let base = if prefix.is_empty() { "/".to_string() } else { prefix };
        Ok(Route { raw: raw.to_string(), matched, base, wildcard, component: component.to_string(), pieces })
    }

    /// A route made for a request from another component: as if the component were mounted at
    /// `/...` (what Spin does for `http://<component>.spin.internal`).
    pub fn chained(component: &str) -> Route {
        Route::parse("/...", component).expect("a valid route")
    }

    /// `spin-component-route`: the route as written, without a trailing `/...`.
    pub fn component_route(&self) -> &str {
        self.raw.strip_suffix("/...").unwrap_or(&self.raw)
    }

    /// A wildcard anywhere but at the end never matches (Spin accepts such a route but
    /// cannot match it).
    fn is_matchable(&self) -> bool {
        !self.pieces.iter().rev().skip(1).any(|p| *p == Piece::Wildcard)
    }

    /// The captures of `path` (named segments, and the wildcard's text), if it matches.
    fn captures<'p>(&self, path: &'p str) -> Option<Captures<'_, 'p>> {
        let mut rest = path.trim_start_matches('/').trim_end_matches('/');
        let mut named = Vec::new();
        let mut wildcard = None;
        let mut pieces = self.pieces.iter().peekable();
        while let Some(piece) = pieces.next() {
            match piece {
                Piece::Literal(text) => rest = rest.strip_prefix(text.as_str())?,
                Piece::Named(name) => {
                    if rest.is_empty() {
                        return None;
                    }
                    let end = match pieces.peek() {
                        Some(Piece::Dot) => {
                            let i = rest.find(['.', '/'])?;
                            if !rest[i..].starts_with('.') {
                                return None;
                            }
                            i
                        }
                        _ => rest.find('/').unwrap_or(rest.len()),
                    };
                    named.push((name.as_str(), &rest[..end]));
                    rest = &rest[end..];
                }
                Piece::Wildcard => {
                    wildcard = Some(rest);
                    rest = "";
                }
                Piece::Slash => match (rest.strip_prefix('/'), pieces.peek()) {
                    (Some(after), Some(_)) => rest = after,
                    (None, None) if rest.is_empty() => {}
                    (None, Some(Piece::Wildcard)) if rest.is_empty() => {}
                    _ => return None,
                },
                Piece::Dot => rest = rest.strip_prefix('.')?,
            }
        }
        (rest.is_empty() || rest == "/").then_some((named, wildcard))
    }

    /// Which of two routes is tried first: the more specific one.
    fn specificity(&self, other: &Route) -> Ordering {
        let dots = |r: &Route| r.pieces.iter().filter(|p| **p == Piece::Dot).count();
        for (a, b) in self.pieces.iter().zip(&other.pieces) {
            let same_kind =
                matches!((a, b), (Piece::Slash | Piece::Dot, Piece::Slash | Piece::Dot)) || a.weight() == b.weight();
            if !same_kind {
                return b.weight().cmp(&a.weight());
            }
        }
        dots(other).cmp(&dots(self)).then(self.pieces.len().cmp(&other.pieces.len()))
    }
}

/// Split a pattern (`/a/:b/*`) into pieces, refusing what Spin refuses.
fn pieces(pattern: &str) -> Result<Vec<Piece>, String> {
    let trimmed = pattern.trim_start_matches('/').trim_end_matches('/');
    let mut out: Vec<Piece> = Vec::new();
    let mut before: Option<char> = None;
    let mut start = 0;
    let bounds = trimmed.match_indices(['.', '/']).map(|(i, _)| i).chain(std::iter::once(trimmed.len()));
    for end in bounds {
        let section = &trimmed[start..end];
        let piece = match section {
            "" => None,
            "*" => Some(Piece::Wildcard),
            s if s.starts_with('*') => {
                return Err(format!(
                    "since there can only be one wildcard, it doesn't need a name. replace `{s}` with `*`"
                ))
            }
            ":" => return Err("params must be named".into()),
            s if s.starts_with(':') => Some(Piece::Named(s[1..].to_string())),
            s => Some(Piece::Literal(s.to_string())),
        };
        if before == Some('.') {
            match out.last_mut() {
                Some(Piece::Literal(text)) => text.push('.'),
                _ => out.push(Piece::Dot),
            }
        }
        if let Some(piece) = piece {
            if before == Some('/') {
                out.push(Piece::Slash);
            }
            out.push(piece);
        }
        before = trimmed[end..].chars().next();
        start = end + 1;
    }
    Ok(out)
}

/// The match of a request path.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub route: Arc<Route>,
    /// `spin-path-info`: the path below the route's wildcard (empty for an exact route).
    pub path_info: String,
    /// The named segments (`spin-path-match-<name>`), in the route's order.
    pub named: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Router {
    /// Most specific first.
    routes: Vec<Arc<Route>>,
}

impl Router {
    /// The router of `routes`, and a note for each route written twice (the one written last
    /// serves it, as in Spin) or that can never match.
    pub fn new(routes: Vec<Route>) -> (Router, Vec<String>) {
        let mut notes = Vec::new();
        let mut kept: Vec<Route> = Vec::new();
        for route in routes {
            if !route.is_matchable() {
                notes.push(format!(
                    "route {} of `{}` has a wildcard before its end and never matches",
                    route.raw, route.component
                ));
            }
            match kept.iter_mut().find(|r| r.raw == route.raw) {
                Some(earlier) => {
                    notes.push(format!(
                        "route {} of `{}` is a duplicate and will never be used (`{}` serves it)",
                        earlier.raw, earlier.component, route.component
                    ));
                    *earlier = route;
                }
                None => kept.push(route),
            }
        }
        for route in &kept {
            if route.matched.starts_with("/.well-known/spin/") || route.matched.starts_with("/.well-known/edge/") {
                notes.push(format!(
                    "route {} is under a prefix the host serves itself and will never be reached",
                    route.raw
                ));
            }
        }
        kept.sort_by(|a, b| a.specificity(b));
        (Router { routes: kept.into_iter().map(Arc::new).collect() }, notes)
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        self.routes.iter().filter(|r| r.is_matchable()).find_map(|route| {
            let (named, wildcard) = route.captures(path)?;
            let path_info = match wildcard {
                None => String::new(),
                // Spin keeps a trailing slash of the path in the path info.
                Some(w) => match (w.is_empty(), path.ends_with('/')) {
                    (true, false) => String::new(),
                    (true, true) => "/".into(),
                    (false, false) => format!("/{w}"),
                    (false, true) => format!("/{w}/"),
                },
            };
            let named = named.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Some(RouteMatch { route: route.clone(), path_info, named })
        })
    }

    /// A request addressed to `component` directly (`http://<component>.spin.internal/...`):
    /// matched as if the component were mounted at `/...`, so the path info is the whole path.
    pub fn chained(component: &str, path: &str) -> RouteMatch {
        RouteMatch { route: Arc::new(Route::chained(component)), path_info: path.to_string(), named: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::new(routes.iter().map(|(r, c)| Route::parse(r, c).unwrap()).collect()).0
    }

    fn serves(r: &Router, path: &str) -> Option<(String, String)> {
        r.route(path).map(|m| (m.route.component.clone(), m.path_info))
    }

    fn pair(c: &str, info: &str) -> Option<(String, String)> {
        Some((c.to_string(), info.to_string()))
    }

    #[test]
    fn wildcard_matches_its_base_and_below() {
        let r = router(&[("/functions/v1/a/...", "a")]);
        assert_eq!(serves(&r, "/functions/v1/a"), pair("a", ""));
        assert_eq!(serves(&r, "/functions/v1/a/"), pair("a", "/"));
        assert_eq!(serves(&r, "/functions/v1/a/health"), pair("a", "/health"));
        assert_eq!(serves(&r, "/functions/v1/a/x/y/"), pair("a", "/x/y/"));
        assert_eq!(serves(&r, "/functions/v1/ab"), None, "a prefix that is not a segment");
    }

    #[test]
    fn the_root_wildcard_takes_everything() {
        let r = router(&[("/...", "all")]);
        assert_eq!(serves(&r, "/"), pair("all", "/"));
        assert_eq!(serves(&r, "/1/2/3"), pair("all", "/1/2/3"));
        let m = r.route("/x").unwrap();
        assert_eq!((m.route.matched.as_str(), m.route.component_route(), m.route.base.as_str()), ("/...", "", "/"));
    }

    #[test]
    fn most_specific_route_wins_whatever_the_order() {
        let routes = [
            ("/one/...", "one"),
            ("/one/two/...", "two"),
            ("/one/two/three/...", "three"),
            ("/one", "exact"),
            ("/one/:x", "named"),
        ];
        for order in [routes.to_vec(), routes.iter().rev().cloned().collect()] {
            let r = router(&order);
            assert_eq!(serves(&r, "/one/two/three/four"), pair("three", "/four"));
            assert_eq!(serves(&r, "/one/two/x"), pair("two", "/x"));
            assert_eq!(serves(&r, "/one"), pair("exact", ""));
            assert_eq!(serves(&r, "/one/seven"), pair("named", ""));
            assert_eq!(serves(&r, "/one/seven/eight"), pair("one", "/seven/eight"));
        }
    }

    #[test]
    fn named_segments_are_captured() {
        let r = router(&[("/base/:path_segment/:path_end/...", "shape")]);
        let m = r.route("/base/path/end/rest").unwrap();
        assert_eq!(m.path_info, "/rest");
        assert_eq!(m.named, [("path_segment".to_string(), "path".to_string()), ("path_end".into(), "end".into())]);
        assert_eq!(m.route.matched, "/base/:path_segment/:path_end/...");
        assert_eq!(m.route.component_route(), "/base/:path_segment/:path_end");
        assert!(r.route("/base/path").is_none(), "a named segment needs text");
        let files = router(&[("/f/:name.:ext", "f")]);
        let m = files.route("/f/report.pdf").unwrap();
        assert_eq!(m.named, [("name".to_string(), "report".to_string()), ("ext".into(), "pdf".into())]);
        assert!(files.route("/f/report").is_none());
    }

    #[test]
    fn exact_routes_match_only_themselves() {
        let r = router(&[("/exact", "e"), ("/", "root"), ("/file.txt", "file")]);
        assert_eq!(serves(&r, "/exact"), pair("e", ""));
        assert_eq!(serves(&r, "/exact/"), pair("e", ""));
        assert_eq!(serves(&r, "/exact/more"), None);
        assert_eq!(serves(&r, "/"), pair("root", ""));
        assert_eq!(serves(&r, "/file.txt"), pair("file", ""));
        assert_eq!(serves(&r, "/filextxt"), None);
    }

    #[test]
    fn routes_are_written_as_spin_reads_them() {
        let r = Route::parse("a/...", "x").unwrap();
        assert_eq!((r.matched.as_str(), r.raw.as_str(), r.component_route()), ("/a/...", "a/...", "a"));
        assert_eq!(Route::parse("/a/", "x").unwrap().matched, "/a");
        assert_eq!(Route::parse("", "x").unwrap().matched, "");
        let star = Route::parse("/a/*", "x").unwrap();
        assert!(star.wildcard);
        assert_eq!(star.component_route(), "/a/*");
        assert_eq!(Route::parse("/a/:/b", "x").unwrap_err(), "params must be named");
        assert!(Route::parse("/a/*x", "x").unwrap_err().contains("replace `*x` with `*`"));
    }

    #[test]
    fn a_route_written_twice_is_served_by_the_last() {
        let (r, notes) = Router::new(vec![Route::parse("/x", "a").unwrap(), Route::parse("/x", "b").unwrap()]);
        assert_eq!(serves(&r, "/x"), pair("b", ""));
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (r, notes) = Router::new(vec![Route::parse("/*/b", "a").unwrap()]);
        assert!(r.route("/x/b").is_none());
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn chained_requests_see_the_whole_path() {
        let m = Router::chained("pdf", "/functions/v1/pdf/health");
        assert_eq!(m.path_info, "/functions/v1/pdf/health");
        assert_eq!((m.route.matched.as_str(), m.route.raw.as_str(), m.route.component_route()), ("/...", "/...", ""));
    }
}
