//! The `type = "http"` table: its keys, defaults and checks, and how it becomes an
//! [`HttpDestination`].

use super::{plain_http_refusal, proxy_env, root_certs_with, without_userinfo, HttpDestination};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::secret::{self, Finding};
use crate::upload::{Common, DestinationKind, SetupError};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Records per POST by default: one gzip body of a few hundred kB at most.
pub const DEFAULT_BATCH_SIZE: u32 = 500;

/// POST batches of records as gzip-compressed JSON to an HTTPS URL.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Unique among destinations; names the cursor, the logs and `weatherd status`.
    pub name: String,
    pub url: String,
    /// A file holding the bearer token (mode 0600 or 0400; refused if group- or
    /// world-readable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The name of a systemd credential (`LoadCredential=NAME:...`) holding the token,
    /// read from `$CREDENTIALS_DIRECTORY/NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_credential: Option<String>,
    /// Extra CA certificates (PEM) to trust besides the built-in roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// `http://host:port` proxy; default: the `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`
    /// environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Allow a plain `http://` URL to a host other than this machine (the token and
    /// the data then cross the network unencrypted). Loopback needs no opt-in.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plain_http: bool,
    /// The shared keys (`batch_size`, `timeout_seconds`, ...): read once for every
    /// destination by the upload registry, never by this struct (so that unknown
    /// keys stay errors); written after the own keys.
    #[serde(flatten, skip_deserializing, default = "default_common")]
    pub common: Common,
}

fn default_common() -> Common {
    Common::defaults(DEFAULT_BATCH_SIZE)
}

impl DestinationKind for HttpConfig {
    const DEFAULT_BATCH_SIZE: u32 = DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str = "url = \"https://weather.example.org/api/upload\"\n";
    type Destination = HttpDestination;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        match parse_url(&self.url) {
            Err(why) => v.push(
                path.key("url"),
                format!(
                    "{why}, e.g. \"https://weather.example.org/api/upload\"; found \"{}\"",
                    self.url
                ),
            ),
            // The same rule `run` applies when it sets the destination up; it reads the
            // proxy variables of this process's environment.
            Ok(_) => {
                if let Some(why) = plain_http_refusal(self, &proxy_env()) {
                    v.push(path.key("url"), why.to_string());
                }
            }
        }
        secret::check_one_secret(
            v,
            path,
            "token_file",
            "token_credential",
            self.token_file.is_some() && self.token_credential.is_some(),
        );
        if let Some(f) = &self.token_file {
            v.not_empty(
                path.key("token_file"),
                &f.to_string_lossy(),
                "it is the file holding the token",
            );
        }
        if let Some(name) = &self.token_credential {
            secret::check_credential_name(v, path.key("token_credential"), name);
        }
        if let Some(f) = &self.ca_file {
            v.not_empty(
                path.key("ca_file"),
                &f.to_string_lossy(),
                "it is a PEM file of CA certificates",
            );
        }
        if let Some(proxy) = &self.proxy {
            if parse_url(proxy).is_err() {
                v.push(
                    path.key("proxy"),
                    format!("must be an http:// or https:// proxy address with a host, e.g. \"http://proxy.school.lan:3128\", found \"{}\"", without_userinfo(proxy)),
                );
            }
        }
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        secret::check_secret(
            (self.token_file.as_deref(), "token_file"),
            (self.token_credential.as_deref(), "token_credential"),
            |p| secret::load_token(Some(p), None),
        )
    }

    fn check_ca_file(&self) -> Option<SetupError> {
        self.ca_file
            .as_deref()
            .and_then(|f| root_certs_with(f).err())
    }

    fn target(&self) -> String {
        format!("http → {}", self.url)
    }

    fn build(&self, station_id: &str) -> Result<HttpDestination, SetupError> {
        HttpDestination::new(self, station_id)
    }
}

/// Checks an http(s) URL's shape: scheme, a host, no credentials in it.
fn parse_url(url: &str) -> Result<(), &'static str> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        rest
    } else {
        return Err("must start with https:// (or http://)");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not contain a user name or password (put the token in token_file)");
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err("has an unclosed `[` in the host"),
        },
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("must name a host");
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err("has a port that is not a number from 1 to 65535");
    }
    // Whether plain http is allowed is `plain_http_refusal`'s call.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn url_shapes() {
        assert!(parse_url("https://example.org/x").is_ok());
        assert!(parse_url("http://[::1]:8080/x").is_ok());
        assert!(parse_url("ftp://example.org").is_err());
        assert!(parse_url("https:///x").is_err());
        assert!(parse_url("https://user:pw@example.org/").is_err());
        assert!(parse_url("https://example.org:99999/").is_err());
        assert!(parse_url("https://exa mple.org/").is_err());
    }
}
