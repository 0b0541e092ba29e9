//! Why a destination cannot be set up: one variant per failure, each saying what is
//! wrong, where (the file, the key, the upload) and what the operator does about it,
//! because this text is all they get: one log line and `weatherd status`, or
//! `check-config`'s report. No variant carries a secret, only where it is.

use std::path::PathBuf;

/// A destination that cannot be set up (a secret file others may read, a missing
/// systemd credential, a bad CA file, an unusable proxy, ...). It disables only that
/// destination; the records wait in the outbox until the config is fixed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SetupError {
    /// A secret file (token, passcode, credentials) that cannot be opened or read.
    #[error(
        "cannot read the secret file {}: {reason}; check the path in the config and that \
         weatherd's user may read the file",
        path.display()
    )]
    SecretUnreadable { path: PathBuf, reason: String },
    /// A secret "file" that is a directory, a pipe, a socket or a device.
    #[error(
        "{} is not a regular file (it is {kind}); it must be the file holding the secret: \
         point the key at that file",
        path.display()
    )]
    SecretNotAFile { path: PathBuf, kind: &'static str },
    /// A secret file that group or others may read or write.
    #[error(
        "{} can be read or changed by other users (mode {mode:04o}); a secret file must be \
         private: run `chmod 600 {}` (and make the weatherd user its owner)",
        path.display(),
        path.display()
    )]
    SecretNotPrivate { path: PathBuf, mode: u32 },
    /// A secret file far larger than any secret: the wrong file.
    #[error(
        "{} is {bytes} bytes, more than the {limit}-byte limit for a secret file (it holds a \
         token, or a user name and a password): is it the right file? Point the key at the \
         file holding only the secret",
        path.display()
    )]
    SecretTooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    /// A `*_credential` key outside systemd (no `$CREDENTIALS_DIRECTORY`).
    #[error(
        "the credential `{name}` cannot be read: $CREDENTIALS_DIRECTORY is not set (is weatherd \
         running under systemd with `LoadCredential={name}:/path/to/file`?)"
    )]
    CredentialsDirectoryUnset { name: String },
    /// A systemd credential that systemd did not hand over.
    #[error(
        "cannot read the credential {}: {reason}; check the `LoadCredential=` line in \
         weatherd's systemd unit and the file it names",
        path.display()
    )]
    CredentialUnreadable { path: PathBuf, reason: String },
    /// A token file or credential whose first line is empty. `origin` is the file or
    /// `credential `NAME``, never the secret.
    #[error("{origin}: the token is empty; put the token on the first line")]
    TokenEmpty { origin: String },
    /// A token with characters an HTTP header cannot carry.
    #[error(
        "{origin}: the token has characters that cannot go in an HTTP header (spaces or \
         control characters); the first line must be the token alone"
    )]
    TokenNotPrintable { origin: String },
    /// A current-conditions network's required secret is configured nowhere.
    #[error("no {key}: give `{key}_file` or `{key}_credential`")]
    MissingSecret { key: &'static str },
    /// A CWOP passcode that is not APRS-IS's 15-bit number.
    #[error(
        "{origin}: the APRS-IS passcode must be a number from 0 to 32767 (the one computed for \
         your callsign)"
    )]
    BadPasscode { origin: String },
    /// A credentials file (MQTT, InfluxDB v1) that is not `username\npassword\n`.
    #[error(
        "credentials file {} must hold exactly two lines: the username, then the password",
        path.display()
    )]
    CredentialsFileShape { path: PathBuf },
    /// Both the file and the systemd credential of one secret are set.
    #[error("upload `{upload}`: set {file_key} or {credential_key}, not both; remove one")]
    SecretTwice {
        upload: String,
        file_key: &'static str,
        credential_key: &'static str,
    },
    /// A `*_credential` value that cannot be a systemd credential name.
    #[error(
        "upload `{upload}`: {key} `{name}` is not a credential name; use the NAME of \
         `LoadCredential=NAME:/path` (without `/`)"
    )]
    BadCredentialName {
        upload: String,
        key: &'static str,
        name: String,
    },
    /// A plain `http://` URL to another machine.
    #[error(
        "plain http:// to another machine sends the token and the data unencrypted: use \
         https://, or set `allow_plain_http = true` if this network is trusted; found \"{url}\""
    )]
    PlainHttp { url: String },
    /// A plain `http://` URL to this machine that a proxy would carry over the network.
    /// `proxy` says which proxy and where it is set, without its user or password.
    #[error(
        "plain http:// to this machine goes through {proxy}, so the token and the data cross \
         the network unencrypted: use https://, unset the proxy, or set \
         `allow_plain_http = true` if that network is trusted; found \"{url}\""
    )]
    PlainHttpViaProxy { url: String, proxy: String },
    /// A `proxy` that ureq cannot use; `proxy` is shown without its user or password.
    #[error(
        "proxy `{proxy}` is not usable: {reason}; set `proxy` to an http:// or https:// \
         address with a host, e.g. \"http://proxy.school.lan:3128\""
    )]
    ProxyUnusable { proxy: String, reason: String },
    /// A `ca_file` that cannot be read (missing, a directory, a FIFO, a device, too big).
    #[error(
        "cannot read ca_file {}: {reason}; ca_file must be a readable PEM file with at least \
         one certificate",
        path.display()
    )]
    CaFileUnreadable { path: PathBuf, reason: String },
    /// A `ca_file` whose contents do not parse as PEM.
    #[error(
        "ca_file {}: not a PEM certificate file: {reason}; ca_file must be a PEM file with at \
         least one certificate (`-----BEGIN CERTIFICATE-----`)",
        path.display()
    )]
    CaFileNotPem { path: PathBuf, reason: String },
    /// A `ca_file` that is PEM but holds no certificate (a key, say).
    #[error(
        "ca_file {}: no certificate found; ca_file must be a PEM file with at least one \
         certificate (`-----BEGIN CERTIFICATE-----`)",
        path.display()
    )]
    CaFileEmpty { path: PathBuf },
    /// A certificate in `ca_file` that the TLS library refuses as a trust anchor.
    #[error(
        "ca_file {}: a certificate in it cannot be used as a CA: {reason}; ca_file must hold \
         the CA certificates (PEM) that signed the server's certificate",
        path.display()
    )]
    CaCertificateRejected { path: PathBuf, reason: String },
    /// TLS on, but nothing to verify the broker with.
    #[error(
        "no CA certificate to verify the MQTT broker with: install the system's \
         ca-certificates or set ca_file"
    )]
    NoCaCertificates,
    /// A TLS `host` that is neither a DNS name nor an IP address.
    #[error(
        "MQTT host `{host}` is neither a DNS name nor an IP address, so TLS cannot verify it; \
         set `host` to the name in the broker's certificate"
    )]
    HostNotVerifiable { host: String },
    /// rustls refused weatherd's own TLS settings: a bug, not a config problem.
    #[error(
        "TLS setup: {reason}; weatherd's TLS library refused weatherd's own settings, which is \
         a bug: please report it"
    )]
    TlsSetup { reason: String },
    /// The MQTT `host` is empty.
    #[error("upload `{upload}`: MQTT host is empty; set `host` to the broker's name or address")]
    MqttHostEmpty { upload: String },
    /// `timeout_seconds = 0`, which would give up on every connection at once.
    #[error(
        "upload `{upload}`: timeout_seconds must be at least 1; set `timeout_seconds` to 1 or more"
    )]
    TimeoutZero { upload: String },
    /// A keep-alive MQTT cannot express (a 16-bit field).
    #[error(
        "upload `{upload}`: keep_alive_seconds must be at most {max}; set a smaller \
         `keep_alive_seconds`"
    )]
    KeepAliveTooLong { upload: String, max: u32 },
    /// `ca_file` without `tls = true`, which would silently go unused.
    #[error(
        "upload `{upload}`: ca_file is set but tls is false; set `tls = true` or remove ca_file"
    )]
    CaFileWithoutTls { upload: String },
    /// An MQTT topic template with subscription wildcards.
    #[error(
        "MQTT {key} `{template}` may not contain `+`, `#` or NUL (those are for subscribing); \
         remove them from `{key}`"
    )]
    TopicWildcard { key: &'static str, template: String },
    /// The archive topic came out empty.
    #[error(
        "upload `{upload}`: MQTT topic is empty; set `topic`, e.g. \"weather/{{station}}/archive\" \
         (the default)"
    )]
    MqttTopicEmpty { upload: String },
    /// The MQTT client id came out empty.
    #[error(
        "upload `{upload}`: client_id is empty, and a persistent session needs a stable one; set \
         `client_id`, or remove it to use weatherd-{{station}}"
    )]
    ClientIdEmpty { upload: String },
}

/// What a file that is not a regular file is, for [`SetupError::SecretNotAFile`].
pub(crate) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        "a directory"
    } else {
        "a pipe, socket or device"
    }
}
