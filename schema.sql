-- weatherd database schema, version 5.
--
-- This file is the documentation of the database as much as its definition: weatherd
-- embeds it and runs it once to create a new database, and you can read the database
-- yourself with the plain `sqlite3` tool:
--
--     sqlite3 -readonly /var/lib/weatherd/weather.db
--     sqlite> .mode box
--     sqlite> SELECT * FROM records ORDER BY id DESC LIMIT 10;
--     sqlite> SELECT * FROM daily_summary ORDER BY date DESC LIMIT 7;
--
-- Reading while weatherd runs is safe: the database is in WAL mode, so readers never
-- block the writer and never see half-written records. (Avoid writing with sqlite3
-- while weatherd runs.)
--
-- Conventions
--   * Every column that holds a measurement carries its unit as a suffix:
--     `_c` degrees Celsius, `_pct` percent relative humidity, `_hpa` hectopascal,
--     `_kmh` kilometres per hour, `_deg` degrees clockwise from true north,
--     `_mm` millimetres of rain, `_mm_per_h` millimetres per hour.
--   * Columns added by a later schema version come last in their table; an older
--     database upgraded to it has NULL there for the records written before.
--   * `_ts` columns are Unix times in whole seconds, UTC. The `records` view shows them
--     as readable text (2026-01-01T00:00:00Z); in your own queries use
--     strftime('%Y-%m-%dT%H:%M:%SZ', start_ts, 'unixepoch').
--   * `_n` columns count the samples that had a valid value. A value that could not be
--     measured (sensor missing, failed, or outside plausible limits) is NULL, never 0:
--     a NULL rain_mm means "the gauge gave no data", 0 means "it did not rain".
--   * Later schema versions will only add to this (new tables, new columns); weatherd
--     upgrades an older database automatically and records the version in
--     PRAGMA user_version.

-- Marks the file as a weatherd database ('WTHR' in ASCII), so weatherd refuses to
-- write into a database that belongs to another program, and `file` can tell.
PRAGMA application_id = 1465141330;
-- The schema version of this file. weatherd sets it too, after creating the tables.
PRAGMA user_version = 5;

