-- Schema version 3 -> 4: how an extra quantity folds. A driver declares for each
-- extra quantity whether it is a mean (with lowest and highest), a total, a direction
-- (vector mean) or a reading to keep as it was last; every stored value says which,
-- so an hour or a day folds it the way it was measured.
--
-- One transaction; every row is kept. Everything stored before was a mean: the new
-- `kind` columns default to 'mean', and `value` (the record's value whatever the
-- kind) is filled from `mean`.

ALTER TABLE archive_extra ADD COLUMN kind TEXT NOT NULL DEFAULT 'mean'
    CHECK (kind IN ('mean', 'sum', 'vector', 'last'));
ALTER TABLE archive_extra ADD COLUMN value REAL;
UPDATE archive_extra SET value = mean;

ALTER TABLE daily_extra ADD COLUMN kind TEXT NOT NULL DEFAULT 'mean'
    CHECK (kind IN ('mean', 'sum', 'vector', 'last'));
ALTER TABLE daily_extra ADD COLUMN total REAL;
ALTER TABLE daily_extra ADD COLUMN east_sum REAL;
ALTER TABLE daily_extra ADD COLUMN north_sum REAL;
ALTER TABLE daily_extra ADD COLUMN last REAL;
ALTER TABLE daily_extra ADD COLUMN last_ts INTEGER;
