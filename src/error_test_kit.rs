//! What the tests of every typed error enum check first, written once: a list with
//! one value of each variant (none twice, as many as the enum has) whose messages each
//! contain their fix, as a `fix_of` match without a `_` arm names it (so a new variant
//! does not compile until it has one).

use std::fmt::{Debug, Display};

/// Checks `all` against `variants` and `fix_of`, and returns each value's message in
/// order, for the checks particular to that enum.
pub(crate) fn messages_with_their_fix<E: Debug + Display>(
    all: &[E],
    variants: usize,
    fix_of: impl Fn(&E) -> &'static str,
) -> Vec<String> {
    let kinds: std::collections::HashSet<_> = all.iter().map(std::mem::discriminant).collect();
    assert_eq!(kinds.len(), all.len(), "a variant is listed twice");
    assert_eq!(all.len(), variants, "a variant is missing from one_of_each");
    all.iter()
        .map(|e| {
            let text = e.to_string();
            assert!(
                text.contains(fix_of(e)),
                "{e:?} does not say the fix: {text}"
            );
            text
        })
        .collect()
}
