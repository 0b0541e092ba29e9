//! Starting and stopping the uploaders of a running station.

use super::http::HttpDestination;
use super::mqtt::MqttDestination;
use super::outbox::{self, Policy, Summary};
use super::{Destination, UploadConfig};
use crate::config::Config;
use crate::store::Store;
use crate::time::Timestamp;
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The running uploaders: wake them after each stored record, stop them at the end.
pub struct Uploads {
    tasks: Vec<(String, JoinHandle<Option<Summary>>)>,
    wake: watch::Sender<i64>,
    stop: watch::Sender<bool>,
}

impl Uploads {
    /// No uploaders (no `[[upload]]` tables).
    pub fn none() -> Uploads {
        Uploads {
            tasks: Vec::new(),
            wake: watch::channel(0).0,
            stop: watch::channel(false).0,
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
    /// grace period (then it is abandoned and re-sent next run).
    pub async fn shutdown(self, grace: Duration) -> Vec<(String, Option<Summary>)> {
        self.stop.send_replace(true);
        let mut out = Vec::new();
        for (name, mut task) in self.tasks {
            // A little beyond the uploaders' own grace, for the final status write.
            let done = tokio::time::timeout(grace + Duration::from_secs(1), &mut task).await;
            let summary = match done {
                Ok(Ok(summary)) => summary,
                Ok(Err(e)) => {
                    tracing::error!(destination = %name, "uploader failed: {e}");
                    None
                }
                Err(_) => {
                    task.abort();
                    None
                }
            };
            out.push((name, summary));
        }
        out
    }
}

/// Starts one uploader task per `[[upload]]` table, each with its own connection to the
/// database at `db_path`. A destination that cannot be set up (unreadable token file,
/// bad CA file) is logged once and marked stopped in the database; the station and the
/// other destinations run on.
pub fn spawn_all(config: &Config, db_path: &Path, grace: Duration) -> Uploads {
    let mut uploads = Uploads::none();
    let station_id = super::station_id(&config.station.name);
    for upload in &config.upload {
        let name = upload.name().to_string();
        let mut policy = Policy::from_common(&upload.common());
        policy.shutdown_grace = grace;
        let store = match Store::open(db_path, config.time_zone()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(destination = %name, "uploader cannot open the database: {e}");
                continue;
            }
        };
        let task = match upload {
            UploadConfig::Http(c) => match HttpDestination::new(c, &station_id) {
                Ok(d) => uploads.spawn(&name, &station_id, store, d, policy),
                Err(e) => setup_failed(store, &name, &e.to_string()),
            },
            UploadConfig::Mqtt(c) => match MqttDestination::new(c, &station_id) {
                Ok(d) => uploads.spawn(&name, &station_id, store, d, policy),
                Err(e) => setup_failed(store, &name, &e.to_string()),
            },
        };
        if let Some(task) = task {
            uploads.tasks.push((name, task));
        }
    }
    uploads
}

impl Uploads {
    fn spawn<D: Destination>(
        &self,
        name: &str,
        station_id: &str,
        store: Store,
        destination: D,
        policy: Policy,
    ) -> Option<JoinHandle<Option<Summary>>> {
        let mut stop = self.stop.subscribe();
        let wake = self.wake.subscribe();
        let (name, station_id) = (name.to_string(), station_id.to_string());
        Some(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            let log_name = name.clone();
            match outbox::run_uploader(
                name,
                station_id,
                store,
                destination,
                policy,
                Some(wake),
                shutdown,
            )
            .await
            {
                Ok(summary) => Some(summary),
                Err(e) => {
                    tracing::error!(destination = %log_name, "uploader stopped: database error: {e}");
                    None
                }
            }
        }))
    }
}

fn setup_failed(mut store: Store, name: &str, reason: &str) -> Option<JoinHandle<Option<Summary>>> {
    tracing::error!(destination = %name, error = %reason, "upload disabled: cannot set up the destination");
    let state = format!("stopped: {reason}");
    if let Err(e) = store.set_upload_state(name, &state, Some((reason, Timestamp::now()))) {
        tracing::error!(destination = %name, "cannot record the upload status: {e}");
    }
    None
}
