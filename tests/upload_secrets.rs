//! Secrets under attack: no log level, `status` output or database byte holds the
//! token, plain http through a proxy is refused, and `check-config` checks secret
//! files the way `run` does.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];
const TOKEN: &str = "Zq9-very-secret-token-4711";

fn weatherd() -> Command {
    let mut c = Command::new(BIN);
    for v in PROXY_VARIABLES {
        c.env_remove(v);
    }
    c.env_remove("CREDENTIALS_DIRECTORY");
    c
}

fn write_config(dir: &Path, upload: &str) -> PathBuf {
    // A new file each time: tests compare several configs side by side.
    let n = std::fs::read_dir(dir).map_or(0, |d| d.count());
    let path = dir.join(format!("weatherd-{n}.toml"));
    let text = format!("{}\n[[upload]]\n{upload}\n", weatherd::config::EXAMPLE_TOML);
    std::fs::write(&path, text).unwrap();
    path
}

fn token_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("token");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// A server that refuses every request with 401 and echoes the request's headers
/// (the bearer token among them) in the body, as some frameworks' error pages do.
fn echoing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ingest", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                loop {
                    let mut head = String::new();
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim_end().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let auth = head
                        .lines()
                        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                        .unwrap_or("")
                        .to_string();
                    let answer = format!(
                        "invalid credentials. You sent: {auth} (token {})",
                        auth.rsplit(' ').next().unwrap_or("")
                    );
                    let _ = write!(
                        out,
                        "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = out.flush();
                }
            });
        }
    });
    url
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Item 12: at `RUST_LOG=trace`, against a server that echoes the Authorization
/// header in its 401 answer, the token appears nowhere: not in stderr or stdout, not
/// in the database file (nor its WAL), not in `weatherd status`.
#[test]
fn the_token_appears_in_no_log_status_or_database_byte() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let token = token_file(dir.path(), &format!("{TOKEN}\n"), 0o600);
    let url = echoing_server();
    let config = write_config(
        dir.path(),
        &format!(
            "type = \"http\"\nname = \"school\"\nurl = \"{url}\"\ntoken_file = \"{}\"\nbatch_max_age_seconds = 0",
            token.display()
        ),
    );
    let out = weatherd()
        // Everything at trace, the wire-level crates named explicitly too.
        .env("RUST_LOG", "trace,ureq=trace,ureq_proto=trace,rustls=trace")
        .args(["run", "--simulate", "--speed", "max", "--duration", "1h"])
        .args([
            "--start",
            "2025-01-01T00:00:00Z",
            "--drain-timeout",
            "30s",
            "--config",
        ])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    // The refusal was logged (so the echo went through the code that logs it), with
    // the most verbose levels on (a debug line of weatherd's own).
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(
        stderr.contains("DEBUG") && stderr.contains("record stored"),
        "verbose logging was on"
    );
    assert!(!stderr.contains(TOKEN), "token in stderr");
    assert!(!stdout.contains(TOKEN), "token in stdout");
    // A wire dump splits the request into 16-byte lines, so look for pieces too.
    let chars: Vec<char> = TOKEN.chars().collect();
    for piece in chars.windows(8).map(|w| w.iter().collect::<String>()) {
        assert!(
            !stderr.contains(&piece),
            "part of the token ({piece}) in stderr"
        );
    }

    let status = weatherd()
        .args(["status", "--db"])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (status_out, status_err) = text(&status);
    assert!(status.status.success(), "{status_err}");
    assert!(status_out.contains("stopped: HTTP 401"), "{status_out}");
    // Redaction takes the secret, not weatherd's own hint.
    assert!(status_out.contains("check token_file"), "{status_out}");
    assert!(!status_out.contains(TOKEN), "{status_out}");
    assert!(!status_err.contains(TOKEN), "{status_err}");

    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("w.db") {
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "token in {name}"
            );
        }
    }
    assert!(files >= 1);
}

fn check_config(config: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut c = weatherd();
    c.arg("check-config").arg(config);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.success(), text(&out).1)
}

