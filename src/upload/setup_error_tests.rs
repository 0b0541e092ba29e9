//! Every `SetupError` variant's text says what is wrong, where, and the operator's
//! fix; none carries a secret.

use super::SetupError;
use std::path::PathBuf;

/// The words of the fix each variant's text must carry. No `_` arm: a new variant
/// does not compile until it is given a fix here.
fn fix_of(e: &SetupError) -> &'static str {
    match e {
        SetupError::SecretUnreadable { .. } => "weatherd's user may read the file",
        SetupError::SecretNotAFile { .. } => "point the key at that file",
        SetupError::SecretNotPrivate { .. } => "run `chmod 600 /etc/weatherd/token`",
        SetupError::SecretTooLarge { .. } => "Point the key at the file holding only the secret",
        SetupError::CredentialsDirectoryUnset { .. } => "LoadCredential=wu-password:/path/to/file",
        SetupError::CredentialUnreadable { .. } => "check the `LoadCredential=` line",
        SetupError::TokenEmpty { .. } => "put the token on the first line",
        SetupError::TokenNotPrintable { .. } => "the first line must be the token alone",
        SetupError::MissingSecret { .. } => "give `password_file` or `password_credential`",
        SetupError::BadPasscode { .. } => "the one computed for your callsign",
        SetupError::CredentialsFileShape { .. } => "the username, then the password",
        SetupError::SecretTwice { .. } => "not both; remove one",
        SetupError::BadCredentialName { .. } => "use the NAME of `LoadCredential=NAME:/path`",
        SetupError::PlainHttp { .. } => "use https://, or set `allow_plain_http = true`",
        SetupError::PlainHttpViaProxy { .. } => "unset the proxy",
        SetupError::ProxyUnusable { .. } => "set `proxy` to an http:// or https:// address",
        SetupError::CaFileUnreadable { .. } => "ca_file must be a readable PEM file",
        SetupError::CaFileNotPem { .. } => {
            "ca_file must be a PEM file with at least one certificate"
        }
        SetupError::CaFileEmpty { .. } => {
            "ca_file must be a PEM file with at least one certificate"
        }
        SetupError::CaCertificateRejected { .. } => "ca_file must hold the CA certificates",
        SetupError::NoCaCertificates => "install the system's ca-certificates or set ca_file",
        SetupError::HostNotVerifiable { .. } => {
            "set `host` to the name in the broker's certificate"
        }
        SetupError::TlsSetup { .. } => "please report it",
        SetupError::MqttHostEmpty { .. } => "set `host` to the broker's name or address",
        SetupError::TimeoutZero { .. } => "set `timeout_seconds` to 1 or more",
        SetupError::KeepAliveTooLong { .. } => "set a smaller `keep_alive_seconds`",
        SetupError::CaFileWithoutTls { .. } => "set `tls = true` or remove ca_file",
        SetupError::TopicWildcard { .. } => "remove them from `topic`",
        SetupError::MqttTopicEmpty { .. } => "set `topic`",
        SetupError::ClientIdEmpty { .. } => "set `client_id`",
    }
}

/// Where the problem is, which each text must name: the file, key, host or upload.
fn place_of(e: &SetupError) -> String {
    match e {
        SetupError::SecretUnreadable { path, .. }
        | SetupError::SecretNotAFile { path, .. }
        | SetupError::SecretNotPrivate { path, .. }
        | SetupError::SecretTooLarge { path, .. }
        | SetupError::CredentialUnreadable { path, .. }
        | SetupError::CredentialsFileShape { path }
        | SetupError::CaFileUnreadable { path, .. }
        | SetupError::CaFileNotPem { path, .. }
        | SetupError::CaFileEmpty { path }
        | SetupError::CaCertificateRejected { path, .. } => path.display().to_string(),
        SetupError::CredentialsDirectoryUnset { name } => format!("`{name}`"),
        SetupError::TokenEmpty { origin }
        | SetupError::TokenNotPrintable { origin }
        | SetupError::BadPasscode { origin } => origin.clone(),
        SetupError::MissingSecret { key } => format!("no {key}"),
        SetupError::SecretTwice { upload, .. }
        | SetupError::BadCredentialName { upload, .. }
        | SetupError::MqttHostEmpty { upload }
        | SetupError::TimeoutZero { upload }
        | SetupError::KeepAliveTooLong { upload, .. }
        | SetupError::CaFileWithoutTls { upload }
        | SetupError::MqttTopicEmpty { upload }
        | SetupError::ClientIdEmpty { upload } => format!("upload `{upload}`"),
        SetupError::PlainHttp { url } | SetupError::PlainHttpViaProxy { url, .. } => {
            format!("found \"{url}\"")
        }
        SetupError::ProxyUnusable { proxy, .. } => format!("proxy `{proxy}`"),
        SetupError::NoCaCertificates => "MQTT broker".into(),
        SetupError::HostNotVerifiable { host } => format!("`{host}`"),
        SetupError::TlsSetup { .. } => "TLS setup".into(),
        SetupError::TopicWildcard { key, .. } => format!("MQTT {key}"),
    }
}

