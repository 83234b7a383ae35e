-- The statements of the programme state file (SQLite), as named blocks.
--
-- A block starts with "-- name: NAME"; the comment lines right after it say
-- what the statement is for. Parameters are positional (?); days are ISO dates.

-- name: create_positions
-- One row per (programme, customer): where they are.
CREATE TABLE IF NOT EXISTS programme_positions (
    programme     TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    status        TEXT NOT NULL,     -- active, converted, graduated, non_target
    next_step     INTEGER NOT NULL,  -- index of the next step to send
    entered_on    TEXT NOT NULL,     -- ISO date
    last_sent_on  TEXT,              -- ISO date, NULL before the first email
    updated_on    TEXT NOT NULL,
    PRIMARY KEY (programme, customer_id)
) WITHOUT ROWID;

-- name: create_sends
-- One row per email a programme decided to send, written with the positions.
CREATE TABLE IF NOT EXISTS programme_sends (
    programme    TEXT NOT NULL,
    sent_on      TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    step         TEXT NOT NULL,
    PRIMARY KEY (programme, sent_on, customer_id)
) WITHOUT ROWID;

-- name: load_positions
-- A programme's positions, for advance().
SELECT customer_id, status, next_step, entered_on, last_sent_on, updated_on
FROM programme_positions WHERE programme = ? ORDER BY customer_id;

-- name: save_position
-- Insert or replace one position.
INSERT INTO programme_positions
    (programme, customer_id, status, next_step, entered_on, last_sent_on, updated_on)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (programme, customer_id) DO UPDATE SET
    status = excluded.status, next_step = excluded.next_step, entered_on = excluded.entered_on,
    last_sent_on = excluded.last_sent_on, updated_on = excluded.updated_on;

-- name: log_send
-- Record one send (a repeat of the same day is ignored).
INSERT OR IGNORE INTO programme_sends (programme, sent_on, customer_id, step) VALUES (?, ?, ?, ?);

-- name: sends_on
-- The sends of one programme on one day.
SELECT customer_id, step FROM programme_sends WHERE programme = ? AND sent_on = ? ORDER BY customer_id;

-- name: with_status
-- Customers with a given status in a programme (e.g. non-targets of the lapsed programme).
SELECT customer_id FROM programme_positions WHERE programme = ? AND status = ? ORDER BY customer_id;
