//! The MQTT destination.

use super::{Batch, DeliveryError, Destination, MqttConfig};

/// Publishes records over one persistent MQTT session.
pub struct MqttDestination {}

/// A destination that cannot be set up (bad credentials file, bad TLS settings).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl MqttDestination {
    /// Connects lazily: construction only checks the settings and credentials.
    pub fn new(config: &MqttConfig, station_id: &str) -> Result<MqttDestination, SetupError> {
        let _ = (config, station_id);
        Err(SetupError("MQTT is not implemented yet".into()))
    }
}

impl Destination for MqttDestination {
    async fn deliver(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let _ = batch;
        Err(DeliveryError::Permanent {
            message: "MQTT is not implemented yet".into(),
        })
    }
}
