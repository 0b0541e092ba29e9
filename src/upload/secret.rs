//! Secrets (bearer tokens, MQTT passwords) come from a file only the daemon's user can
//! read, or from a systemd credential; never from the main config, which is often
//! world-readable and gets pasted into forum posts.

use super::setup_error::file_kind;
use super::SetupError;
use crate::config::path::KeyPath;
use crate::config::validate::Validator;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string whose `Debug` and `Display` never show it, so it cannot leak into
/// logs through a `{:?}` of a struct that holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret file, refusing one that group or others may read or write.
pub fn read_private_file(path: &Path) -> Result<String, SetupError> {
    let cannot = |e: std::io::Error| SetupError::SecretUnreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(cannot)?;
        if !meta.is_file() {
            return Err(SetupError::SecretNotAFile {
                path: path.to_path_buf(),
                kind: file_kind(&meta),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SetupError::SecretNotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    // Opened without blocking and checked again on the descriptor: a path swapped for
    // a FIFO after the check above must not hang weatherd waiting for a writer.
    let file = open_nonblocking(path).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if !meta.is_file() {
        return Err(SetupError::SecretNotAFile {
            path: path.to_path_buf(),
            kind: file_kind(&meta),
        });
    }
    // A token or a user name and password is a line or two; a file of megabytes is the
    // wrong file, and reading it whole would only cost a small Pi its memory.
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(SetupError::SecretTooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
            limit: MAX_SECRET_FILE_BYTES,
        });
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_SECRET_FILE_BYTES),
        &mut text,
    )
    .map_err(cannot)?;
    Ok(text)
}

/// The largest secret file read.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 << 10;

/// The largest CA certificate file read: the whole Debian bundle is about 220 KB.
pub const MAX_CA_FILE_BYTES: u64 = 4 << 20;

/// Reads a small regular file such as a CA certificate file: refused without waiting
/// or reading if it is a FIFO (which waits for a writer), a device such as `/dev/zero`
/// (which never ends) or a directory, or larger than `max_bytes`.
pub fn read_regular_file(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(if meta.is_dir() {
            "it is a directory, not a file"
        } else {
            "it is not a regular file (a pipe, socket or device)"
        }));
    }
    if meta.len() > max_bytes {
        return Err(std::io::Error::other(format!(
            "it is {} bytes, more than the {max_bytes}-byte limit",
            meta.len()
        )));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(std::io::Error::other(format!(
            "it grew past the {max_bytes}-byte limit while being read"
        )));
    }
    Ok(bytes)
}

/// Opens a file for reading without waiting: opening a FIFO for reading otherwise
/// blocks until some process opens it for writing, which may be never.
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Where a systemd credential is: `$CREDENTIALS_DIRECTORY/NAME`.
pub fn credential_path(name: &str) -> Result<PathBuf, SetupError> {
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) => Ok(PathBuf::from(dir).join(name)),
        None => Err(SetupError::CredentialsDirectoryUnset {
            name: name.to_string(),
        }),
    }
}

/// Reads a secret from a file or a systemd credential (at most one is configured);
/// `Ok(None)` when neither is.
pub fn load(file: Option<&Path>, credential: Option<&str>) -> Result<Option<String>, SetupError> {
    let text = match (file, credential) {
        (Some(file), _) => read_private_file(file)?,
        // systemd makes credential files readable by the service alone.
        (None, Some(name)) => {
            let path = credential_path(name)?;
            std::fs::read_to_string(&path).map_err(|e| SetupError::CredentialUnreadable {
                reason: e.to_string(),
                path,
            })?
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(text))
}

/// What `check-config` says about one secret that `run` would not simply accept.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// `run` would refuse it: the destination would not start.
    Problem(String),
    /// It could not be checked from here (no permission, no systemd credentials).
    Note(String),
}

