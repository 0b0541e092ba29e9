//! Starting and stopping the uploaders of a running station.

use super::outbox::{self, Policy, Summary};
use super::Destination;
use crate::config::Config;
use crate::store::{Outbox, Store};
use crate::time::Timestamp;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The running uploaders: wake them after each stored record, drain or stop them at
/// the end.
pub struct Uploads {
    tasks: Vec<(String, JoinHandle<Option<Summary>>)>,
    wake: watch::Sender<i64>,
    drain: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    /// Handed to each destination before it starts (`Destination::attach`).
    site: Option<super::Site>,
}

impl Uploads {
    /// No uploaders (no `[[upload]]` tables).
    pub fn none() -> Uploads {
        Uploads {
            tasks: Vec::new(),
            wake: watch::channel(0).0,
            drain: watch::channel(false).0,
            stop: watch::channel(false).0,
            site: None,
        }
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Tells every uploader a record with this id was stored.
    pub fn notify(&self, id: i64) {
        self.wake.send_replace(id);
    }

    /// Asks every uploader to stop and waits for them: a batch in flight gets the
    /// grace period, then it is abandoned (its records stay unacknowledged and are
    /// re-sent next run). All uploaders share one deadline, so the whole stop takes
    /// at most about `grace` however many destinations hang.
    pub async fn shutdown(self, grace: Duration) -> Vec<(String, Option<Summary>)> {
        stop_all(&self.stop, self.tasks, grace).await
    }

    /// Has every uploader send everything stored (partial batches too) and waits until
    /// all are acknowledged, at most `timeout`, or until `interrupt` resolves (a
    /// signal); then stops whatever is still running as [`Uploads::shutdown`] does.
    pub async fn drain<F: Future<Output = ()>>(
        self,
        timeout: Duration,
        grace: Duration,
        interrupt: F,
    ) -> Vec<(String, Option<Summary>)> {
        let Uploads {
            tasks, drain, stop, ..
        } = self;
        drain.send_replace(true);
        let deadline = Instant::now() + timeout;
        tokio::pin!(interrupt);
        let mut out = Vec::new();
        let mut rest = Vec::new();
        let mut cut: Option<&str> = None;
        for (name, mut task) in tasks {
            if cut.is_none() {
                tokio::select! {
                    r = tokio::time::timeout_at(deadline, &mut task) => match r {
                        Ok(joined) => {
                            out.push((name.clone(), summary_of(&name, joined)));
                            continue;
                        }
                        Err(_) => cut = Some("the drain timeout passed"),
                    },
                    _ = &mut interrupt => cut = Some("shutdown was requested"),
                }
            }
            rest.push((name, task));
        }
        if let Some(why) = cut {
            let names: Vec<&str> = rest.iter().map(|(n, _)| n.as_str()).collect();
            tracing::warn!(
                destinations = %names.join(", "),
                "upload drain cut short ({why}); the unsent records wait in the database for the next run"
            );
        }
        out.extend(stop_all(&stop, rest, grace).await);
        out
    }
}

/// Stops uploaders with one shared deadline (see [`Uploads::shutdown`]).
async fn stop_all(
    stop: &watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<Option<Summary>>)>,
    grace: Duration,
) -> Vec<(String, Option<Summary>)> {
    stop.send_replace(true);
    // A little beyond the uploaders' own grace, for the final status write.
    let deadline = Instant::now() + grace + Duration::from_secs(1);
    let mut out = Vec::new();
    for (name, mut task) in tasks {
        let summary = match tokio::time::timeout_at(deadline, &mut task).await {
            Ok(joined) => summary_of(&name, joined),
            Err(_) => {
                task.abort();
                None
            }
        };
        out.push((name, summary));
    }
    out
}

fn summary_of(
    name: &str,
    joined: Result<Option<Summary>, tokio::task::JoinError>,
) -> Option<Summary> {
    match joined {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!(destination = %name, "uploader failed: {e}");
            None
        }
    }
}

/// Starts one uploader task per `[[upload]]` table, each with its own connection to the
/// database at `db_path`. A destination that cannot be set up (unreadable token file,
/// bad CA file) is logged once and marked stopped in the database; the station and the
/// other destinations run on.
pub fn spawn_all(config: &Config, db_path: &Path, grace: Duration) -> Uploads {
    spawn_all_on(config, db_path, grace, super::SiteClock::Real)
}

/// [`spawn_all`] for a station on `clock` (the current-conditions networks' schedules
/// follow it: simulated under `--simulate`).
pub fn spawn_all_on(
    config: &Config,
    db_path: &Path,
    grace: Duration,
    clock: super::SiteClock,
) -> Uploads {
    let mut uploads = Uploads::none();
    uploads.site = Some(super::Site {
        db_path: db_path.to_path_buf(),
        latitude: config.station.latitude,
        longitude: config.station.longitude,
        elevation_m: config.station.elevation_m,
        time_zone: config.time_zone(),
        clock,
    });
    let station_id = super::station_id(&config.station.name);
    for upload in &config.upload {
        let name = upload.name().to_string();
        let mut policy = Policy::from_common(&upload.common());
        policy.shutdown_grace = grace;
        if upload.is_current_conditions() {
            // Each record as soon as it is stored: the network's own schedule decides.
            policy.batch_max_age = Duration::ZERO;
        }
        let outbox = match Store::open_outbox(db_path) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(destination = %name, "uploader cannot open the database: {e}");
                continue;
            }
        };
        // The registry builds the destination its `type` names.
        let task = upload.start(&uploads, &station_id, outbox, policy);
        if let Some(task) = task {
            uploads.tasks.push((name, task));
        }
    }
    uploads
}

impl Uploads {
    pub(super) fn spawn<D: Destination>(
        &self,
        name: &str,
        station_id: &str,
        outbox: Outbox,
        destination: D,
        policy: Policy,
    ) -> Option<JoinHandle<Option<Summary>>> {
        let mut stop = self.stop.subscribe();
        let wake = self.wake.subscribe();
        let drain = self.drain.subscribe();
        let (name, station_id) = (name.to_string(), station_id.to_string());
        let mut destination = destination;
        if let Some(site) = &self.site {
            destination.attach(site);
        }
        Some(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            Some(
                outbox::run_uploader_draining(
                    name,
                    station_id,
                    outbox,
                    destination,
                    policy,
                    Some(wake),
                    Some(drain),
                    shutdown,
                )
                .await,
            )
        }))
    }
}

pub(super) fn setup_failed(
    mut outbox: Outbox,
    name: &str,
    reason: &str,
) -> Option<JoinHandle<Option<Summary>>> {
    tracing::error!(destination = %name, error = %reason, "upload disabled: cannot set up the destination");
    let state = format!("stopped: {reason}");
    if let Err(e) = outbox.set_upload_state(name, &state, Some((reason, Timestamp::now()))) {
        tracing::error!(destination = %name, "cannot record the upload status: {e}");
    }
    None
}
