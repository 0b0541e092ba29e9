//! The wiring guide and its diagram must put each sensor of the Argent/SparkFun kit on
//! the RJ11 conductors it really uses (anemometer: inner pair 2–3 of the wind cable;
//! wind vane: outer pair 1–4 of the same cable; rain gauge: inner pair 2–3 of its own
//! cable). A swapped pair wires the vane's resistor network to a GPIO input and the
//! anemometer's reed switch to the ADC: no wind speed and a stuck direction. These
//! tests read the assignment out of `wiring/README.md`'s RJ11 table and out of the
//! labels of `wiring/breadboard.svg`, so the two documents cannot drift apart again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The rows of the first Markdown table whose header row starts with `header`
/// (cells trimmed, header and separator rows left out).
fn markdown_table(text: &str, header: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(header));
    assert!(
        lines.next().is_some(),
        "no table with the header `{header}`"
    );
    lines
        .skip(1) // |---|---|
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

fn pins(cell: &str) -> BTreeSet<u8> {
    cell.split(',')
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("RJ11 pin `{p}` is not a number"))
        })
        .collect()
}

#[test]
fn readme_rj11_table_puts_the_anemometer_and_rain_gauge_inside_and_the_vane_outside() {
    let rows = markdown_table(&read("wiring/README.md"), "| cable | RJ11 pins |");
    // sensor -> (cable, pins, pair)
    let mut by_sensor = BTreeMap::new();
    for row in &rows {
        assert_eq!(
            row.len(),
            5,
            "RJ11 table row has {} cells: {row:?}",
            row.len()
        );
        let (cable, pin_cell, pair, sensor) = (&row[0], &row[1], &row[2], &row[3]);
        let pin_set = pins(pin_cell);
        let expected_pair = if pin_set == BTreeSet::from([2, 3]) {
            "inner"
        } else if pin_set == BTreeSet::from([1, 4]) {
            "outer"
        } else {
            panic!("RJ11 pins {pin_set:?} are neither the inner nor the outer pair")
        };
        assert_eq!(
            pair, expected_pair,
            "pins {pin_cell} are the {expected_pair} pair"
        );
        for name in ["anemometer", "wind vane", "rain gauge"] {
            if sensor.contains(name) {
                let previous = by_sensor.insert(name, (cable.clone(), pin_set.clone()));
                assert!(previous.is_none(), "{name} appears twice in the RJ11 table");
            }
        }
    }
    let expect = |name: &str, cable: &str, p: [u8; 2]| {
        let (got_cable, got_pins) = by_sensor
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from the RJ11 table"));
        assert_eq!(got_cable, cable, "{name}'s cable");
        assert_eq!(got_pins, &BTreeSet::from(p), "{name}'s RJ11 pins");
    };
    expect("anemometer", "wind", [2, 3]);
    expect("wind vane", "wind", [1, 4]);
    expect("rain gauge", "rain", [2, 3]);
}

#[test]
fn readme_has_a_parts_list_with_every_part_of_the_standard_build() {
    let rows = markdown_table(&read("wiring/README.md"), "| qty | part |");
    let parts: String = rows
        .iter()
        .map(|r| r.join(" ").to_lowercase() + "\n")
        .collect();
    for needle in [
        "raspberry pi",
        "bme280",
        "ds18b20",
        "4.7 kω",
        "mcp3008",
        "wind and rain kit",
        "rj11",
        "breadboard",
        "jumper wires",
        "power supply",
        "stevenson screen",
    ] {
        assert!(
            parts.contains(needle),
            "parts list lacks `{needle}`:\n{parts}"
        );
    }
    // Two 4.7 kΩ resistors: the 1-Wire pull-up and the vane divider.
    let resistors = rows
        .iter()
        .filter(|r| r[1].contains("4.7 kΩ resistor"))
        .count();
    assert_eq!(resistors, 2, "parts list: 4.7 kΩ pull-up and vane divider");
}

/// The text of every `<text>` element of an SVG, in document order.
fn svg_texts(svg: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text") {
        let after = &rest[start..];
        let open_end = after.find('>').expect("unterminated <text> tag");
        let close = after.find("</text>").expect("<text> without </text>");
        texts.push(after[open_end + 1..close].trim().to_string());
        rest = &after[close..];
    }
    texts
}

#[test]
fn diagram_labels_and_rj11_panel_agree_with_the_kit() {
    let texts = svg_texts(&read("wiring/breadboard.svg"));
    for t in &texts {
        assert!(
            !t.contains("middle"),
            "diagram still speaks of a middle pair: `{t}`"
        );
    }
    // The few lines under each sensor's label say which RJ11 pair it is on.
    let note_after = |label: &str| -> String {
        let i = texts
            .iter()
            .position(|t| t == label)
            .unwrap_or_else(|| panic!("diagram has no `{label}` label"));
        texts[i + 1..(i + 6).min(texts.len())].join(" ")
    };
    assert!(note_after("anemometer").contains("wind RJ11 inner pair, pins 2 and 3"));
    assert!(note_after("wind vane").contains("wind RJ11 outer pair, pins 1 and 4"));
    assert!(note_after("rain gauge").contains("(rain RJ11 inner pair, pins 2 and 3)"));

    // The RJ11 panel: "pin N" followed by what that pad is wired to, per cable.
    let panel_start = |title: &str| {
        texts
            .iter()
            .position(|t| t.starts_with(title))
            .unwrap_or_else(|| panic!("diagram has no `{title}` RJ11 breakout"))
    };
    let pads = |title: &str| -> BTreeMap<u8, String> {
        let start = panel_start(title);
        let mut pads = BTreeMap::new();
        let mut i = start + 1;
        while i + 1 < texts.len() {
            let Some(n) = texts[i].strip_prefix("pin ").and_then(|n| n.parse().ok()) else {
                break;
            };
            pads.insert(n, texts[i + 1].clone());
            i += 2;
        }
        pads
    };
    let wind = pads("wind cable");
    let rain = pads("rain cable");
    assert_eq!(
        wind.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{wind:?}"
    );
    assert_eq!(
        rain.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "{rain:?}"
    );
    for (pin, sensor) in [
        (1, "wind vane"),
        (2, "anemometer"),
        (3, "anemometer"),
        (4, "wind vane"),
    ] {
        assert!(
            wind[&pin].starts_with(sensor),
            "wind cable pin {pin}: `{}`",
            wind[&pin]
        );
    }
    for (pin, sensor) in [
        (1, "not connected"),
        (2, "rain gauge"),
        (3, "rain gauge"),
        (4, "not connected"),
    ] {
        assert!(
            rain[&pin].starts_with(sensor),
            "rain cable pin {pin}: `{}`",
            rain[&pin]
        );
    }
    // The anemometer's pin goes to GPIO5 and the rain gauge's to GPIO6, as in the pin table.
    assert!(wind
        .values()
        .any(|d| d.starts_with("anemometer") && d.contains("GPIO5")));
    assert!(rain
        .values()
        .any(|d| d.starts_with("rain gauge") && d.contains("GPIO6")));
    assert!(wind
        .values()
        .any(|d| d.starts_with("wind vane") && d.contains("CH0")));
}
