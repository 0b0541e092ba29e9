//! The store report: records the station holds in memory while the database refuses
//! writes, in a small file next to the database that `weatherd status` reads.

use crate::time::Timestamp;
use std::path::{Path, PathBuf};

/// What the station reports about records waiting in its memory (see
/// `station::Pending`): `weatherd status` reads it, because those records are not in
/// the database, the one thing status otherwise reads.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PendingState {
    /// Records waiting to be written.
    pub waiting: u64,
    /// When the database first refused a write in the current outage.
    pub since: Option<Timestamp>,
    pub last_error: Option<String>,
    /// Records lost by this run of the station: dropped because the queue was full,
    /// or still waiting when it stopped.
    pub dropped: u64,
    /// When the station wrote this report.
    pub updated: Timestamp,
    pub pid: u32,
}

/// The report file: `<database>.state`, next to the database (its directory is the
/// one place the daemon may write).
///
/// It is written while the database refuses writes, which includes a full disk, so the
/// file is made once at start-up with a fixed size ([`PendingReport::SIZE`] bytes, all
/// written, so its blocks are allocated) and afterwards only overwritten in place: on
/// ext4 (Raspberry Pi OS) that needs no free space. If a write fails anyway (e.g. the
/// file could not be created), the log says so once and `status` shows the last report
/// it finds, with its time.
pub struct PendingReport {
    path: PathBuf,
    file: Option<std::fs::File>,
    warned: bool,
}

impl PendingReport {
    pub const SIZE: usize = 1024;

    /// The report file of a database.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut p = db.as_os_str().to_os_string();
        p.push(".state");
        PathBuf::from(p)
    }

    /// Creates (or reuses) the file and reports an empty queue.
    pub fn open(db: &Path) -> PendingReport {
        let path = Self::path_for(db);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path);
        let mut report = PendingReport {
            path,
            file: None,
            warned: false,
        };
        match file {
            Ok(f) => report.file = Some(f),
            Err(e) => report.warn(&e),
        }
        report.write(&PendingState {
            updated: Timestamp::now(),
            pid: std::process::id(),
            ..Default::default()
        });
        report
    }

    fn warn(&mut self, e: &std::io::Error) {
        if !self.warned {
            self.warned = true;
            tracing::warn!(
                path = %self.path.display(),
                "cannot write the store report that `weatherd status` reads: {e}"
            );
        }
    }

    pub fn write(&mut self, state: &PendingState) {
        use std::os::unix::fs::FileExt;
        let Some(file) = &self.file else { return };
        let mut text = format!(
            "weatherd store report\nwaiting={}\nsince={}\ndropped={}\nupdated={}\npid={}\n",
            state.waiting,
            state.since.map_or(String::new(), |t| t.secs().to_string()),
            state.dropped,
            state.updated.secs(),
            state.pid,
        );
        if let Some(e) = &state.last_error {
            // One line, and short enough to fit the fixed size.
            let line: String = e
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(400)
                .collect();
            text.push_str(&format!("last_error={line}\n"));
        }
        let mut bytes = text.into_bytes();
        bytes.truncate(Self::SIZE);
        // Padding keeps the size fixed, so a rewrite never needs a new block.
        bytes.resize(Self::SIZE, b' ');
        if let Err(e) = file.write_all_at(&bytes, 0) {
            self.warn(&e);
        }
    }

    /// Reads a database's report; `None` if there is none (no station ran on it since
    /// this feature, or the file cannot be read).
    pub fn read(db: &Path) -> Option<PendingState> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(Self::path_for(db))
            .ok()?
            .take(Self::SIZE as u64)
            .read_to_string(&mut text)
            .ok()?;
        let mut lines = text.lines();
        if lines.next()? != "weatherd store report" {
            return None;
        }
        let mut state = PendingState::default();
        for line in lines {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim_end();
            let int = || value.parse::<i64>().ok();
            match key {
                "waiting" => state.waiting = value.parse().ok()?,
                "since" => state.since = int().map(Timestamp::from_secs),
                "dropped" => state.dropped = value.parse().ok()?,
                "updated" => state.updated = Timestamp::from_secs(int()?),
                "pid" => state.pid = value.parse().ok()?,
                "last_error" => state.last_error = Some(value.to_string()),
                _ => {}
            }
        }
        Some(state)
    }
}
