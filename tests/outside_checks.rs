//! Variants of issue 9's outside checks, run through the built binary as a user (or an
//! attacker) would: each one found a promise that did not hold for an input the
//! original reproduction did not try.

mod support;

use support::db::{count_rows, temp_dir};

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_weatherd");

/// Items 8 and 15: `--speed` takes any finite factor, and one the machine cannot keep
/// up with (`1e12`: a simulated century per real hour is not the limit) left the clock
/// always behind, so the station never slept, never gave the runtime back, and ignored
/// SIGTERM and SIGINT until SIGKILL. It must stop on either signal like any run.
#[test]
fn a_speed_the_machine_cannot_keep_up_with_still_stops_on_a_signal() {
    let dir = temp_dir();
    for (sig, name) in [(libc::SIGTERM, "term"), (libc::SIGINT, "int")] {
        let db = dir.path().join(format!("{name}.db"));
        let mut child = Command::new(BIN)
            .args(["run", "--simulate", "--speed", "1e12", "--start"])
            .arg("2026-01-01T00:00:00Z")
            .arg("--db")
            .arg(&db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weatherd starts");
        // Running flat out: records arrive as fast as the machine writes them.
        while count_rows(&db) < 20 {
            assert!(child.try_wait().unwrap().is_none(), "weatherd exited early");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: kill(2) on a child we own.
        assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
        // Not a timing assertion: a generous bound on "it exits at all", after which the
        // child is killed so the test cannot hang.
        let give_up = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > give_up {
                child.kill().unwrap();
                child.wait().unwrap();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let status =
            status.unwrap_or_else(|| panic!("weatherd ignored signal {sig} at --speed 1e12"));
        assert!(status.success(), "exit after signal {sig}: {status}");
    }
}

/// Items 12 and 13: a proxy address with the proxy's own password
/// (`HTTPS_PROXY=http://user:pass@proxy:3128`, common on school networks) was printed
/// whole in the message refusing plain http through a proxy, by `check-config` and by
/// `run` (so into the journal). The message must name the proxy without the password.
#[test]
fn a_proxy_password_is_never_printed() {
    let dir = temp_dir();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok3n-value\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("weatherd.toml");
    let write_config = |proxy_line: &str| {
        std::fs::write(
            &config,
            format!(
                "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 1.0\nelevation_m = 1.0\n\
                 time_zone = \"UTC\"\n[database]\npath = \"{}\"\n[[upload]]\ntype = \"http\"\n\
                 name = \"srv\"\nurl = \"http://127.0.0.1:9/up\"\ntoken_file = \"{}\"\n{proxy_line}\n",
                dir.path().join("w.db").display(),
                token.display()
            ),
        )
        .unwrap();
    };
    let password = "Pr0xyPa55";
    let cases: [(&str, Option<(&str, String)>); 4] = [
        // From the environment, upper and lower case, with a `/` the user did not escape.
        (
            "",
            Some((
                "HTTPS_PROXY",
                format!("http://bob:{password}@proxy.lan:3128"),
            )),
        ),
        (
            "",
            Some((
                "all_proxy",
                format!("socks5://bob:{password}@proxy.lan:1080"),
            )),
        ),
        (
            "",
            Some((
                "http_proxy",
                format!("http://bob:{password}/x@proxy.lan:3128"),
            )),
        ),
        // In the config's own `proxy` key (refused, but echoed in the refusal).
        ("proxy = \"http://bob:Pr0xyPa55@proxy.lan:3128\"", None),
    ];
    for (proxy_line, env) in cases {
        write_config(proxy_line);
        for args in [
            vec!["check-config".to_string(), config.display().to_string()],
            vec![
                "run".to_string(),
                "--simulate".to_string(),
                "--config".to_string(),
                config.display().to_string(),
                "--speed".to_string(),
                "max".to_string(),
                "--duration".to_string(),
                "10m".to_string(),
            ],
        ] {
            let mut cmd = Command::new(BIN);
            cmd.args(&args).env("RUST_LOG", "trace");
            for name in [
                "ALL_PROXY",
                "all_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "HTTP_PROXY",
                "http_proxy",
                "NO_PROXY",
                "no_proxy",
            ] {
                cmd.env_remove(name);
            }
            if let Some((name, value)) = &env {
                cmd.env(name, value);
            }
            let out = cmd.output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {text}");
            assert!(
                text.contains("proxy.lan"),
                "{args:?} {env:?}: the message should still name the proxy: {text}"
            );
            assert!(
                !text.contains(password),
                "{args:?} {env:?}: the proxy password was printed: {text}"
            );
        }
    }
}

/// Runs `weatherd` with `args`, killing it if it has not exited after a generous bound
/// (a hang is the defect; the bound only keeps the test from hanging with it).
fn run_bounded(args: &[&str]) -> Option<std::process::Output> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weatherd starts");
    let give_up = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > give_up {
            child.kill().unwrap();
            child.wait().unwrap();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().unwrap())
}

/// Items 14 and 16: `check-config` refused a config file that is a FIFO, but a token
/// or MQTT credentials file that is a FIFO (mode 0600) made it hang for ever: to tell
/// "no permission" from other problems it opened the file, and opening a FIFO for
/// reading waits for a writer. It must say the file is not a regular file, and exit 2.
#[test]
fn check_config_does_not_hang_on_a_secret_file_that_is_a_fifo() {
    let dir = temp_dir();
    let fifo = dir.path().join("secret-fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc_mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    let config = dir.path().join("weatherd.toml");
    let station = format!(
        "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 1.0\nelevation_m = 1.0\n\
         time_zone = \"UTC\"\n[database]\npath = \"{}\"\n",
        dir.path().join("w.db").display()
    );
    for upload in [
        format!(
            "[[upload]]\ntype = \"http\"\nname = \"srv\"\nurl = \"https://weather.example.org/up\"\n\
             token_file = \"{}\"\n",
            fifo.display()
        ),
        format!(
            "[[upload]]\ntype = \"mqtt\"\nname = \"broker\"\nhost = \"mqtt.example.org\"\n\
             credentials_file = \"{}\"\n",
            fifo.display()
        ),
    ] {
        std::fs::write(&config, format!("{station}{upload}")).unwrap();
        let out = run_bounded(&["check-config", config.to_str().unwrap()])
            .unwrap_or_else(|| panic!("check-config hung on a FIFO secret file:\n{upload}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{upload}: {stderr}");
        assert!(
            stderr.contains("secret-fifo") && stderr.contains("not a regular file"),
            "{upload}: {stderr}"
        );
    }
}

extern "C" {
    #[link_name = "mkfifo"]
    fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
}

/// Items 14 and 16 for the other file an upload reads: `run` read `ca_file` whole, so
/// `/dev/zero` grew its memory for ever and a FIFO hung it at start-up; `check-config`
/// did not look at `ca_file` at all and passed a missing, empty or endless one. Both
/// must refuse such a file at once, naming it, and `check-config` must exit 2.
#[test]
fn ca_files_that_cannot_be_certificates_are_refused_at_once() {
    let dir = temp_dir();
    let fifo = dir.path().join("ca-fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path.
    assert_eq!(unsafe { libc_mkfifo(path.as_ptr(), 0o644) }, 0, "mkfifo");
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let config = dir.path().join("weatherd.toml");
    let station = format!(
        "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 1.0\nelevation_m = 1.0\n\
         time_zone = \"UTC\"\n[database]\npath = \"{}\"\n",
        dir.path().join("w.db").display()
    );
    for ca in [
        Path::new("/dev/zero"),
        fifo.as_path(),
        not_pem.as_path(),
        missing.as_path(),
    ] {
        for upload in [
            format!(
                "[[upload]]\ntype = \"http\"\nname = \"srv\"\nurl = \"https://127.0.0.1:9/up\"\n\
                 ca_file = \"{}\"\n",
                ca.display()
            ),
            format!(
                "[[upload]]\ntype = \"mqtt\"\nname = \"broker\"\nhost = \"127.0.0.1\"\nport = 9\n\
                 tls = true\nca_file = \"{}\"\n",
                ca.display()
            ),
        ] {
            std::fs::write(&config, format!("{station}{upload}")).unwrap();
            let out = run_bounded(&["check-config", config.to_str().unwrap()])
                .unwrap_or_else(|| panic!("check-config hung on ca_file {}", ca.display()));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{upload}: {stderr}");
            assert!(
                stderr.contains("ca_file") && stderr.contains(&ca.display().to_string()),
                "{upload}: {stderr}"
            );
            // A fresh database each time, so the replay has something to do.
            for suffix in ["", "-wal", "-shm", ".state"] {
                let _ = std::fs::remove_file(dir.path().join(format!("w.db{suffix}")));
            }
            let out = run_bounded(&[
                "run",
                "--simulate",
                "--config",
                config.to_str().unwrap(),
                "--speed",
                "max",
                "--duration",
                "10m",
                "--drain-timeout",
                "1s",
            ])
            .unwrap_or_else(|| panic!("run hung on ca_file {}", ca.display()));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("upload disabled") && stderr.contains(&ca.display().to_string()),
                "{upload}: {stderr}"
            );
        }
    }
}

/// Item 16 for a span too short to hold a sample: `run --duration 4s` (or 1 s from
/// 00:00:03) sampled nothing, wrote nothing and exited 0. It must say why and exit
/// non-zero; a span that reaches one sample time writes that (partial) record.
#[test]
fn a_duration_shorter_than_one_sample_is_refused() {
    let dir = temp_dir();
    for (start, duration) in [
        ("2026-01-01T00:00:00Z", "4s"),
        ("2026-01-01T00:00:03Z", "1s"),
    ] {
        let db = dir.path().join("short.db");
        let out = run_bounded(&[
            "run",
            "--simulate",
            "--speed",
            "max",
            "--start",
            start,
            "--duration",
            duration,
            "--db",
            db.to_str().unwrap(),
        ])
        .expect("run exits");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{start} + {duration} wrote nothing yet exited 0: {stderr}"
        );
        assert!(
            stderr.contains("--duration") && stderr.contains("nothing would be written"),
            "{stderr}"
        );
        assert_eq!(count_rows(&db), 0);
    }
    let db = dir.path().join("one.db");
    let out = run_bounded(&[
        "run",
        "--simulate",
        "--speed",
        "max",
        "--start",
        "2026-01-01T00:00:00Z",
        "--duration",
        "5s",
        "--db",
        db.to_str().unwrap(),
    ])
    .expect("run exits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count_rows(&db), 1, "one sample makes one partial record");
}

/// Items 14 and 16: a secret file is a line or two, but `run` read any regular file
/// whole (a mistyped path to a multi-gigabyte log would take a Pi's memory) and
/// `check-config` passed it. Both refuse a secret file over 64 KiB, naming it.
#[test]
fn an_oversized_secret_file_is_refused() {
    let dir = temp_dir();
    let big = dir.path().join("big-token");
    let mut text = "tok3n\n".to_string();
    text.push_str(&"x".repeat(70 * 1024));
    std::fs::write(&big, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&big, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let config = dir.path().join("weatherd.toml");
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"x\"\nlatitude = 1.0\nlongitude = 1.0\nelevation_m = 1.0\n\
             time_zone = \"UTC\"\n[database]\npath = \"{}\"\n[[upload]]\ntype = \"http\"\n\
             name = \"srv\"\nurl = \"https://weather.example.org/up\"\ntoken_file = \"{}\"\n",
            dir.path().join("w.db").display(),
            big.display()
        ),
    )
    .unwrap();
    let out = run_bounded(&["check-config", config.to_str().unwrap()]).expect("exits");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("big-token") && stderr.contains("limit"),
        "{stderr}"
    );
}
