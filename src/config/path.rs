//! Dotted key paths (`sensors.wind_vane.table[3].ohm`) and finding them in the text.
//!
//! serde forgets where a value came from once it is parsed, so errors carry a key
//! path and the line is looked up afterwards in a span-keeping parse of the same text
//! (`toml_edit`). That one mechanism serves parse errors and validation errors alike.

use std::fmt;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path from the document root to one key or array element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// Builds a path of keys: `KeyPath::of(&["station", "latitude"])`.
    pub(crate) fn of(keys: &[&str]) -> Self {
        KeyPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }

    pub(crate) fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(index));
        p
    }

    pub(crate) fn push(&mut self, seg: Seg) {
        self.0.push(seg);
    }

    /// The key right after `prefix` in this path (`upload[0].url` after `upload[0]`
    /// is `url`), if this path continues `prefix` with a key.
    pub(crate) fn key_after(&self, prefix: &KeyPath) -> Option<&str> {
        let rest = self.0.strip_prefix(prefix.0.as_slice())?;
        match rest.first()? {
            Seg::Key(k) => Some(k),
            Seg::Index(_) => None,
        }
    }

    pub(crate) fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }

    fn segments(&self) -> &[Seg] {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        // Written as TOML would need it, so it can be pasted back.
                        write!(f, "\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The config text together with a span-keeping parse of it.
pub(crate) struct Source<'a> {
    text: &'a str,
    doc: ImDocument<&'a str>,
}

/// One node while walking the document; TOML has several shapes of "table".
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a Table),
    Value(&'a Value),
}

impl<'a> Source<'a> {
    pub(crate) fn parse(text: &'a str) -> Result<Self, toml_edit::TomlError> {
        Ok(Source {
            text,
            doc: ImDocument::parse(text)?,
        })
    }

    /// The 1-based line of the deepest part of `path` present in the file: the key
    /// itself, or for a missing key the header of the table that should hold it.
    pub(crate) fn line_of(&self, path: &KeyPath) -> Option<usize> {
        let mut node = Node::Table(self.doc.as_table());
        let mut best: Option<Range<usize>> = None;
        for seg in path.segments() {
            let (span, next) = match (seg, node) {
                (Seg::Key(k), Node::Table(t)) | (Seg::Key(k), Node::Item(Item::Table(t))) => {
                    match t.get_key_value(k) {
                        Some((key, item)) => (key.span().or_else(|| item.span()), Node::Item(item)),
                        None => break,
                    }
                }
                (Seg::Key(k), Node::Item(Item::Value(Value::InlineTable(t))))
                | (Seg::Key(k), Node::Value(Value::InlineTable(t))) => match t.get_key_value(k) {
                    Some((key, item)) => (key.span().or_else(|| item.span()), Node::Item(item)),
                    None => break,
                },
                (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => match a.get(*i) {
                    Some(t) => (t.span(), Node::Table(t)),
                    None => break,
                },
                (Seg::Index(i), Node::Item(Item::Value(Value::Array(a))))
                | (Seg::Index(i), Node::Value(Value::Array(a))) => match a.get(*i) {
                    Some(v) => (v.span(), Node::Value(v)),
                    None => break,
                },
                _ => break,
            };
            if span.is_some() {
                best = span;
            }
            node = next;
        }
        best.map(|s| line_at(self.text, s.start))
    }
}

/// The 1-based line holding byte `offset` of `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_keys_that_need_it() {
        let p = KeyPath::of(&["sensors", "my probe", "table"])
            .index(3)
            .key("ohm");
        assert_eq!(p.to_string(), "sensors.\"my probe\".table[3].ohm");
    }

    #[test]
    fn finds_lines_in_every_table_shape() {
        let text = "a = 1\n[sensors.vane]\ntype = \"x\"\ntable = [\n  { deg = 0.0 },\n  { deg = 1.0 },\n]\n\
                    [[sensors.v2.table]]\ndeg = 2.0\n[[sensors.v2.table]]\ndeg = 3.0\n[s]\nin = { x = 1, y = 2 }\n";
        let src = Source::parse(text).expect("valid toml");
        assert_eq!(src.line_of(&KeyPath::of(&["a"])), Some(1));
        assert_eq!(
            src.line_of(&KeyPath::of(&["sensors", "vane", "type"])),
            Some(3)
        );
        assert_eq!(
            src.line_of(
                &KeyPath::of(&["sensors", "vane", "table"])
                    .index(1)
                    .key("deg")
            ),
            Some(6)
        );
        assert_eq!(
            src.line_of(&KeyPath::of(&["sensors", "v2", "table"]).index(1).key("deg")),
            Some(11)
        );
        assert_eq!(src.line_of(&KeyPath::of(&["s", "in", "y"])), Some(13));
        // A missing key points at the table that should hold it.
        assert_eq!(
            src.line_of(&KeyPath::of(&["sensors", "vane", "nope"])),
            Some(2)
        );
        assert_eq!(src.line_of(&KeyPath::of(&["nope"])), None);
    }
}
