//! Which Home Assistant entities a station has and how HA shows each: the standard
//! quantities and derived values with HA's device classes and units, and extra
//! quantities mapped from their unit suffix.

use super::RAIN_TODAY;

/// One Home Assistant sensor: a field of the record, and how HA should show it.
pub struct Entity {
    /// The record field (or `rain_today_mm`, at the document's top level).
    pub field: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    /// HA's sensor device class; `None` where HA has none that fits this unit.
    pub device_class: Option<&'static str>,
    pub state_class: &'static str,
    /// The count column and the sensor quantity behind it: a count above zero or a
    /// fault of that quantity means the station has the sensor (a value may be NULL
    /// for other reasons: no rain rate without tips, no direction in a calm).
    pub source: (&'static str, &'static str),
}

/// The standard quantities offered to Home Assistant, with HA's device classes and
/// units (from HA's sensor documentation: each unit is one HA allows for the class).
/// Extra quantities (any other name a driver reports) get theirs from
/// [`extra_sensor`].
pub const ENTITIES: [Entity; 16] = [
    e("temperature_c", "Temperature", "°C", Some("temperature"), T),
    e("humidity_pct", "Humidity", "%", Some("humidity"), H),
    e(
        "pressure_hpa",
        "Station pressure",
        "hPa",
        Some("atmospheric_pressure"),
        P,
    ),
    e(
        "sea_level_pressure_hpa",
        "Sea-level pressure",
        "hPa",
        Some("atmospheric_pressure"),
        P,
    ),
    e(
        "ground_temperature_c",
        "Ground temperature",
        "°C",
        Some("temperature"),
        G,
    ),
    e("dew_point_c", "Dew point", "°C", Some("temperature"), H),
    e(
        "wind_speed_kmh",
        "Wind speed",
        "km/h",
        Some("wind_speed"),
        W,
    ),
    e("wind_gust_kmh", "Wind gust", "km/h", Some("wind_speed"), W),
    // HA's `wind_direction` class exists only since HA 2025.3, and wants the state class
    // `measurement_angle`, which older versions reject (so the entity would vanish
    // there). Without a class, with unit `°` and `measurement`, every HA version shows
    // and records it. The vane's own count decides whether the station has one.
    e("wind_dir_deg", "Wind direction", "°", None, D),
    e(
        "rain_rate_mm_per_h",
        "Rain rate",
        "mm/h",
        Some("precipitation_intensity"),
        R,
    ),
    Entity {
        field: RAIN_TODAY,
        name: "Rain today",
        unit: "mm",
        device_class: Some("precipitation"),
        state_class: "total_increasing",
        source: R,
    },
    // The derived values (issue 12 item 8): present with the sensor they come from;
    // NULL in the state (HA's "unknown") where their formula does not apply.
    e(
        "altimeter_hpa",
        "Altimeter setting",
        "hPa",
        Some("atmospheric_pressure"),
        P,
    ),
    e("heat_index_c", "Heat index", "°C", Some("temperature"), T),
    e("wind_chill_c", "Wind chill", "°C", Some("temperature"), T),
    e(
        "apparent_temperature_c",
        "Apparent temperature",
        "°C",
        Some("temperature"),
        T,
    ),
    // Rain in the record's interval: `measurement`, not a total (that is rain today).
    e("rain_mm", "Rain", "mm", Some("precipitation"), R),
];

const T: (&str, &str) = ("temperature_n", "temperature_c");
const H: (&str, &str) = ("humidity_n", "humidity_pct");
const P: (&str, &str) = ("pressure_n", "pressure_hpa");
const G: (&str, &str) = ("ground_temperature_n", "ground_temperature_c");
const W: (&str, &str) = ("wind_n", "wind_speed_kmh");
const D: (&str, &str) = ("wind_dir_n", "wind_dir_deg");
const R: (&str, &str) = ("rain_n", "rain_mm");

const fn e(
    field: &'static str,
    name: &'static str,
    unit: &'static str,
    device_class: Option<&'static str>,
    source: (&'static str, &'static str),
) -> Entity {
    Entity {
        field,
        name,
        unit,
        device_class,
        state_class: "measurement",
        source,
    }
}

/// One entity as announced: a standard one from [`ENTITIES`] or one for an extra
/// quantity, with the template that reads its value from the state document.
#[derive(Clone, Debug, PartialEq)]
pub struct Sensor {
    /// The record field, the extra quantity's name, or `rain_today_mm`.
    pub field: String,
    pub name: String,
    pub unit: String,
    pub device_class: Option<&'static str>,
    pub state_class: &'static str,
    pub value_template: String,
}

