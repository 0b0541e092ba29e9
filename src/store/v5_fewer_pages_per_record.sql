-- Schema version 4 -> 5: fewer pages written per record (SD wear).
--
-- 1. The daily tables are no longer folded in each record's commit but hourly, at
--    local midnight and when the station stops or starts; `state.daily_through_id`
--    names the newest record folded. Every record of an upgraded file was folded.
-- 2. `archive.start_ts` loses its UNIQUE index: weatherd rebuilds the table (same
--    columns, same ids, every row) right after this, in the same transaction. Ids grow
--    with start times, so weatherd finds a time range by the id instead.

INSERT OR REPLACE INTO state (key, value)
VALUES ('daily_through_id', (SELECT coalesce(max(id), 0) FROM archive));
