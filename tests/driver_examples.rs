//! Each driver module owns its example table (`SensorKind::EXAMPLE`, listed by the
//! registry as `SensorConfig::EXAMPLES`): every one parses, and
//! `weatherd.example.toml` shows the same table with the same key lines and values,
//! so a driver's module and the example cannot drift apart.

use weatherd::config::{Config, SensorConfig, EXAMPLE_TOML};

const STATION: &str = "[station]\nname = \"x\"\nlatitude = 52.0\nlongitude = 0.1\n";

/// `[sensors.NAME]` → NAME.
fn table_name(snippet: &str) -> &str {
    let header = snippet.trim().lines().next().expect("a header line");
    header
        .strip_prefix("[sensors.")
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or_else(|| panic!("the snippet starts with [sensors.NAME], not {header:?}"))
}

/// The key lines of the example's `[sensors.NAME]` table, active or commented out
/// with `#   ` (an optional add-on); `None` when the example has no such table.
fn example_table(name: &str) -> Option<Vec<String>> {
    let header = format!("[sensors.{name}]");
    let lines: Vec<&str> = EXAMPLE_TOML.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == header || l.strip_prefix("#   ") == Some(header.as_str()))?;
    let commented = lines[at].starts_with('#');
    let body = lines[at + 1..].iter();
    let keys: Vec<String> = if commented {
        body.take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("#   "))
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    } else {
        body.take_while(|l| !l.starts_with('['))
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.to_string())
            .collect()
    };
    Some(keys)
}

fn parse(name: &str, table: &str) -> SensorConfig {
    let text = format!("{STATION}{table}");
    let config = Config::from_toml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.sensors[name].clone()
}

#[test]
fn every_registered_driver_has_an_example_table() {
    let types: Vec<&str> = SensorConfig::EXAMPLES.iter().map(|(t, _)| *t).collect();
    assert_eq!(types, SensorConfig::TYPES);
}

#[test]
fn each_drivers_example_parses_and_matches_the_example_config() {
    for (type_name, snippet) in SensorConfig::EXAMPLES {
        let name = table_name(snippet);
        let own = parse(name, snippet);
        assert_eq!(own.type_name(), *type_name, "{snippet}");

        let keys = example_table(name)
            .unwrap_or_else(|| panic!("weatherd.example.toml has no [sensors.{name}] table"));
        for line in snippet.trim().lines().skip(1) {
            assert!(
                keys.iter().any(|k| k == line),
                "weatherd.example.toml's [sensors.{name}] lacks the line {line:?} of the \
                 {type_name} module's EXAMPLE; it has {keys:?}"
            );
        }
        let shown = parse(name, &format!("[sensors.{name}]\n{}\n", keys.join("\n")));
        assert_eq!(
            shown, own,
            "weatherd.example.toml's [sensors.{name}] and the {type_name} module's EXAMPLE differ"
        );
    }
}

#[test]
fn a_table_that_differs_from_its_module_is_caught() {
    // The check above can fail: a changed value in the example is seen.
    let (_, snippet) = SensorConfig::EXAMPLES
        .iter()
        .find(|(t, _)| *t == "bh1750")
        .expect("the BH1750 is registered");
    let changed = snippet.replace("address = 0x23", "address = 0x5c");
    assert_ne!(parse("light", snippet), parse("light", &changed));
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// An add-on driver has one room (issue 10): its type name appears in `src/` only in
/// its own module and in the registry, so the next driver, written the same way, touches
/// nothing else (`grep -ril sht31 src/`). The standard build's five drivers are the
/// core's own vocabulary (the aggregator knows the anemometer and the rain gauge, the
/// simulator and `probe` the BME280, the DS18B20's 1-Wire bus and the vane's ADC), so
/// they are not held to this.
#[test]
fn an_add_on_driver_is_named_only_in_its_module_and_the_registry() {
    const STANDARD: [&str; 5] = ["bme280", "ds18b20", "wind_vane", "anemometer", "rain_gauge"];
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let rel = f
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(f).unwrap().to_lowercase())
        })
        .collect();
    let add_ons: Vec<&str> = SensorConfig::TYPES
        .iter()
        .copied()
        .filter(|t| !STANDARD.contains(t))
        .collect();
    assert!(add_ons.contains(&"sht31"), "{add_ons:?}");
    for ty in add_ons {
        let mut naming: Vec<&str> = texts
            .iter()
            .filter(|(_, text)| text.contains(ty))
            .map(|(rel, _)| rel.as_str())
            .collect();
        naming.sort_unstable();
        let own = format!("sensors/{ty}");
        let allowed = |rel: &str| {
            rel == "sensors/mod.rs"
                || rel == format!("{own}.rs")
                || rel.starts_with(&format!("{own}/"))
        };
        assert!(
            naming.iter().all(|rel| allowed(rel)),
            "`{ty}` is named outside its module and the registry: {naming:?}"
        );
        assert!(naming.contains(&"sensors/mod.rs"), "{ty}: {naming:?}");
    }
}
