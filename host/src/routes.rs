//! Spin's HTTP route matching: exact routes, `/...` wildcards, most specific wins.

/// One HTTP trigger route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The route as written in the manifest, e.g. `/functions/v1/quote-processor/...`.
    pub raw: String,
    /// The route without the wildcard suffix, e.g. `/functions/v1/quote-processor`.
    pub base: String,
    pub wildcard: bool,
    pub component: String,
}

impl Route {
    pub fn parse(raw: &str, component: &str) -> Route {
        let raw = raw.to_string();
        let (base, wildcard) = match raw.strip_suffix("/...") {
            Some(b) => (b.to_string(), true),
            None if raw == "..." => (String::new(), true),
            None => (raw.trim_end_matches('/').to_string(), false),
        };
        Route { raw, base, wildcard, component: component.to_string() }
    }

    fn matches(&self, path: &str) -> bool {
        let path = if path.len() > 1 { path.trim_end_matches('/') } else { path };
        if self.wildcard {
            path == self.base
                || self.base.is_empty()
                || (path.starts_with(&self.base) && path.as_bytes().get(self.base.len()) == Some(&b'/'))
        } else {
            path == self.base || (self.base.is_empty() && path == "/")
        }
    }
}

/// The match of a request path: the route and the part of the path below it.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    /// `spin-path-info`: the path below the route's base (empty for an exact match).
    pub path_info: String,
}

#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(mut routes: Vec<Route>) -> Router {
        // Most specific first: exact before wildcard, then longer bases first.
        routes.sort_by(|a, b| {
            a.wildcard.cmp(&b.wildcard).then_with(|| b.base.len().cmp(&a.base.len()))
        });
        Router { routes }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route of `component` for a request addressed to it directly (service chaining):
    /// the path below its base when the path is under it, the whole path otherwise.
    pub fn route_to(&self, component: &str, path: &str) -> Option<RouteMatch<'_>> {
        let route = self.routes.iter().find(|r| r.component == component)?;
        let path_info = match path.strip_prefix(route.base.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_string(),
            _ => path.to_string(),
        };
        Some(RouteMatch { route, path_info })
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let route = self.routes.iter().find(|r| r.matches(path))?;
        let path_info = if route.wildcard { path[route.base.len().min(path.len())..].to_string() } else { String::new() };
        Some(RouteMatch { route, path_info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(vec![
            Route::parse("/functions/v1/a/...", "a"),
            Route::parse("/functions/v1/a/special", "special"),
            Route::parse("/functions/v1/ab/...", "ab"),
            Route::parse("/functions/v1/a/deeper/...", "deeper"),
        ])
    }

    #[test]
    fn wildcard_matches_its_base_and_below() {
        let r = router();
        let m = r.route("/functions/v1/a").unwrap();
        assert_eq!((m.route.component.as_str(), m.path_info.as_str()), ("a", ""));
        let m = r.route("/functions/v1/a/health").unwrap();
        assert_eq!((m.route.component.as_str(), m.path_info.as_str()), ("a", "/health"));
    }

    #[test]
    fn a_prefix_that_is_not_a_segment_does_not_match() {
        let r = router();
        assert_eq!(r.route("/functions/v1/ab").unwrap().route.component, "ab");
        assert!(r.route("/functions/v1/abc").is_none());
    }

    #[test]
    fn most_specific_route_wins() {
        let r = router();
        assert_eq!(r.route("/functions/v1/a/special").unwrap().route.component, "special");
        assert_eq!(r.route("/functions/v1/a/special/x").unwrap().route.component, "a");
        let m = r.route("/functions/v1/a/deeper/x").unwrap();
        assert_eq!((m.route.component.as_str(), m.path_info.as_str()), ("deeper", "/x"));
    }

    #[test]
    fn unknown_paths_do_not_match() {
        assert!(router().route("/").is_none());
        assert!(router().route("/functions/v2/a").is_none());
    }
}