/// Item 13: plain http to this machine through a proxy (the `proxy` key or a proxy
/// variable) puts the token on the network in clear: refused like any other plain
/// http, unless `allow_plain_http`.
#[test]
fn plain_http_to_loopback_through_a_proxy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = "type = \"http\"\nname = \"school\"\nurl = \"http://127.0.0.1:8080/ingest\"\n";
    let direct = write_config(dir.path(), base);
    let (ok, err) = check_config(&direct, &[]);
    assert!(ok, "loopback without a proxy is local: {err}");

    let proxied = write_config(
        dir.path(),
        &format!("{base}proxy = \"http://proxy.lan:3128\""),
    );
    let (ok, err) = check_config(&proxied, &[]);
    assert!(!ok, "{err}");
    assert!(err.contains("upload[0].url"), "{err}");
    assert!(
        err.contains("proxy") && err.contains("allow_plain_http"),
        "{err}"
    );

    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
    ] {
        let (ok, err) = check_config(&direct, &[(var, "http://proxy.lan:3128")]);
        assert!(!ok, "{var}: {err}");
        assert!(err.contains(&format!("${var}")), "{err}");
    }

    let allowed = write_config(
        dir.path(),
        &format!("{base}proxy = \"http://proxy.lan:3128\"\nallow_plain_http = true"),
    );
    let (ok, err) = check_config(&allowed, &[("HTTP_PROXY", "http://proxy.lan:3128")]);
    assert!(ok, "{err}");

    // `run` applies the same rule (it loads the config the same way).
    let out = weatherd()
        .env("HTTP_PROXY", "http://proxy.lan:3128")
        .args([
            "run",
            "--simulate",
            "--speed",
            "max",
            "--duration",
            "1h",
            "--config",
        ])
        .arg(&direct)
        .arg("--db")
        .arg(dir.path().join("w.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("$HTTP_PROXY"), "{}", text(&out).1);
}

fn http_with_token(dir: &Path, token: &Path) -> PathBuf {
    write_config(
        dir,
        &format!(
            "type = \"http\"\nname = \"school\"\nurl = \"https://weather.example.org/in\"\ntoken_file = \"{}\"",
            token.display()
        ),
    )
}

/// Makes a token file (or something in its place) in a directory.
type MakeFile = Box<dyn Fn(&Path) -> PathBuf>;

/// Item 14: `check-config` refuses the token files `run` refuses: group- or
/// world-readable, missing, empty, a directory; and accepts a good one.
#[test]
fn check_config_refuses_the_token_files_run_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let good = token_file(dir.path(), "abc\n", 0o600);
    let (ok, err) = check_config(&http_with_token(dir.path(), &good), &[]);
    assert!(ok, "{err}");
    assert!(err.contains(": OK"), "{err}");

    let cases: [(&str, MakeFile, &str); 4] = [
        (
            "world-readable",
            Box::new(|d: &Path| token_file(d, "abc\n", 0o644)),
            "mode 0644",
        ),
        (
            "missing",
            Box::new(|d: &Path| d.join("nope")),
            "cannot read",
        ),
        (
            "empty",
            Box::new(|d: &Path| token_file(d, "\n", 0o600)),
            "empty",
        ),
        (
            "a directory",
            Box::new(|d: &Path| {
                let p = d.join("tokdir");
                std::fs::create_dir(&p).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
                p
            }),
            "not a regular file",
        ),
    ];
    for (what, make, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = make(dir.path());
        let (ok, err) = check_config(&http_with_token(dir.path(), &path), &[]);
        assert!(!ok, "{what}: {err}");
        assert!(err.contains("upload[0].token_file"), "{what}: {err}");
        assert!(err.contains(says), "{what}: {err}");
    }

    // MQTT credentials files go through the same check.
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::write(&creds, "user\npass\n").unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o640)).unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "type = \"mqtt\"\nname = \"broker\"\nhost = \"localhost\"\ncredentials_file = \"{}\"",
            creds.display()
        ),
    );
    let (ok, err) = check_config(&config, &[]);
    assert!(!ok, "{err}");
    assert!(
        err.contains("upload[0].credentials_file") && err.contains("mode 0640"),
        "{err}"
    );
}

/// Item 14: a private token file the checking user may not read (root's file, checked
/// by a teacher) is neither passed nor failed: `check-config` says it could not check
/// it. As root the check runs as `nobody`; otherwise the file is made unreadable.
#[test]
fn check_config_notes_a_token_file_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let uid = Command::new("id").arg("-u").output().unwrap();
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let token = token_file(dir.path(), "abc\n", if root { 0o600 } else { 0o000 });
    let config = http_with_token(dir.path(), &token);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    for v in PROXY_VARIABLES {
        c.env_remove(v);
    }
    let out = c.arg("check-config").arg(&config).output().unwrap();
    let (_, err) = text(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("note:") && err.contains("upload[0].token_file"),
        "{err}"
    );
    assert!(err.contains("cannot be read by this user"), "{err}");
    assert!(
        !err.lines().any(|l| l.ends_with(": OK")),
        "not a plain OK: {err}"
    );
}