/// `check-config`'s look at a destination's secret, given as a file key and a
/// systemd credential key (`(value, key name)` each), loaded with `load`, the
/// destination's own loader that `run` uses: the key and the finding, if any. A
/// credential can only be read under systemd; outside, it is a note.
pub(crate) fn check_secret<T>(
    (file, file_key): (Option<&Path>, &'static str),
    (credential, credential_key): (Option<&str>, &'static str),
    load: impl FnOnce(&Path) -> Result<T, SetupError>,
) -> Option<(&'static str, Finding)> {
    let (key, finding) = match (file, credential) {
        (Some(path), _) => (file_key, check_file(path, load)),
        (None, Some(name)) => match credential_path(name) {
            Ok(path) => (credential_key, check_file(&path, load)),
            Err(e) => (
                credential_key,
                Some(Finding::Note(format!("not checked: {e}"))),
            ),
        },
        (None, None) => return None,
    };
    finding.map(|f| (key, f))
}

/// Config check: a secret is given by file or by systemd credential, not both.
pub(crate) fn check_one_secret(
    v: &mut Validator<'_>,
    path: &KeyPath,
    file_key: &str,
    cred_key: &str,
    both: bool,
) {
    if both {
        v.push(
            path.key(cred_key),
            format!("give either `{file_key}` or `{cred_key}`, not both"),
        );
    }
}

/// Config check of a systemd credential name: what follows `LoadCredential=` up to
/// the `:`.
pub(crate) fn check_credential_name(v: &mut Validator<'_>, path: KeyPath, name: &str) {
    if name.is_empty() || name.contains('/') || name.contains(':') || name == "." || name == ".." {
        v.push(
            path,
            format!(
                "must be a systemd credential name (as in `LoadCredential=NAME:/path`), without `/` or `:`, \
                 found \"{name}\""
            ),
        );
    }
}

/// `check-config`'s check of a secret file: `load`, the very function `run` uses. A
/// file with private permissions that this user may not open (a root-only token file
/// checked by a teacher) cannot be judged from here: that is a note, not a pass and
/// not a failure.
pub fn check_file<T>(
    path: &Path,
    load: impl FnOnce(&Path) -> Result<T, SetupError>,
) -> Option<Finding> {
    let err = load(path).err()?;
    // Only to learn whether this user may open it; never blocks on a FIFO.
    let open = open_nonblocking(path).err();
    Some(classify(
        path,
        err,
        open.as_ref().map(std::io::Error::kind),
        is_private(path),
    ))
}

/// The judgement of [`check_file`], given why `run`'s loader failed, why opening the
/// file failed (if it did) and whether its mode keeps other users out.
pub fn classify(
    path: &Path,
    err: SetupError,
    open: Option<std::io::ErrorKind>,
    private: bool,
) -> Finding {
    if open == Some(std::io::ErrorKind::PermissionDenied) && private {
        Finding::Note(format!(
            "{} cannot be read by this user, so it was not checked; run check-config as the \
             user weatherd runs as (e.g. `sudo -u weatherd weatherd check-config FILE`)",
            path.display()
        ))
    } else {
        Finding::Problem(err.to_string())
    }
}

fn is_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// Reads a bearer token: the first line, trimmed; it must be non-empty and fit in an
/// HTTP header.
pub fn load_token(
    file: Option<&Path>,
    credential: Option<&str>,
) -> Result<Option<Secret>, SetupError> {
    let Some(text) = load(file, credential)? else {
        return Ok(None);
    };
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        return Err(SetupError::TokenEmpty {
            origin: origin(file, credential),
        });
    }
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(SetupError::TokenNotPrintable {
            origin: origin(file, credential),
        });
    }
    Ok(Some(Secret::new(token)))
}

/// Where a secret comes from, for a message: the file, or `credential `NAME``.
pub(crate) fn origin(file: Option<&Path>, credential: Option<&str>) -> String {
    match (file, credential) {
        (Some(f), _) => f.display().to_string(),
        (None, Some(c)) => format!("credential `{c}`"),
        (None, None) => String::new(),
    }
}

/// What replaces a secret in any text that is logged or stored.
pub const REDACTED: &str = "[redacted]";

/// Words after which a credential usually follows (`Bearer abc`, `"token": "abc"`,
/// `password=abc`); the value after each is replaced.
const CREDENTIAL_WORDS: [&str; 9] = [
    "bearer", "basic", "digest", "token", "password", "passwd", "secret", "api_key", "apikey",
];

/// Removes secrets from a text that came from outside (a server's answer, a client
/// library's error) before it is logged, stored for `weatherd status` or shown: every
/// occurrence of the known `secrets`, everything after an `Authorization` header name
/// up to the end of its value, and the value after a credential word such as `Bearer`,
/// `Token` or `password=`. A server that echoes the request headers into an error page
/// must not put the token into the journal or the database.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret, REDACTED);
        }
    }
    out = redact_after(&out, "authorization", |c| {
        matches!(c, '"' | '\'' | ',' | ';' | '}' | '\n' | '\r' | '<')
    });
    for word in CREDENTIAL_WORDS {
        out = redact_after(&out, word, |c| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ')' | ']' | '&' | '<')
        });
    }
    out
}

