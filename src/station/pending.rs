//! Records the database has not taken yet: kept in order, retried with backoff.

use super::*;

/// The first wait before writing again after the database refused a write; doubled
/// after each further refusal up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Records the database has not taken yet, oldest first.
///
/// A write can fail for a passing reason: another program holds the write lock longer
/// than the busy timeout, the disk is full, an I/O error. The record then waits here,
/// in order, and the station keeps sampling; writing is retried with backoff (1 s,
/// doubling to 60 s) and every waiting record is written, in order, as soon as the
/// database takes one. The queue holds one day of records (1440 at the default 60-s
/// archive interval, about 1 MB of memory); beyond that the oldest waiting record is
/// dropped, logged at error level and counted (`RunSummary::records_lost`).
///
/// The log says when writing starts failing and when it recovers, not once per record.
/// The daemon reports the queue in a small file next to the database (see
/// [`crate::store::PendingReport`]) that `weatherd status` reads.
pub(crate) struct Pending {
    pub(super) db: PathBuf,
    queue: VecDeque<ArchiveRecord>,
    capacity: usize,
    /// Wall time of the first refused write of the current outage.
    failing_since: Option<Timestamp>,
    last_error: Option<String>,
    next_try: Option<std::time::Instant>,
    backoff: Duration,
    /// Records lost in this run: dropped from a full queue, or still waiting when it
    /// ended.
    dropped: u64,
    report: crate::store::PendingReport,
}

impl Pending {
    pub(super) fn new(db: &Path, config: &Config) -> Pending {
        let per_day = 86_400 / u64::from(config.archive_interval_seconds.max(1));
        Pending {
            db: db.to_path_buf(),
            queue: VecDeque::new(),
            capacity: usize::try_from(per_day).unwrap_or(1440).max(1),
            failing_since: None,
            last_error: None,
            next_try: None,
            backoff: RETRY_FIRST,
            dropped: 0,
            report: crate::store::PendingReport::open(db),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn is_full(&self) -> bool {
        self.queue.len() >= self.capacity
    }

    pub(super) fn push(&mut self, rec: ArchiveRecord, summary: &mut RunSummary) {
        if self.is_full() {
            if let Some(old) = self.queue.pop_front() {
                self.dropped += 1;
                summary.records_lost += 1;
                // Loud, but not once a minute for a day: the first and then hourly.
                if self.dropped == 1 || self.dropped % (self.capacity as u64 / 24).max(1) == 0 {
                    tracing::error!(
                        start = %old.start,
                        dropped = self.dropped,
                        waiting = self.queue.len(),
                        "the database has refused writes for a day of records; dropping the oldest waiting record"
                    );
                }
            }
        }
        self.queue.push_back(rec);
    }

    /// Writes waiting records, oldest first, until the queue is empty or the database
    /// refuses one. Unless `now_anyway`, does nothing before the backoff has elapsed.
    pub(super) fn write(
        &mut self,
        store: &mut Store,
        summary: &mut RunSummary,
        uploads: &crate::upload::Uploads,
        now_anyway: bool,
    ) {
        if self.queue.is_empty()
            || (!now_anyway && self.next_try.is_some_and(|t| std::time::Instant::now() < t))
        {
            return;
        }
        let recovering = self.failing_since.is_some();
        let mut written = 0u64;
        while let Some(rec) = self.queue.front() {
            match store.insert(rec) {
                Ok(id) => {
                    // After the commit: tests that cut the power read these as
                    // acknowledgements.
                    tracing::debug!(id, start = %rec.start, "record stored");
                    summary.records_written += 1;
                    written += 1;
                    uploads.notify(id);
                    self.queue.pop_front();
                }
                Err(e) if is_permanent(&e) => {
                    // Retrying cannot help a record the store finds malformed.
                    tracing::error!(start = %rec.start, "record not stored: {e}");
                    summary.records_lost += 1;
                    self.queue.pop_front();
                }
                Err(e) => {
                    let message = e.to_string();
                    if self.failing_since.is_none() {
                        summary.store_outages += 1;
                        self.failing_since = Some(Timestamp::now());
                        self.backoff = RETRY_FIRST;
                        tracing::error!(
                            db = %self.db.display(),
                            start = %rec.start,
                            "cannot write to the database: {message}; keeping records in memory \
                             (up to {}) and retrying",
                            self.capacity
                        );
                    } else {
                        self.backoff = (self.backoff * 2).min(RETRY_MAX);
                    }
                    self.last_error = Some(message);
                    self.next_try = Some(std::time::Instant::now() + self.backoff);
                    self.publish();
                    return;
                }
            }
        }
        if recovering {
            tracing::info!(
                db = %self.db.display(),
                written,
                since = %self.failing_since.unwrap_or_default(),
                "the database takes writes again; every waiting record is written"
            );
            self.failing_since = None;
            self.next_try = None;
            self.publish();
        }
    }

    /// Retries (with backoff, in real time) until the queue is empty or `grace` has
    /// passed; true when everything was written.
    pub(super) async fn drain(
        &mut self,
        store: &mut Store,
        summary: &mut RunSummary,
        uploads: &crate::upload::Uploads,
        grace: Duration,
    ) -> bool {
        let deadline = std::time::Instant::now() + grace;
        self.write(store, summary, uploads, true);
        while !self.queue.is_empty() {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let wake = self.next_try.unwrap_or(now).min(deadline);
            tokio::time::sleep(wake.saturating_duration_since(now)).await;
            self.write(store, summary, uploads, true);
        }
        true
    }

    /// At the end of a run: counts what is still waiting as lost and returns the error
    /// to report, if any record was lost in this run.
    pub(super) fn give_up(&mut self, summary: &mut RunSummary) -> Option<String> {
        let left = self.queue.len() as u64;
        summary.records_lost += left;
        self.dropped += left;
        self.queue.clear();
        if left > 0 {
            tracing::error!(
                db = %self.db.display(),
                lost = left,
                "records still waiting at the end of the run are lost"
            );
        }
        self.publish();
        (summary.records_lost > 0).then(|| {
            self.last_error
                .clone()
                .unwrap_or_else(|| "see the log".to_string())
        })
    }

    pub(super) fn publish(&mut self) {
        self.report.write(&crate::store::PendingState {
            waiting: self.queue.len() as u64,
            since: self.failing_since,
            last_error: self.last_error.clone(),
            dropped: self.dropped,
            updated: Timestamp::now(),
            pid: std::process::id(),
        });
    }
}

/// Errors no retry can fix: the record itself is refused.
fn is_permanent(e: &crate::store::StoreError) -> bool {
    use crate::store::StoreError;
    match e {
        StoreError::Overlap { .. } | StoreError::Invalid { .. } => true,
        StoreError::Sqlite(_) => e.is_constraint_violation(),
        // The database itself is unusable: a retry after the operator's fix may work.
        StoreError::Open { .. }
        | StoreError::Foreign { .. }
        | StoreError::TooNew { .. }
        | StoreError::Corrupt { .. } => false,
    }
}
