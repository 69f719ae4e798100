//! Where the master is: `http(s)://host:port`, `host:port`, `host`, or `zk://…/mesos`.

use crate::zk::{ZkError, ZkUrl};
use std::fmt;
use url::Url;

/// The default port of a Mesos master.
pub const DEFAULT_MASTER_PORT: u16 = 5050;

/// How to reach the leading master.
#[derive(Debug, Clone, PartialEq)]
pub enum MasterUrl {
    /// A master (or a load balancer in front of masters) at a fixed base URL; followers
    /// redirect to the leader with 307.
    Http(Url),
    /// Masters registered in ZooKeeper; the leader is read from there before every
    /// (re)subscription.
    Zk(ZkUrl),
}

/// A master URL that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterUrlError {
    /// Empty string.
    #[error("the master address is empty: give http(s)://host:port, host:port or zk://host:2181/mesos")]
    Empty,
    /// Not a URL.
    #[error(
        "master address {input:?} is not valid: {reason} (expected http(s)://host:port, host:port or zk://host:2181/mesos)"
    )]
    Invalid {
        /// What was given.
        input: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A scheme herd does not speak.
    #[error("master address {input:?} has scheme {scheme:?}: use http, https or zk")]
    Scheme {
        /// What was given.
        input: String,
        /// The scheme.
        scheme: String,
    },
    /// A bad zk:// URL.
    #[error(transparent)]
    Zk(#[from] ZkError),
}

impl MasterUrl {
    /// Parses a master address as Mesos tools accept it.
    pub fn parse(input: &str) -> Result<Self, MasterUrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(MasterUrlError::Empty);
        }
        if input.starts_with("zk://") || input.starts_with("file://") {
            return Ok(Self::Zk(ZkUrl::parse(input)?));
        }
        let with_scheme = if input.contains("://") { input.to_owned() } else { format!("http://{input}") };
        let invalid = |reason: String| MasterUrlError::Invalid { input: input.to_owned(), reason };
        let mut url = Url::parse(&with_scheme).map_err(|e| invalid(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => {
                return Err(MasterUrlError::Scheme { input: input.to_owned(), scheme: other.to_owned() });
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("no host".into()));
        }
        if url.port().is_none() && !input.contains("://") {
            url.set_port(Some(DEFAULT_MASTER_PORT)).map_err(|()| invalid("cannot set the port".into()))?;
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL; configure principal and secret".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("a master address has no query or fragment".into()));
        }
        // Keep any path prefix (a proxy may serve the master under one), without a trailing slash.
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Self::Http(url))
    }
}

impl fmt::Display for MasterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(url) => f.write_str(url.as_str().trim_end_matches('/')),
            Self::Zk(zk) => write!(f, "{zk}"),
        }
    }
}

impl std::str::FromStr for MasterUrl {
    type Err = MasterUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The scheduler endpoint under a master base URL.
pub(crate) fn scheduler_endpoint(base: &Url) -> Url {
    let mut url = base.clone();
    let path = format!("{}/api/v1/scheduler", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url
}

/// The new master base URL from a 307 `Location`, which Mesos writes protocol-relative
/// (`//host:port/api/v1/scheduler`); absolute URLs and bare `host:port` are accepted too.
pub(crate) fn leader_from_location(current: &Url, location: &str) -> Option<Url> {
    let location = location.trim();
    let absolute = if location.starts_with("//") {
        format!("{}:{location}", current.scheme())
    } else if location.contains("://") {
        location.to_owned()
    } else {
        format!("{}://{location}", current.scheme())
    };
    let mut url = Url::parse(&absolute).ok()?;
    url.host_str()?;
    // Keep only the authority: the path in Location is the endpoint that was called.
    url.set_path(current.path());
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(s: &str) -> String {
        match MasterUrl::parse(s).unwrap() {
            MasterUrl::Http(u) => u.to_string(),
            MasterUrl::Zk(_) => panic!("not http"),
        }
    }

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(http("127.0.0.1:5050"), "http://127.0.0.1:5050/");
        assert_eq!(http("master.example"), "http://master.example:5050/");
        assert_eq!(http("https://m1:443"), "https://m1/");
        assert_eq!(http("http://m1:5050/"), "http://m1:5050/");
        assert_eq!(http("http://proxy:80/mesos/"), "http://proxy/mesos");
        assert!(matches!(MasterUrl::parse("zk://z1:2181,z2:2181/mesos").unwrap(), MasterUrl::Zk(_)));
    }

    #[test]
    fn rejects_with_a_useful_message() {
        let e = MasterUrl::parse("").unwrap_err().to_string();
        assert!(e.contains("http(s)://host:port"), "{e}");
        let e = MasterUrl::parse("ftp://m:21").unwrap_err().to_string();
        assert!(e.contains("use http, https or zk"), "{e}");
        let e = MasterUrl::parse("http://u:p@m:5050").unwrap_err().to_string();
        assert!(e.contains("principal and secret"), "{e}");
        let e = MasterUrl::parse("m:notaport").unwrap_err().to_string();
        assert!(e.contains("m:notaport"), "{e}");
    }

    #[test]
    fn endpoint_and_redirects() {
        let base = Url::parse("http://127.0.0.1:5050").unwrap();
        assert_eq!(scheduler_endpoint(&base).as_str(), "http://127.0.0.1:5050/api/v1/scheduler");
        let proxied = Url::parse("http://proxy/mesos").unwrap();
        assert_eq!(scheduler_endpoint(&proxied).as_str(), "http://proxy/mesos/api/v1/scheduler");
        let next = leader_from_location(&base, "//127.0.0.2:5051/api/v1/scheduler").unwrap();
        assert_eq!(next.as_str(), "http://127.0.0.2:5051/");
        let next = leader_from_location(&base, "127.0.0.3:5050").unwrap();
        assert_eq!(next.as_str(), "http://127.0.0.3:5050/");
        let tls = Url::parse("https://m1:5050").unwrap();
        assert_eq!(leader_from_location(&tls, "//m2:5050").unwrap().as_str(), "https://m2:5050/");
        assert!(leader_from_location(&base, "").is_none());
    }
}