/// The gentler [`redact`] for a whole message that also holds weatherd's own words
/// (hints such as "check token_file"): every occurrence of the known `secrets`, and
/// the credential after an authentication scheme (`Bearer …`, `Basic …`, `Digest …`).
pub fn redact_known(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret, REDACTED);
        }
    }
    for word in ["bearer", "basic", "digest"] {
        out = redact_after(&out, word, |c| {
            c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}' | ')' | ']' | '&' | '<')
        });
    }
    out
}

/// Replaces the value after each whole-word, case-insensitive `word` (past separators
/// such as `: = "`) up to the first character `ends` accepts.
fn redact_after(text: &str, word: &str, ends: impl Fn(char) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(pos) = lower[from..].find(word) {
        let start = from + pos;
        let after = start + word.len();
        from = after;
        let boundary_before = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let rest = &text[after..];
        let sep_len: usize = rest
            .chars()
            .take_while(|c| matches!(c, ' ' | '\t' | ':' | '=' | '"' | '\''))
            .map(char::len_utf8)
            .sum();
        // A word glued to more letters (`tokens`, `token_file`) is not a credential name,
        // and one followed by nothing to hide has no value.
        if !boundary_before || sep_len == 0 {
            continue;
        }
        let value_start = after + sep_len;
        let value_len: usize = text[value_start..]
            .chars()
            .take_while(|c| !ends(*c))
            .map(char::len_utf8)
            .sum();
        if value_len == 0 || text[value_start..value_start + value_len] == *REDACTED {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push_str(REDACTED);
        copied = value_start + value_len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// At most `max` characters of `text`, control characters turned into spaces, with
/// `…` where it was cut: server answers can be pages long.
pub fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn world_readable_file_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_token(Some(&path), None).unwrap_err().to_string();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(
            err.contains(&format!("chmod 600 {}", path.display())),
            "{err}"
        );
        assert!(!err.contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let token = load_token(Some(&path), None).unwrap().unwrap();
        assert_eq!(token.expose(), "s3cret");
        assert_eq!(format!("{token:?}"), "Secret(***)");
    }

    #[test]
    fn redaction_removes_known_secrets_and_credential_values() {
        let echoed = "bad credentials; you sent Authorization: Bearer s3cr3t-T0KEN, \
                      {\"token\":\"abc123\"} password=hunter2 Token xyz";
        let r = redact(echoed, &[]);
        for leak in ["s3cr3t-T0KEN", "abc123", "hunter2", "xyz"] {
            assert!(!r.contains(leak), "{leak} in {r}");
        }
        assert!(
            r.starts_with("bad credentials; you sent Authorization: [redacted]"),
            "{r}"
        );
        // A known secret goes wherever it is, even without a credential word before it.
        let r = redact("echo: s3cr3t-T0KEN!", &["s3cr3t-T0KEN"]);
        assert_eq!(r, "echo: [redacted]!");
        // Ordinary words stay.
        let r = redact("check token_file and the tokens", &[]);
        assert_eq!(r, "check token_file and the tokens");
        // Whole messages keep weatherd's own hints.
        let hint = "HTTP 401: Bearer abc (the server refused the token: check token_file)";
        assert_eq!(
            redact_known(hint, &["s3cr3t"]),
            "HTTP 401: Bearer [redacted] (the server refused the token: check token_file)"
        );
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("a\nb", 10), "a b");
    }

    #[test]
    fn an_unopenable_private_file_is_a_note_anything_else_a_problem() {
        let path = Path::new("/etc/weatherd/upload-token");
        let err = || SetupError::SecretUnreadable {
            path: path.to_path_buf(),
            reason: "cannot read".into(),
        };
        let denied = Some(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(
            classify(path, err(), denied, true),
            Finding::Note(n) if n.contains("sudo -u weatherd")
        ));
        // Group- or world-readable: `run` refuses it, whoever checks.
        assert!(matches!(
            classify(path, err(), denied, false),
            Finding::Problem(_)
        ));
        let missing = Some(std::io::ErrorKind::NotFound);
        assert!(matches!(
            classify(path, err(), missing, true),
            Finding::Problem(_)
        ));
        assert!(matches!(
            classify(path, err(), None, true),
            Finding::Problem(_)
        ));
    }

    #[test]
    fn a_directory_is_not_a_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_token(Some(dir.path()), None).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn empty_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load_token(Some(&path), None)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
