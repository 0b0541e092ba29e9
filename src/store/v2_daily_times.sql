-- Schema version 1 -> 2: the daily summaries keep when each extreme happened, the
-- day's wind vector and highest rain rate, and every other quantity (extra drivers'
-- and computed columns) in `daily_extra`. Written into no record: the `archive` and
-- `archive_extra` rows are untouched, and the daily tables are derived from them.
--
-- SQL cannot compute station-local dates, so this step only makes room and forgets
-- the zone the daily rows were computed in; the station then recomputes `daily` and
-- fills `daily_extra` from every stored record, in the same open (see
-- `Store::adopt_time_zone`), as it does when the station's time zone changes.
ALTER TABLE daily ADD COLUMN temperature_min_ts INTEGER;
ALTER TABLE daily ADD COLUMN temperature_max_ts INTEGER;
ALTER TABLE daily ADD COLUMN humidity_min_ts INTEGER;
ALTER TABLE daily ADD COLUMN humidity_max_ts INTEGER;
ALTER TABLE daily ADD COLUMN pressure_min_ts INTEGER;
ALTER TABLE daily ADD COLUMN pressure_max_ts INTEGER;
ALTER TABLE daily ADD COLUMN ground_temperature_min_ts INTEGER;
ALTER TABLE daily ADD COLUMN ground_temperature_max_ts INTEGER;
ALTER TABLE daily ADD COLUMN wind_gust_ts INTEGER;
ALTER TABLE daily ADD COLUMN wind_dir_east_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE daily ADD COLUMN wind_dir_north_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE daily ADD COLUMN wind_dir_weight REAL NOT NULL DEFAULT 0;
ALTER TABLE daily ADD COLUMN rain_rate_mm_per_h REAL;
ALTER TABLE daily ADD COLUMN rain_rate_ts INTEGER;

CREATE TABLE daily_extra (
    date        TEXT    NOT NULL,
    quantity    TEXT    NOT NULL,
    mean_sum    REAL,
    n           INTEGER NOT NULL DEFAULT 0,
    min         REAL,
    min_ts      INTEGER,
    max         REAL,
    max_ts      INTEGER,
    PRIMARY KEY (date, quantity)
) WITHOUT ROWID;

DROP VIEW daily_summary;
CREATE VIEW daily_summary AS
SELECT
    date,
    records,
    temperature_sum_c / nullif(temperature_n, 0)               AS temperature_c,
    temperature_min_c,
    temperature_max_c,
    humidity_sum_pct / nullif(humidity_n, 0)                   AS humidity_pct,
    humidity_min_pct,
    humidity_max_pct,
    pressure_sum_hpa / nullif(pressure_n, 0)                   AS pressure_hpa,
    pressure_min_hpa,
    pressure_max_hpa,
    ground_temperature_sum_c / nullif(ground_temperature_n, 0) AS ground_temperature_c,
    ground_temperature_min_c,
    ground_temperature_max_c,
    wind_speed_sum_kmh / nullif(wind_n, 0)                     AS wind_speed_kmh,
    wind_gust_kmh,
    rain_mm,
    strftime('%Y-%m-%dT%H:%M:%SZ', temperature_min_ts, 'unixepoch')        AS temperature_min_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', temperature_max_ts, 'unixepoch')        AS temperature_max_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', humidity_min_ts, 'unixepoch')           AS humidity_min_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', humidity_max_ts, 'unixepoch')           AS humidity_max_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', pressure_min_ts, 'unixepoch')           AS pressure_min_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', pressure_max_ts, 'unixepoch')           AS pressure_max_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', ground_temperature_min_ts, 'unixepoch') AS ground_temperature_min_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', ground_temperature_max_ts, 'unixepoch') AS ground_temperature_max_time_utc,
    strftime('%Y-%m-%dT%H:%M:%SZ', wind_gust_ts, 'unixepoch')              AS wind_gust_time_utc,
    rain_rate_mm_per_h,
    strftime('%Y-%m-%dT%H:%M:%SZ', rain_rate_ts, 'unixepoch')              AS rain_rate_time_utc
FROM daily;

DELETE FROM state WHERE key = 'time_zone';
