//! TEMPORARY stub (replaced by the store branch).
use crate::store::Table;
pub enum Format {
    Table,
    Csv,
    Json,
}
pub fn render(_t: &Table, _f: Format, _o: &mut impl std::io::Write) -> std::io::Result<()> {
    todo!()
}
