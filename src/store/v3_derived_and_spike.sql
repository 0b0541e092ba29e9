-- Schema version 2 -> 3 (issue 12): derived values and spike QC.
--
-- One transaction (the store runs each step in one): every row is kept. The derived
-- columns of records written before the upgrade stay NULL (their inputs, the means,
-- are all still in the archive, so a query can compute them, but weatherd does not
-- rewrite history). Their daily mean/min/max live in `daily_extra` (driven by
-- record::COLUMNS), which therefore has nothing for the days before either.

ALTER TABLE archive ADD COLUMN altimeter_hpa REAL;
ALTER TABLE archive ADD COLUMN heat_index_c REAL;
ALTER TABLE archive ADD COLUMN wind_chill_c REAL;
ALTER TABLE archive ADD COLUMN apparent_temperature_c REAL;

-- A fault kind is a CHECK constraint, which SQLite cannot alter: the table is rebuilt
-- with the new kind `spike`, keeping every row and id.
CREATE TABLE fault_new (
    id          INTEGER PRIMARY KEY,
    archive_id  INTEGER NOT NULL REFERENCES archive (id) ON DELETE CASCADE,
    -- The sensor's name, as in the [sensors.NAME] table of weatherd.toml.
    sensor      TEXT    NOT NULL,
    -- The quantity affected, or NULL when the whole sensor failed.
    quantity    TEXT,
    kind        TEXT    NOT NULL
                CHECK (kind IN ('read_error', 'timeout', 'busy', 'out_of_range', 'spike')),
    -- How many samples in the interval had this fault, and when the first happened.
    count       INTEGER NOT NULL,
    first_ts    INTEGER NOT NULL,
    -- The first fault's message, for the operator.
    message     TEXT    NOT NULL
);
INSERT INTO fault_new (id, archive_id, sensor, quantity, kind, count, first_ts, message)
SELECT id, archive_id, sensor, quantity, kind, count, first_ts, message FROM fault;
DROP TABLE fault;
ALTER TABLE fault_new RENAME TO fault;
CREATE INDEX fault_by_archive ON fault (archive_id);

DROP VIEW records;
CREATE VIEW records AS
SELECT
    id,
    strftime('%Y-%m-%dT%H:%M:%SZ', start_ts, 'unixepoch') AS start_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', end_ts, 'unixepoch')   AS end_utc,
    samples,
    temperature_c, temperature_min_c, temperature_max_c, temperature_n,
    humidity_pct, humidity_min_pct, humidity_max_pct, humidity_n,
    pressure_hpa, pressure_min_hpa, pressure_max_hpa, pressure_n,
    ground_temperature_c, ground_temperature_min_c, ground_temperature_max_c,
    ground_temperature_n,
    dew_point_c, sea_level_pressure_hpa,
    wind_speed_kmh, wind_gust_kmh, wind_dir_deg, wind_n, wind_dir_n,
    rain_mm, rain_rate_mm_per_h, rain_n,
    altimeter_hpa, heat_index_c, wind_chill_c, apparent_temperature_c
FROM archive;