impl From<&Entity> for Sensor {
    fn from(e: &Entity) -> Sensor {
        let value_template = if e.field == RAIN_TODAY {
            format!("{{{{ value_json.{RAIN_TODAY} }}}}")
        } else {
            format!("{{{{ value_json.record.{} }}}}", e.field)
        };
        Sensor {
            field: e.field.to_string(),
            name: e.name.to_string(),
            unit: e.unit.to_string(),
            device_class: e.device_class,
            state_class: e.state_class,
            value_template,
        }
    }
}

/// Unit suffixes of extra quantity names, the unit HA spells for each, and HA's
/// device class for it (`None` where HA has none for the unit, or where the class
/// depends on what is measured: see [`extra_class`]). Longest suffixes first.
const SUFFIXES: [(&str, &str, Option<&str>); 22] = [
    ("_mm_per_h", "mm/h", Some("precipitation_intensity")),
    ("_w_m2", "W/m²", Some("irradiance")),
    ("_wm2", "W/m²", Some("irradiance")),
    ("_ug_m3", "µg/m³", None),
    ("_ugm3", "µg/m³", None),
    ("_lux", "lx", Some("illuminance")),
    ("_kmh", "km/h", Some("wind_speed")),
    ("_uvi", "UV index", None),
    ("_hpa", "hPa", Some("atmospheric_pressure")),
    ("_kpa", "kPa", Some("pressure")),
    ("_pa", "Pa", Some("pressure")),
    ("_pct", "%", None),
    ("_ppm", "ppm", None),
    ("_deg", "°", None),
    ("_hz", "Hz", Some("frequency")),
    ("_mm", "mm", Some("precipitation")),
    ("_cm", "cm", Some("distance")),
    ("_m", "m", Some("distance")),
    ("_c", "°C", Some("temperature")),
    ("_v", "V", Some("voltage")),
    ("_a", "A", Some("current")),
    ("_w", "W", Some("power")),
];

/// The device class of a unit HA shares between several classes, from the words of
/// the quantity's name (`soil_moisture_pct`, `co2_ppm`, `pm25_ug_m3`).
fn extra_class(stem: &str, unit: &str) -> Option<&'static str> {
    let has = |w: &str| stem.split('_').any(|part| part == w);
    match unit {
        "%" if stem.contains("humidity") => Some("humidity"),
        "%" if stem.contains("moisture") => Some("moisture"),
        "%" if has("battery") => Some("battery"),
        "ppm" if has("co2") => Some("carbon_dioxide"),
        "µg/m³" if has("pm25") => Some("pm25"),
        "µg/m³" if has("pm10") => Some("pm10"),
        _ => None,
    }
}

/// The entity of an extra quantity (a driver's name outside the standard record, e.g.
/// a light sensor's `illuminance_lux`): unit and device class from its unit suffix, state
/// class `measurement`, value = the record's mean. An unknown suffix becomes the unit
/// as written, without a device class (HA takes any unit then).
pub fn extra_sensor(name: &str) -> Sensor {
    let (stem, unit, class) = match SUFFIXES
        .iter()
        .find(|(suffix, _, _)| name.len() > suffix.len() && name.ends_with(suffix))
    {
        Some((suffix, unit, class)) => {
            let stem = &name[..name.len() - suffix.len()];
            (stem, unit.to_string(), class.or(extra_class(stem, unit)))
        }
        None => match name.rsplit_once('_') {
            Some((stem, unit)) => (stem, unit.to_string(), None),
            None => (name, String::new(), None),
        },
    };
    let words = stem.replace('_', " ");
    let mut chars = words.chars();
    let title = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => name.to_string(),
    };
    Sensor {
        field: name.to_string(),
        name: title,
        unit,
        device_class: class,
        state_class: "measurement",
        // A record whose extra sensor failed the whole interval has no entry: `none`
        // renders as `None`, HA's "unknown", where a missing key would be an error.
        value_template: format!(
            "{{{{ value_json.record.extras['{name}'].value \
             if '{name}' in value_json.record.extras else none }}}}"
        ),
    }
}

/// The entity of a field: a standard one, or an extra quantity's.
pub fn sensor(field: &str) -> Sensor {
    match ENTITIES.iter().find(|e| e.field == field) {
        Some(e) => e.into(),
        None => extra_sensor(field),
    }
}