fn one_of_each() -> Vec<SetupError> {
    let s = String::from;
    let token = || PathBuf::from("/etc/weatherd/token");
    let ca = || PathBuf::from("/etc/weatherd/ca.pem");
    let upload = || s("broker");
    vec![
        SetupError::SecretUnreadable {
            path: token(),
            reason: s("No such file or directory (os error 2)"),
        },
        SetupError::SecretNotAFile {
            path: token(),
            kind: "a directory",
        },
        SetupError::SecretNotPrivate {
            path: token(),
            mode: 0o644,
        },
        SetupError::SecretTooLarge {
            path: token(),
            bytes: 1 << 20,
            limit: 64 << 10,
        },
        SetupError::CredentialsDirectoryUnset {
            name: s("wu-password"),
        },
        SetupError::CredentialUnreadable {
            path: PathBuf::from("/run/credentials/weatherd.service/wu-password"),
            reason: s("No such file or directory (os error 2)"),
        },
        SetupError::TokenEmpty {
            origin: s("/etc/weatherd/token"),
        },
        SetupError::TokenNotPrintable {
            origin: s("credential `influx-token`"),
        },
        SetupError::MissingSecret { key: "password" },
        SetupError::BadPasscode {
            origin: s("/etc/weatherd/aprs-passcode"),
        },
        SetupError::CredentialsFileShape {
            path: PathBuf::from("/etc/weatherd/mqtt-credentials"),
        },
        SetupError::SecretTwice {
            upload: upload(),
            file_key: "credentials_file",
            credential_key: "credentials_credential",
        },
        SetupError::BadCredentialName {
            upload: upload(),
            key: "credentials_credential",
            name: s("a/b"),
        },
        SetupError::PlainHttp {
            url: s("http://10.0.0.1/upload"),
        },
        SetupError::PlainHttpViaProxy {
            url: s("http://127.0.0.1:8086"),
            proxy: s("the proxy `http://***@proxy.lan:3128` (from $HTTP_PROXY)"),
        },
        SetupError::ProxyUnusable {
            proxy: s("ftp://***@proxy.lan:3128"),
            reason: s("unknown proxy protocol"),
        },
        SetupError::CaFileUnreadable {
            path: ca(),
            reason: s("it is a directory, not a file"),
        },
        SetupError::CaFileNotPem {
            path: ca(),
            reason: s("invalid base64"),
        },
        SetupError::CaFileEmpty { path: ca() },
        SetupError::CaCertificateRejected {
            path: ca(),
            reason: s("invalid certificate encoding"),
        },
        SetupError::NoCaCertificates,
        SetupError::HostNotVerifiable {
            host: s("bad host"),
        },
        SetupError::TlsSetup {
            reason: s("no protocol versions"),
        },
        SetupError::MqttHostEmpty { upload: upload() },
        SetupError::TimeoutZero { upload: upload() },
        SetupError::KeepAliveTooLong {
            upload: upload(),
            max: 65535,
        },
        SetupError::CaFileWithoutTls { upload: upload() },
        SetupError::TopicWildcard {
            key: "topic",
            template: s("weather/+/archive"),
        },
        SetupError::MqttTopicEmpty { upload: upload() },
        SetupError::ClientIdEmpty { upload: upload() },
    ]
}

#[test]
fn every_setup_error_names_the_place_and_the_fix() {
    let all = one_of_each();
    let texts = crate::error_test_kit::messages_with_their_fix(&all, 30, fix_of);
    for (e, text) in all.iter().zip(texts) {
        assert!(
            text.contains(&place_of(e)),
            "{e:?} does not say where: {text}"
        );
        // What is wrong comes first, then the fix.
        let fix_at = text.find(fix_of(e)).unwrap();
        assert!(
            fix_at > 10,
            "{e:?} says the fix without saying what failed: {text}"
        );
    }
}

#[test]
fn setup_texts_keep_the_details_an_operator_acts_on() {
    let private = SetupError::SecretNotPrivate {
        path: "/etc/weatherd/token".into(),
        mode: 0o640,
    };
    assert_eq!(
        private.to_string(),
        "/etc/weatherd/token can be read or changed by other users (mode 0640); a secret file \
         must be private: run `chmod 600 /etc/weatherd/token` (and make the weatherd user its owner)"
    );
    let big = SetupError::SecretTooLarge {
        path: "/var/log/syslog".into(),
        bytes: 1_000_000,
        limit: 65536,
    };
    assert!(
        big.to_string()
            .contains("is 1000000 bytes, more than the 65536-byte limit"),
        "{big}"
    );
    let unset = SetupError::CredentialsDirectoryUnset {
        name: "wu-password".into(),
    };
    assert!(
        unset
            .to_string()
            .contains("$CREDENTIALS_DIRECTORY is not set"),
        "{unset}"
    );
}

/// A proxy address can carry the proxy's own password; the message that names an
/// unusable one is logged and shown in `weatherd status`, so it must not.
#[test]
fn an_unusable_proxy_is_named_without_its_password() {
    let config = super::HttpConfig {
        name: "school".into(),
        url: "https://weather.example.org/api".into(),
        token_file: None,
        token_credential: None,
        ca_file: None,
        proxy: Some("ftp://pupil:hunter2@proxy.lan:3128".into()),
        allow_plain_http: false,
        common: super::Common::defaults(1),
    };
    let err = super::http::HttpDestination::new(&config, "station")
        .expect_err("an ftp:// proxy is refused");
    assert!(matches!(err, SetupError::ProxyUnusable { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains("hunter2"),
        "the proxy password leaked: {text}"
    );
    assert!(text.contains("proxy.lan:3128"), "{text}");
}