-- One row per archive interval (normally one minute), written once and never changed.
--
-- `id` is an alias of SQLite's rowid: it increases with every record, and uploaders
-- remember the last id they sent as their cursor. It is deliberately not AUTOINCREMENT:
-- weatherd never deletes records, so a new id is always larger than every id ever
-- handed out, and AUTOINCREMENT would cost an extra page write (the sqlite_sequence
-- table) on every commit, which wears the SD card. (Should someone delete the newest
-- rows by hand, their ids would be reused; don't.)
--
-- A record covers [start_ts, end_ts). Records never overlap, and they are stored in
-- time order, so ordering by id and ordering by start_ts give the same result.
--
-- Since schema version 5 `start_ts` has no index of its own (weatherd refuses a record
-- that overlaps the newest, so start times stay unique): an index is a second B-tree,
-- and its newest page was written to the SD card with every record. In your own
-- queries, a condition on `id` is instant, one on `start_ts` reads the whole table
-- (about a second for ten years of one-minute records on a Raspberry Pi 4).
CREATE TABLE archive (
    id                        INTEGER PRIMARY KEY,
    start_ts                  INTEGER NOT NULL,
    end_ts                    INTEGER NOT NULL,
    -- Sample ticks aggregated into this record (fewer than usual when weatherd started
    -- or stopped during the interval).
    samples                   INTEGER NOT NULL,

    -- Air temperature: mean, lowest and highest sample, number of valid samples.
    temperature_c             REAL,
    temperature_min_c         REAL,
    temperature_max_c         REAL,
    temperature_n             INTEGER NOT NULL DEFAULT 0,
    -- Relative humidity.
    humidity_pct              REAL,
    humidity_min_pct          REAL,
    humidity_max_pct          REAL,
    humidity_n                INTEGER NOT NULL DEFAULT 0,
    -- Station pressure (as measured at the station's height, not reduced).
    pressure_hpa              REAL,
    pressure_min_hpa          REAL,
    pressure_max_hpa          REAL,
    pressure_n                INTEGER NOT NULL DEFAULT 0,
    -- Ground (soil) temperature, e.g. from a DS18B20 probe.
    ground_temperature_c      REAL,
    ground_temperature_min_c  REAL,
    ground_temperature_max_c  REAL,
    ground_temperature_n      INTEGER NOT NULL DEFAULT 0,

    -- Dew point from the mean temperature and humidity (Magnus formula).
    dew_point_c               REAL,
    -- Mean station pressure reduced to sea level (what weather maps show).
    sea_level_pressure_hpa    REAL,

    -- Mean wind speed; gust = highest 3-second running mean (WMO definition).
    wind_speed_kmh            REAL,
    wind_gust_kmh             REAL,
    -- Vector mean of the vane direction, weighted by speed. NULL when calm: a calm
    -- wind has no direction.
    wind_dir_deg              REAL,
    -- Samples with anemometer data / with a valid vane direction.
    wind_n                    INTEGER NOT NULL DEFAULT 0,
    wind_dir_n                INTEGER NOT NULL DEFAULT 0,

    -- Rain in this interval (bucket tips x mm per tip), and the highest rain rate
    -- computed from the time between consecutive tips.
    rain_mm                   REAL,
    rain_rate_mm_per_h        REAL,
    rain_n                    INTEGER NOT NULL DEFAULT 0,

    -- Since schema version 3: derived values, each computed from this record's means;
    -- NULL where the formula is not defined or an input is missing (and in records
    -- written before the upgrade). A day's mean, lowest and highest of each (the
    -- highest heat index, the lowest wind chill) are in `daily_extra`:
    -- altimeter setting (ASOS/NWS) from the mean station pressure and the elevation;
    altimeter_hpa             REAL,
    -- NWS heat index from mean temperature and humidity, only at 26.7 °C (80 °F) and up;
    heat_index_c              REAL,
    -- NWS/Environment Canada wind chill from mean temperature and wind speed, only at
    -- 10 °C or below with more than 4.8 km/h of wind;
    wind_chill_c              REAL,
    -- apparent temperature (Steadman 1994, as the Australian BoM publishes it) from
    -- mean temperature, humidity and wind speed (m/s).
    apparent_temperature_c    REAL,

    CHECK (end_ts > start_ts)
);

-- Quantities outside the standard set above, reported by additional drivers (e.g.
-- `illuminance_lux`, `soil_moisture_pct`, `battery_v`): one row per record and
-- quantity, so a new driver needs no schema change.
--
--     SELECT r.start_utc, e.value AS illuminance_lux
--     FROM records r JOIN archive_extra e ON e.archive_id = r.id
--     WHERE e.quantity = 'illuminance_lux';
CREATE TABLE archive_extra (
    archive_id  INTEGER NOT NULL REFERENCES archive (id) ON DELETE CASCADE,
    quantity    TEXT    NOT NULL,
    -- The mean of the interval's valid samples: only for kind 'mean' (NULL otherwise).
    mean        REAL,
    -- The lowest and highest valid sample: for kinds 'mean' and 'last' (NULL otherwise).
    min         REAL,
    max         REAL,
    -- Valid samples in the interval, for every kind.
    n           INTEGER NOT NULL DEFAULT 0,
    -- Since schema version 4: how the driver folds this quantity (`aggregate` in
    -- docs/sensors.md): 'mean' (mean, lowest, highest), 'sum' (the interval's total),
    -- 'vector' (a direction in degrees: the mean of the samples as unit vectors) or
    -- 'last' (the newest sample, with the lowest and highest). Rows written before
    -- version 4 are 'mean'.
    kind        TEXT    NOT NULL DEFAULT 'mean'
                CHECK (kind IN ('mean', 'sum', 'vector', 'last')),
    -- Since schema version 4: the interval's value, whatever the kind: the mean, the
    -- total, the mean direction (NULL when the directions cancel) or the newest sample.
    value       REAL,
    PRIMARY KEY (archive_id, quantity)
) WITHOUT ROWID;

-- What went wrong during an archive interval, one row per sensor, quantity and kind of
-- fault. Nothing is written when all went well, so this table stays small.
CREATE TABLE fault (
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
CREATE INDEX fault_by_archive ON fault (archive_id);

-- One row per station-local calendar day, so summaries over years of records are
-- instant. Since schema version 5 weatherd folds the records into it hourly, at local
-- midnight and when it stops or starts (not with every record: that rewrote today's
-- row on the SD card once a minute), so while the station runs today's row can be up
-- to an hour behind; `state.daily_through_id` is the newest record in it.
-- `weatherd query --every day` and the web page always include the newest records.
--
-- This table and `daily_extra` are ordinary tables, not WITHOUT ROWID: a row of ~250
-- bytes is more than a 512-byte page of a WITHOUT ROWID table keeps in place, and
-- would spill into an overflow page. (Databases created before schema version 5 have
-- them WITHOUT ROWID, on larger pages; the same SQL works on both.)
--
-- A record belongs to the local date (in the station's time zone, from weatherd.toml)
-- of its start: rain "since local midnight" is the sum of the records that started
-- after local midnight, as weather networks expect.
--
-- Means are stored as sums weighted by sample counts (`_sum` / `_n`), so that the
-- daily mean is the mean of all valid samples of the day. The `daily_summary` view
-- below does the division for you.
CREATE TABLE daily (
    date                      TEXT    NOT NULL PRIMARY KEY,  -- YYYY-MM-DD, station-local
    records                   INTEGER NOT NULL,

    temperature_sum_c         REAL,
    temperature_n             INTEGER NOT NULL DEFAULT 0,
    temperature_min_c         REAL,
    temperature_max_c         REAL,

    humidity_sum_pct          REAL,
    humidity_n                INTEGER NOT NULL DEFAULT 0,
    humidity_min_pct          REAL,
    humidity_max_pct          REAL,

    pressure_sum_hpa          REAL,
    pressure_n                INTEGER NOT NULL DEFAULT 0,
    pressure_min_hpa          REAL,
    pressure_max_hpa          REAL,

    ground_temperature_sum_c  REAL,
    ground_temperature_n      INTEGER NOT NULL DEFAULT 0,
    ground_temperature_min_c  REAL,
    ground_temperature_max_c  REAL,

    wind_speed_sum_kmh        REAL,
    wind_n                    INTEGER NOT NULL DEFAULT 0,
    wind_gust_kmh             REAL,                 -- highest gust of the day

    rain_mm                   REAL,                 -- NULL if the gauge gave no data all day
    rain_n                    INTEGER NOT NULL DEFAULT 0,

    -- Since schema version 2: when each extreme happened (`_ts`, Unix seconds): the
    -- START of the first record of the day that reached it. A record only knows its
    -- extreme happened somewhere in [start_ts, end_ts); the start is used because it
    -- lies on the same local date as the record (which the end, at midnight, may not)
    -- and it is the time `weatherd query` prints for that record.
    temperature_min_ts        INTEGER,
    temperature_max_ts        INTEGER,
    humidity_min_ts           INTEGER,
    humidity_max_ts           INTEGER,
    pressure_min_ts           INTEGER,
    pressure_max_ts           INTEGER,
    ground_temperature_min_ts INTEGER,
    ground_temperature_max_ts INTEGER,
    wind_gust_ts              INTEGER,
    -- Wind direction as the speed-weighted vector sum of the records' directions
    -- (east and north components, km/h x samples, and the total weight), so that the
    -- day's dominant direction is a vector mean like an hour's.
    wind_dir_east_sum         REAL    NOT NULL DEFAULT 0,
    wind_dir_north_sum        REAL    NOT NULL DEFAULT 0,
    wind_dir_weight           REAL    NOT NULL DEFAULT 0,
    -- The day's highest rain rate and when.
    rain_rate_mm_per_h        REAL,
    rain_rate_ts              INTEGER
);

-- Since schema version 2: every quantity the `daily` table has no columns for, per
-- station-local day, folded in with `daily` (see there): the
-- quantities of extra drivers (`illuminance_lux`, as in archive_extra) and the
-- archive's computed columns (`dew_point_c`, `sea_level_pressure_hpa`, ...).
-- Each is folded by its `kind` (as in archive_extra; computed columns are 'mean'):
--   mean    `mean_sum / n` is the day's mean, weighted by samples (an extra's `n`; a
--           computed column's record `samples`); `min`, `max` and their `_ts` as in
--           `daily`;
--   sum     `total` is the day's total;
--   vector  `east_sum`, `north_sum`: each record's mean direction as a vector of
--           length `n` (its samples), added up; the day's direction is
--           degrees(atan2(east_sum, north_sum)) mod 360;
--   last    `last` is the newest record's value (`last_ts` its start), with the
--           day's `min` and `max`.
--
--     SELECT date, mean_sum / n AS mean, min, max FROM daily_extra
--     WHERE quantity = 'dew_point_c' ORDER BY date;
CREATE TABLE daily_extra (
    date        TEXT    NOT NULL,
    quantity    TEXT    NOT NULL,
    mean_sum    REAL,
    n           INTEGER NOT NULL DEFAULT 0,
    min         REAL,
    min_ts      INTEGER,
    max         REAL,
    max_ts      INTEGER,
    -- Since schema version 4 (rows from before are 'mean'):
    kind        TEXT    NOT NULL DEFAULT 'mean'
                CHECK (kind IN ('mean', 'sum', 'vector', 'last')),
    total       REAL,
    east_sum    REAL,
    north_sum   REAL,
    last        REAL,
    last_ts     INTEGER,
    PRIMARY KEY (date, quantity)
);

-- Small pieces of state weatherd keeps between runs, e.g.
--   last_rain_tip_ns  time of the last rain-bucket tip (Unix nanoseconds), so that
--                     the first rain rate after a restart is computed correctly;
--   time_zone         the time zone the `daily` table was computed in;
--   daily_through_id  the newest record folded into `daily` and `daily_extra`.
CREATE TABLE state (
    key    TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;
INSERT INTO state (key, value) VALUES ('daily_through_id', 0);

-- The archive with readable UTC times. Start here.
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

-- One row per station-local day: means, extremes (and, since version 2, when they
-- happened, in UTC: `weatherd query --every day` shows them in local time) and rain total.
-- (A mean is NULL on a day without valid samples; nullif avoids dividing by zero.)
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
