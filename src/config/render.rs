//! The effective config as TOML for `weatherd check-config`: serde's output, then
//! touched up so it reads like the example file (I2C addresses in hex, the vane
//! table as one compact array rather than sixteen `[[...]]` blocks).

use super::Config;
use toml_edit::{DocumentMut, Item, Value};

pub(crate) fn render(config: &Config) -> String {
    let plain = match toml::to_string_pretty(config) {
        Ok(s) => s,
        Err(e) => return format!("# cannot render the effective config: {e}\n"),
    };
    let Ok(mut doc) = plain.parse::<DocumentMut>() else {
        return plain;
    };
    if let Some(sensors) = doc.get_mut("sensors").and_then(Item::as_table_mut) {
        for (_, sensor) in sensors.iter_mut() {
            let Some(sensor) = sensor.as_table_mut() else {
                continue;
            };
            if let Some(item) = sensor.get_mut("address") {
                if let Some(address) = item.as_integer() {
                    // Parsing keeps the literal's spelling, which is the only public way to set it.
                    if let Ok(hex) = format!("{address:#04x}").parse::<Value>() {
                        *item = Item::Value(hex);
                    }
                }
            }
            if let Some(Item::ArrayOfTables(rows)) = sensor.get("table").cloned() {
                let mut array = rows.into_array();
                for value in array.iter_mut() {
                    value.decor_mut().set_prefix("\n    ");
                }
                array.set_trailing_comma(true);
                array.set_trailing("\n");
                // Removed and re-inserted so the key gets fresh `key = ` formatting.
                sensor.remove("table");
                sensor.insert("table", Item::Value(Value::Array(array)));
            }
        }
    }
    // The spike test's limits are plain keys of `[qc]`, beside its range tables (see
    // `parse`), so serde (which skips them) cannot place them.
    if let Ok(Ok(spike)) = toml::to_string(&config.spike).map(|s| s.parse::<DocumentMut>()) {
        let qc = doc
            .entry("qc")
            .or_insert_with(|| Item::Table(toml_edit::Table::new()));
        if let Some(qc) = qc.as_table_mut() {
            qc.set_implicit(false);
            for (key, item) in spike.iter() {
                qc.insert(key, item.clone());
            }
        }
    }
    format!("# Effective configuration: the file as weatherd reads it, with every default filled in.\n\n{doc}")
}
