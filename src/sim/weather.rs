//! TEMPORARY stub (replaced by the sim branch).
pub struct Weather;
impl Weather {
    pub fn new(_seed: u64, _latitude: f64, _elevation_m: f64) -> Self {
        Weather
    }
}
