//! "Did you mean …?" for misspelt keys, sensor types and time zones.

/// The candidate closest to `word` by edit distance (case-insensitive), if it is
/// close enough to be a plausible typo rather than a different word.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| {
            let lower = c.to_ascii_lowercase();
            // A key written without its unit suffix (`sample_interval`) is a near miss too.
            let truncated = word.len() >= 4 && lower.starts_with(&word);
            (
                if truncated {
                    1
                } else {
                    edit_distance(&word, &lower)
                },
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" or nothing.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        assert_eq!(
            closest("pinn", ["pin", "kmh_per_hz", "debounce_ms"]),
            Some("pin")
        );
        assert_eq!(
            closest("europe/londn", ["Europe/London", "Europe/Lisbon"]),
            Some("Europe/London")
        );
        assert_eq!(
            closest("raingauge", ["rain_gauge", "anemometer"]),
            Some("rain_gauge")
        );
        assert_eq!(closest("xyz", ["pin", "bus"]), None);
        assert_eq!(
            closest("debounce", ["pin", "debounce_ms"]),
            Some("debounce_ms")
        );
    }
}
