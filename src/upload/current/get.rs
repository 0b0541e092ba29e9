//! What the networks spoken by one HTTP GET per observation (Weather Underground, WOW,
//! Windy) share: an id the network gave, one secret, `interval_seconds` and `url` in
//! the config, checked, loaded and set up the same way, and a sender that GETs the
//! endpoint. Each network's module keeps only what differs: its key names, limits,
//! fields and units, and how it reads the answer.

use super::{Current, Network};
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use crate::upload::secret::{self, Finding, Secret};
use crate::upload::{Common, DeliveryError, DestinationFields, DestinationKind, SetupError};
use std::path::Path;

/// The names of a network's secret keys: `<name>_file` and `<name>_credential`
/// (spelled out because `check-config` reports them as `&'static str`).
pub(crate) struct SecretKeys {
    pub name: &'static str,
    pub file: &'static str,
    pub credential: &'static str,
}

/// `password_file` / `password_credential` (WU, Windy).
pub(crate) const PASSWORD: SecretKeys = SecretKeys {
    name: "password",
    file: "password_file",
    credential: "password_credential",
};

/// `key_file` / `key_credential` (WOW).
pub(crate) const KEY: SecretKeys = SecretKeys {
    name: "key",
    file: "key_file",
    credential: "key_credential",
};

/// What a GET network's config says of it; its [`DestinationKind`] follows (below), so
/// the module writes no checks, secret loading or setup of its own.
pub(crate) trait GetNetwork {
    /// [`DestinationKind::MINIMAL`].
    const MINIMAL: &'static str;
    /// What sends one observation.
    type Sender: Network;
    /// The config's shared keys, lent to the shared checks and setup.
    fn keys(&self) -> GetKeys<'_>;
    /// [`DestinationKind::target`]: where it sends, for `weatherd status`.
    fn target(&self) -> String;
    /// The sender, given where to send and as whom.
    fn sender(&self, endpoint: Endpoint) -> Self::Sender;
}

impl<C: GetNetwork + DestinationFields> DestinationKind for C {
    const DEFAULT_BATCH_SIZE: u32 = super::DEFAULT_BATCH_SIZE;
    const MINIMAL: &'static str = <C as GetNetwork>::MINIMAL;
    const CURRENT_CONDITIONS: bool = true;
    type Destination = Current<C::Sender>;

    fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        self.keys().check(path, v)
    }

    fn check_secret(&self) -> Option<(&'static str, Finding)> {
        self.keys().check_secret()
    }

    fn target(&self) -> String {
        GetNetwork::target(self)
    }

    fn build(&self, _station_id: &str) -> Result<Current<C::Sender>, SetupError> {
        self.keys().build(|endpoint| self.sender(endpoint))
    }
}

/// A GET network's config as the shared code sees it (each config lends its fields).
pub(crate) struct GetKeys<'a> {
    pub name: &'a str,
    pub common: &'a Common,
    /// The id's key (`station_id`, `site_id`), its value, and an example for messages.
    pub id: (&'static str, &'a str, &'static str),
    pub secret: SecretKeys,
    pub secret_file: Option<&'a Path>,
    pub secret_credential: Option<&'a str>,
    pub interval_seconds: u32,
    /// The network's minimum interval, and why (for the message refusing less).
    pub min_interval_s: u32,
    pub interval_why: &'static str,
    pub url: &'a str,
}

impl GetKeys<'_> {
    /// `DestinationKind::check`: the id, the secret, the interval and the URL.
    pub fn check(&self, path: &KeyPath, v: &mut Validator<'_>) {
        let (id_key, id, example) = self.id;
        super::check_ident(v, path.key(id_key), id, example);
        super::check_required_secret(
            v,
            path,
            self.secret.name,
            self.secret_file,
            self.secret_credential,
        );
        super::check_interval(
            v,
            path,
            self.interval_seconds,
            self.min_interval_s,
            self.interval_why,
        );
        super::check_url(v, path, self.url);
    }

    /// `DestinationKind::check_secret`, with the loader `build` uses.
    pub fn check_secret(&self) -> Option<(&'static str, Finding)> {
        secret::check_secret(
            (self.secret_file, self.secret.file),
            (self.secret_credential, self.secret.credential),
            |p| secret::load_token(Some(p), None),
        )
    }

    /// `DestinationKind::build`: refuses a plain-http URL the http destination would
    /// refuse, reads the secret and hands the endpoint to the network's sender.
    pub fn build<N: Network>(
        &self,
        network: impl FnOnce(Endpoint) -> N,
    ) -> Result<Current<N>, SetupError> {
        if let Some(refusal) = super::plain_http_refusal(self.url) {
            return Err(refusal);
        }
        let secret =
            super::load_secret(self.secret.name, self.secret_file, self.secret_credential)?;
        Ok(Current::new(
            self.name,
            self.interval_seconds,
            self.min_interval_s,
            network(Endpoint {
                agent: super::http_agent(self.common.timeout_seconds),
                url: self.url.to_string(),
                id: self.id.1.to_string(),
                secret,
            }),
        ))
    }
}

/// Where a GET network's observations go, and as whom.
pub struct Endpoint {
    agent: ureq::Agent,
    url: String,
    /// The id the network gave the station.
    pub(super) id: String,
    pub(super) secret: Secret,
}

impl Endpoint {
    /// GETs `url?<auth…>&<data…>`, with the secret as a bearer token if `bearer`:
    /// `(status, body)`.
    pub(super) fn get(
        &self,
        auth: Vec<(&str, String)>,
        data: &[(&str, String)],
        bearer: bool,
    ) -> Result<(u16, String), DeliveryError> {
        let mut fields = auth;
        fields.extend(data.iter().cloned());
        let url = super::url_with_query(&self.url, &fields);
        super::get(&self.agent, &url, bearer.then(|| self.secret.expose()))
    }

    /// `Network::secrets`: the secret as is and percent-encoded.
    pub(super) fn secrets(&self) -> Vec<String> {
        super::secret_forms(&self.secret)
    }
}
