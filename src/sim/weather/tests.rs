use super::*;

#[test]
fn diurnal_shape_is_continuous_with_extremes_at_dawn_and_afternoon() {
    let w = Weather::new(1, 52.0, 0.0);
    let day0 = 180.0 * SECS_PER_DAY;
    let mut prev = w.diurnal_shape(day0);
    let (mut min, mut max) = ((f64::MAX, 0.0), (f64::MIN, 0.0));
    for k in 1..(2 * 24 * 60) {
        let s = day0 + k as f64 * 60.0;
        let v = w.diurnal_shape(s);
        assert!((v - prev).abs() < 0.05, "jump at minute {k}: {prev} -> {v}");
        prev = v;
        let h = (s / SECS_PER_HOUR) % 24.0;
        if v < min.0 {
            min = (v, h);
        }
        if v > max.0 {
            max = (v, h);
        }
    }
    assert!((max.1 - PEAK_HOUR).abs() < 0.1, "max at {}", max.1);
    // Midsummer at 52°N: sunrise about 03:45 solar time.
    assert!((3.4..4.5).contains(&min.1), "min at {}", min.1);
}

#[test]
fn station_pressure_falls_with_elevation() {
    let sea = Weather::new(1, 52.0, 0.0);
    let hill = Weather::new(1, 52.0, 1000.0);
    let t = Timestamp::from_secs(1_000_000);
    let ratio = hill.station_pressure_hpa(t) / sea.station_pressure_hpa(t);
    // 1000 m of standard atmosphere: 898.7 / 1013.25.
    assert!((ratio - 0.8870).abs() < 0.001, "{ratio}");
}

#[test]
fn magnus_humidity() {
    assert!((relative_humidity_pct(20.0, 20.0) - 100.0).abs() < 1e-9);
    let rh = relative_humidity_pct(20.0, 10.0);
    assert!((rh - 52.5).abs() < 0.5, "{rh}");
    assert_eq!(relative_humidity_pct(40.0, -40.0), 5.0);
}
