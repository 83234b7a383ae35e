-- Every SQL statement of the SQLite store, as named blocks.
--
-- A block starts with "-- name: NAME"; the comment lines right after it say
-- what the statement is for; the rest, up to the next block, is the statement.
-- Parameters are named (:now, :owner). Times are UTC epoch seconds (REAL).

-- name: schema
-- The tables. One row per (campaign, recipient) is the unit of delivery;
-- the send log is what frequency caps count; suppressions are checked on
-- every claim; buckets and pauses hold transport state shared by workers;
-- campaign holds are what operators paused or cancelled (or what a complaint
-- rate paused, with the reason); feedback events are the bounces, complaints
-- and auto-replies read since, one row per message read.
CREATE TABLE IF NOT EXISTS deliveries (
    id             INTEGER PRIMARY KEY,
    campaign       TEXT    NOT NULL,
    recipient      TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    message_class  TEXT    NOT NULL DEFAULT 'promotional',
    state          TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN (
                       'planned', 'queued', 'paused', 'leased', 'sending', 'sent', 'deferred',
                       'bounced', 'suppressed', 'capped', 'expired', 'failed', 'unknown', 'cancelled')),
    not_before     REAL    NOT NULL,
    expires_at     REAL    NOT NULL,
    priority       INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_deadline REAL,
    message_id     TEXT,
    reply_code     INTEGER,
    reply_enhanced TEXT,
    reply_text     TEXT,
    reason         TEXT,
    on_cap         TEXT    NOT NULL DEFAULT 'defer' CHECK (on_cap IN ('defer', 'drop')),
    payload        TEXT    NOT NULL DEFAULT '{}',
    domain         TEXT    NOT NULL DEFAULT '',
    updated_at     REAL,
    message_key    TEXT,
    UNIQUE (campaign, recipient)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, not_before);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (recipient, state);
CREATE INDEX IF NOT EXISTS deliveries_lease ON deliveries (state, lease_deadline);
CREATE INDEX IF NOT EXISTS deliveries_expiry ON deliveries (expires_at) WHERE state IN ('queued', 'deferred');
CREATE INDEX IF NOT EXISTS deliveries_claim ON deliveries (
    (CASE message_class WHEN 'transactional' THEN 0 WHEN 'lifecycle' THEN 1 ELSE 2 END), priority DESC, not_before, id
) WHERE state IN ('queued', 'deferred');
CREATE TABLE IF NOT EXISTS send_log (
    id            INTEGER PRIMARY KEY,
    delivery      INTEGER NOT NULL,
    campaign      TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    message_class TEXT    NOT NULL,
    at            REAL    NOT NULL,
    products      TEXT
);
CREATE INDEX IF NOT EXISTS send_log_recipient ON send_log (recipient, at);
CREATE TABLE IF NOT EXISTS suppressions (
    kind   TEXT NOT NULL CHECK (kind IN ('address', 'recipient')),
    value  TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('unsubscribed', 'hard-bounce', 'soft-bounce', 'complaint', 'manual')),
    detail TEXT,
    at     REAL NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE IF NOT EXISTS preferences (
    recipient TEXT PRIMARY KEY,
    volume    TEXT NOT NULL CHECK (volume IN ('everything', 'weekly', 'monthly', 'only-important'))
);
CREATE TABLE IF NOT EXISTS buckets (
    name       TEXT PRIMARY KEY,
    tokens     REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pauses (
    pool   TEXT PRIMARY KEY,
    until  REAL NOT NULL,
    code   INTEGER,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS campaigns (
    id         TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS campaign_holds (
    campaign TEXT PRIMARY KEY,
    hold     TEXT NOT NULL CHECK (hold IN ('paused', 'cancelled')),
    at       REAL NOT NULL,
    reason   TEXT
);
CREATE TABLE IF NOT EXISTS feedback_events (
    id             INTEGER PRIMARY KEY,
    at             REAL    NOT NULL,
    kind           TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('suppressed', 'counted', 'ignored', 'unmatched')),
    suppression    TEXT,
    matched        TEXT,
    delivery       INTEGER,
    campaign       TEXT,
    recipient      TEXT,
    address        TEXT,
    status         TEXT,
    sending_domain TEXT,
    reason         TEXT    NOT NULL,
    source         TEXT
);
CREATE INDEX IF NOT EXISTS feedback_events_at ON feedback_events (at);
CREATE INDEX IF NOT EXISTS feedback_events_delivery ON feedback_events (delivery, action);
CREATE INDEX IF NOT EXISTS feedback_events_action ON feedback_events (action, campaign);

-- name: enqueue
-- Queue one message; a (campaign, recipient) pair already queued is left as
-- it is, so planning a campaign twice never doubles a message. A message
-- queued into a paused or cancelled campaign starts paused or cancelled.
INSERT INTO deliveries (campaign, recipient, address, message_class, state, not_before,
                        expires_at, priority, message_id, on_cap, payload, domain, updated_at, message_key)
VALUES (:campaign, :recipient, :address, :message_class,
        CASE :state WHEN 'queued' THEN coalesce((SELECT hold FROM campaign_holds WHERE campaign = :campaign), 'queued')
                    ELSE :state END,
        :not_before, :expires_at, :priority, :message_id, :on_cap, :payload, :domain, :now, :message_key)
ON CONFLICT (campaign, recipient) DO NOTHING;

-- name: discard_planned
-- Planned rows of a campaign that will not be sent after all (its check
-- failed while it was being queued): they go, as if never queued.
DELETE FROM deliveries WHERE campaign = :campaign AND state = 'planned';

-- name: forget_unqueued_campaign
-- A campaign none of whose rows is left keeps no snapshot: queueing it again
-- starts from the files as they are then.
DELETE FROM campaigns WHERE id = :campaign AND NOT EXISTS (SELECT 1 FROM deliveries WHERE campaign = :campaign);

-- name: release_planned
-- Planned rows of a campaign become claimable (or paused, or cancelled, as
-- the campaign is).
UPDATE deliveries
SET state = coalesce((SELECT hold FROM campaign_holds WHERE campaign = :campaign), 'queued'), updated_at = :now
WHERE campaign = :campaign AND state = 'planned';

-- name: recover_leased
-- A worker that leased rows and vanished without starting to send them:
-- the rows go back to the queue once the lease has run out.
UPDATE deliveries
SET state = 'queued', lease_owner = NULL, lease_deadline = NULL, updated_at = :now
WHERE state = 'leased' AND lease_deadline < :now;

-- name: recover_sending
-- A worker died between committing 'sending' and recording the reply: we
-- cannot know whether the server accepted the message. :dead_state is
-- 'unknown' (at most once) or 'queued' (at least once).
UPDATE deliveries
SET state = :dead_state, lease_owner = NULL, lease_deadline = NULL, updated_at = :now,
    reason = 'worker lost while sending'
WHERE state = 'sending' AND lease_deadline < :now;

-- name: expire
-- Waiting rows past their expiry are never sent (found by expiry, not by
-- reading the whole queue).
UPDATE deliveries INDEXED BY deliveries_expiry
SET state = 'expired', reason = coalesce(reason || '; ', '') || 'expired before delivery', updated_at = :now
WHERE state IN ('queued', 'deferred') AND expires_at <= :now;

-- name: due_count
-- How many rows are due, counting no further than :cap.
SELECT count(*) AS n FROM (
    SELECT 1 FROM deliveries WHERE state IN ('queued', 'deferred') AND not_before <= :now LIMIT :cap
) AS due;

-- name: due
-- Candidates for a claim when few are due: every due row (found by time),
-- in class order (transactional, lifecycle, promotional), then by priority
-- and age. Rows of a paused campaign are skipped (its waiting rows are
-- 'paused'; this catches those that came back from a worker after the
-- pause); rows of a cancelled one come with their hold, to be set aside.
SELECT d.id, d.recipient, d.address, d.message_class, d.on_cap, d.expires_at, h.hold
FROM deliveries AS d LEFT JOIN campaign_holds AS h ON h.campaign = d.campaign
WHERE d.state IN ('queued', 'deferred') AND d.not_before <= :now AND coalesce(h.hold, '') <> 'paused'
ORDER BY CASE d.message_class WHEN 'transactional' THEN 0 WHEN 'lifecycle' THEN 1 ELSE 2 END,
         d.priority DESC, d.not_before, d.id
LIMIT :limit;

-- name: due_many
-- The same when many are due: read in that order from the claim index, so a
-- claim costs the rows it takes, not a sort of the whole queue.
SELECT d.id, d.recipient, d.address, d.message_class, d.on_cap, d.expires_at, h.hold
FROM deliveries AS d INDEXED BY deliveries_claim LEFT JOIN campaign_holds AS h ON h.campaign = d.campaign
WHERE d.state IN ('queued', 'deferred') AND d.not_before <= :now AND coalesce(h.hold, '') <> 'paused'
ORDER BY CASE d.message_class WHEN 'transactional' THEN 0 WHEN 'lifecycle' THEN 1 ELSE 2 END,
         d.priority DESC, d.not_before, d.id
LIMIT :limit;

-- name: is_suppressed
-- Whether a row's address or customer is on the suppression list.
SELECT 1 FROM suppressions
WHERE (kind = 'address' AND value = lower(:address)) OR (kind = 'recipient' AND value = :recipient)
LIMIT 1;

-- name: history
-- What a customer was sent within the cap horizon (whatever the clock that
-- stamped it), plus what is in flight to them: leased or sending, whatever
-- its stamp, counted as going out no earlier than :now; unknown (it may have
-- been sent) within the horizon. For the caps.
SELECT at, message_class FROM send_log WHERE recipient = :recipient AND at > :since
UNION ALL
SELECT max(coalesce(updated_at, not_before), :now) AS at, message_class FROM deliveries
WHERE recipient = :recipient AND id != :id
  AND (state IN ('leased', 'sending')
       OR (state = 'unknown' AND coalesce(updated_at, not_before) > :since));

-- name: volume
-- The customer's volume preference, if they set one.
SELECT volume FROM preferences WHERE recipient = :recipient;

-- name: lease
-- Take a due row for this worker.
UPDATE deliveries
SET state = 'leased', lease_owner = :owner, lease_deadline = :deadline, updated_at = :now
WHERE id = :id AND state IN ('queued', 'deferred');

-- name: set_aside
-- A claim found the row suppressed, capped (dropped or deferred) or expired.
UPDATE deliveries
SET state = :state, not_before = coalesce(:not_before, not_before), reason = :reason, updated_at = :now
WHERE id = :id AND state IN ('queued', 'deferred');

-- name: heartbeat
-- Extend the leases this worker still holds; with :ids (a JSON array), only
-- those rows, the ones it is still working on.
UPDATE deliveries SET lease_deadline = :deadline
WHERE lease_owner = :owner AND state IN ('leased', 'sending')
  AND (:ids IS NULL OR id IN (SELECT value FROM json_each(:ids)));

-- name: mark_sending
-- Commit 'sending' before DATA, fenced: only if the row is still leased to
-- us and the recipient was not suppressed meanwhile; with per_domain, only
-- while fewer than that many messages to the row's recipient domain are being
-- sent by any live worker (a dead worker's rows, their lease run out, do not
-- count). A lease that ran out but that nobody took over (recovery would have
-- cleared its owner) is still ours: it is renewed until :deadline.
UPDATE deliveries
SET state = 'sending', attempts = attempts + 1, updated_at = :now, message_id = coalesce(:message_id, message_id),
    message_key = coalesce(:message_key, message_key),
    lease_deadline = CASE WHEN lease_deadline > :now THEN lease_deadline ELSE :deadline END
WHERE id = :id AND state = 'leased' AND lease_owner = :owner
  AND NOT EXISTS (SELECT 1 FROM suppressions
                  WHERE (kind = 'address' AND value = lower(deliveries.address))
                     OR (kind = 'recipient' AND value = deliveries.recipient))
  AND (:per_domain IS NULL
       OR (SELECT count(*) FROM deliveries AS busy
           WHERE busy.domain = deliveries.domain AND busy.state = 'sending'
             AND busy.lease_deadline > :now) < :per_domain);

-- name: suppress_leased
-- A leased row whose recipient was suppressed after it was queued.
UPDATE deliveries
SET state = 'suppressed', lease_owner = NULL, lease_deadline = NULL, updated_at = :now,
    reason = 'suppressed after queueing'
WHERE id = :id AND state = 'leased' AND lease_owner = :owner;

-- name: finish
-- Record the reply, fenced: a zombie whose lease was taken away (its owner
-- cleared by recovery, or replaced by a new owner) changes nothing.
UPDATE deliveries
SET state = :state, not_before = coalesce(:not_before, not_before), reply_code = :code,
    reply_enhanced = :enhanced, reply_text = :text, reason = :reason,
    lease_owner = NULL, lease_deadline = NULL, updated_at = :now
WHERE id = :id AND state = 'sending' AND lease_owner = :owner;

-- name: log_send
-- A message the server accepted: the caps count it from now on, and the
-- products it showed (a JSON array, when the row's payload names them) are
-- not shown again to this customer for a few emails.
INSERT INTO send_log (delivery, campaign, recipient, message_class, at, products)
SELECT id, campaign, recipient, message_class, :now, json_extract(payload, '$.shown') FROM deliveries WHERE id = :id;

-- name: put_back
-- A leased row this worker will not send now: deferred (the pool is paused),
-- failed (it cannot be rendered) or expired.
UPDATE deliveries
SET state = :state, not_before = coalesce(:not_before, not_before), reason = :reason,
    lease_owner = NULL, lease_deadline = NULL, updated_at = :now
WHERE id = :id AND state = 'leased' AND lease_owner = :owner;

-- name: release
-- Give back leased rows this worker will not send (a drain on SIGTERM).
UPDATE deliveries
SET state = 'queued', lease_owner = NULL, lease_deadline = NULL, updated_at = :now
WHERE id = :id AND state = 'leased' AND lease_owner = :owner;

-- name: suppress
-- Add an address or customer id to the suppression list (first reason wins).
-- Replies seen while sending (a 5.1.1 at RCPT TO) and bounces, complaints
-- and runs of soft bounces that come back later all suppress through here.
INSERT INTO suppressions (kind, value, reason, detail, at)
VALUES (:kind, :value, :reason, :detail, :now)
ON CONFLICT (kind, value) DO NOTHING;

-- name: unsuppress
-- Remove an entry (a customer who subscribes again).
DELETE FROM suppressions WHERE kind = :kind AND value = :value;

-- name: suppressions
-- The whole suppression list, newest first.
SELECT kind, value, reason, detail, at FROM suppressions ORDER BY at DESC, kind, value;

-- name: address_of
-- The addresses a customer was queued under (for an unsubscribe by token).
SELECT DISTINCT address FROM deliveries WHERE recipient = :recipient;

-- name: set_volume
-- A customer's volume preference.
INSERT INTO preferences (recipient, volume) VALUES (:recipient, :volume)
ON CONFLICT (recipient) DO UPDATE SET volume = excluded.volume;

-- name: get
-- One row by campaign and recipient.
SELECT * FROM deliveries WHERE campaign = :campaign AND recipient = :recipient;

-- name: get_by_id
-- One row by id.
SELECT * FROM deliveries WHERE id = :id;

-- name: list
-- A campaign's rows (or every row when :campaign is NULL), in queue order.
SELECT * FROM deliveries WHERE :campaign IS NULL OR campaign = :campaign ORDER BY id;

-- name: counts
-- How many rows are in each state.
SELECT state, count(*) AS n FROM deliveries
WHERE :campaign IS NULL OR campaign = :campaign GROUP BY state ORDER BY state;

-- name: reply_classes
-- How many rows ended with each class of reply (2xx, 4xx, 5xx, none).
SELECT CASE WHEN reply_code IS NULL THEN 'none' ELSE (reply_code / 100) || 'xx' END AS class,
       count(*) AS n
FROM deliveries WHERE :campaign IS NULL OR campaign = :campaign GROUP BY class ORDER BY class;

-- name: pending
-- How many rows are in flight (leased or being sent, by any worker), how many
-- waiting rows are due now, and when the next waiting one is due; a paused
-- campaign's rows wait for no worker (only due rows are looked up in the
-- holds, so a long queue of future rows costs what it did).
SELECT count(CASE WHEN state IN ('leased', 'sending') THEN 1 END) AS in_flight,
       count(CASE WHEN state IN ('queued', 'deferred') AND not_before <= :now
                   AND NOT EXISTS (SELECT 1 FROM campaign_holds AS h
                                   WHERE h.campaign = deliveries.campaign AND h.hold = 'paused') THEN 1 END) AS due,
       min(CASE WHEN state IN ('queued', 'deferred')
                 AND (not_before > :now
                      OR NOT EXISTS (SELECT 1 FROM campaign_holds AS h
                                     WHERE h.campaign = deliveries.campaign AND h.hold = 'paused'))
                THEN not_before END) AS next_due
FROM deliveries WHERE state IN ('queued', 'deferred', 'leased', 'sending');

-- name: send_log
-- The send log of one customer, oldest first.
SELECT campaign, message_class, at FROM send_log WHERE recipient = :recipient ORDER BY at, id;

-- name: bucket_get
-- A token bucket's saved level.
SELECT tokens, updated_at FROM buckets WHERE name = :name;

-- name: bucket_put
-- Save a token bucket's level.
INSERT INTO buckets (name, tokens, updated_at) VALUES (:name, :tokens, :now)
ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;

-- name: pause
-- Pause a transport pool until :until (the later pause wins).
INSERT INTO pauses (pool, until, code, reason) VALUES (:pool, :until, :code, :reason)
ON CONFLICT (pool) DO UPDATE SET until = excluded.until, code = excluded.code, reason = excluded.reason
WHERE excluded.until > pauses.until;

-- name: paused
-- Until when a pool is paused, and why.
SELECT until, code, reason FROM pauses WHERE pool = :pool AND until > :now;

-- name: put_campaign
-- Keep what a campaign's messages are rendered from (its snapshot). The first
-- one kept stays: rows already queued were chosen with it.
INSERT INTO campaigns (id, spec, created_at) VALUES (:id, :spec, :now)
ON CONFLICT (id) DO NOTHING;

-- name: get_campaign
-- How to render a campaign's messages.
SELECT spec FROM campaigns WHERE id = :id;

-- name: shown
-- The products shown to some customers in their last few emails (every
-- email counts, with products or without): one row per email. Emails queued
-- and not yet sent (or that may have been: unknown) count as the latest,
-- except those of :campaign, the campaign being chosen for.
SELECT recipient, products FROM (
    SELECT recipient, products,
           row_number() OVER (PARTITION BY recipient ORDER BY waiting DESC, at DESC, id DESC) AS n
    FROM (
        SELECT recipient, products, at, id, 0 AS waiting
        FROM send_log WHERE recipient IN (SELECT value FROM json_each(:recipients))
        UNION ALL
        SELECT recipient, json_extract(payload, '$.shown'), not_before, id, 1
        FROM deliveries
        WHERE recipient IN (SELECT value FROM json_each(:recipients))
          AND state IN ('planned', 'queued', 'paused', 'leased', 'sending', 'deferred', 'unknown')
          AND (:campaign IS NULL OR campaign <> :campaign)
    )
) AS recent
WHERE n <= :emails AND products IS NOT NULL;

-- name: migrate_products_column
-- Stores made before the send log kept products gain the column.
ALTER TABLE send_log ADD COLUMN products TEXT;

-- name: requeue_unknown
-- An operator found that messages left 'unknown' (their worker died mid-send)
-- never reached the server: send them again from now, within their expiry.
UPDATE deliveries
SET state = 'queued', not_before = :now, lease_owner = NULL, lease_deadline = NULL,
    updated_at = :now, reason = 'unknown; requeued by an operator'
WHERE state = 'unknown' AND (:campaign IS NULL OR campaign = :campaign) AND (:recipients IS NULL OR recipient IN (SELECT value FROM json_each(:recipients)));

-- name: log_unknown_sent
-- An operator found that 'unknown' messages did reach the server: the caps
-- and the shown-products log count them as sent at the time they were sent.
INSERT INTO send_log (delivery, campaign, recipient, message_class, at, products)
SELECT id, campaign, recipient, message_class, coalesce(updated_at, not_before), json_extract(payload, '$.shown')
FROM deliveries WHERE state = 'unknown' AND (:campaign IS NULL OR campaign = :campaign) AND (:recipients IS NULL OR recipient IN (SELECT value FROM json_each(:recipients)));

-- name: mark_unknown_sent
-- ...and their rows become 'sent'.
UPDATE deliveries
SET state = 'sent', reason = 'unknown; confirmed sent by an operator', updated_at = :now
WHERE state = 'unknown' AND (:campaign IS NULL OR campaign = :campaign) AND (:recipients IS NULL OR recipient IN (SELECT value FROM json_each(:recipients)));

-- name: migrate_domain_column
-- Stores made before rows knew their recipient domain gain the column.
ALTER TABLE deliveries ADD COLUMN domain TEXT NOT NULL DEFAULT '';

-- name: migrate_fill_domain
-- ...filled in from each row's address.
UPDATE deliveries SET domain = lower(substr(address, instr(address, '@') + 1)) WHERE domain = '';

-- name: migrate_domain_index
-- Messages being sent, by recipient domain (the shared per-domain cap counts them).
CREATE INDEX IF NOT EXISTS deliveries_domain ON deliveries (domain, state);

-- name: rows_page
-- One page of the rows in one state, by next attempt time and id, after the
-- last row of the previous page (read from the state's index, so listing a
-- long queue page by page costs each page, not the queue); :capped keeps only
-- the rows a frequency cap set aside.
SELECT * FROM deliveries INDEXED BY deliveries_due
WHERE state = :state AND (not_before, id) > (:after_at, :after_id)
  AND (:campaign IS NULL OR campaign = :campaign)
  AND (NOT :capped OR reason LIKE 'capped:%')
ORDER BY not_before, id
LIMIT :limit;

-- name: campaign_counts
-- How many rows each campaign has in each state.
SELECT campaign, state, count(*) AS n FROM deliveries
WHERE :campaign IS NULL OR campaign = :campaign
GROUP BY campaign, state ORDER BY campaign, state;

-- name: reasons
-- Why rows are where they are, per campaign: each (state, reason) with its
-- count, the :top most common of each campaign (sent rows say 'accepted';
-- they are left out).
SELECT campaign, state, reason, n FROM (
    SELECT campaign, state, reason, count(*) AS n,
           row_number() OVER (PARTITION BY campaign ORDER BY count(*) DESC, state, reason) AS place
    FROM deliveries
    WHERE reason IS NOT NULL AND state <> 'sent' AND (:campaign IS NULL OR campaign = :campaign)
    GROUP BY campaign, state, reason
) AS grouped
WHERE place <= :top
ORDER BY campaign, place;

-- name: campaigns
-- The campaigns whose spec is stored or that an operator held: when the spec
-- was stored, and the hold (campaigns known only by their rows come from
-- campaign_counts).
SELECT id, max(created_at) AS created_at, max(hold) AS hold, max(reason) AS hold_reason FROM (
    SELECT id, created_at, NULL AS hold, NULL AS reason FROM campaigns
    UNION ALL
    SELECT campaign, NULL, hold, reason FROM campaign_holds
) AS known
WHERE :campaign IS NULL OR id = :campaign
GROUP BY id ORDER BY id;

-- name: campaign_hold
-- A campaign's hold, if an operator paused or cancelled it.
SELECT hold, at FROM campaign_holds WHERE campaign = :campaign;

-- name: hold_campaign
-- Pause or cancel a campaign (a cancel replaces a pause), with the reason
-- when it was not an operator's doing (a complaint rate too high).
INSERT INTO campaign_holds (campaign, hold, at, reason) VALUES (:campaign, :hold, :now, :reason)
ON CONFLICT (campaign) DO UPDATE SET hold = excluded.hold, at = excluded.at, reason = excluded.reason;

-- name: unhold_campaign
-- Resume a paused campaign (a cancelled one stays cancelled).
DELETE FROM campaign_holds WHERE campaign = :campaign AND hold = 'paused';

-- name: pause_rows
-- A paused campaign's waiting rows leave the claim index until it resumes
-- (rows being sent finish; they still expire: on resume, those past their
-- expiry are set aside at the next claim).
UPDATE deliveries SET state = 'paused', updated_at = :now
WHERE campaign = :campaign AND state IN ('queued', 'deferred');

-- name: resume_rows
-- ...and come back: deferred if they were tried before, else queued.
UPDATE deliveries SET state = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END, updated_at = :now
WHERE campaign = :campaign AND state = 'paused';

-- name: cancel_rows
-- A cancelled campaign's unsent rows are never sent (rows being sent finish).
UPDATE deliveries
SET state = 'cancelled', reason = 'campaign cancelled by an operator', updated_at = :now
WHERE campaign = :campaign AND state IN ('planned', 'queued', 'deferred', 'paused');

-- name: retry_failed
-- Failed rows back to the queue from now, with a fresh expiry and their
-- attempts kept (paused if their campaign is; a cancelled campaign's stay).
UPDATE deliveries
SET state = CASE WHEN EXISTS (SELECT 1 FROM campaign_holds AS h
                              WHERE h.campaign = deliveries.campaign AND h.hold = 'paused')
                 THEN 'paused' ELSE 'queued' END,
    not_before = :now, expires_at = :expires_at, lease_owner = NULL, lease_deadline = NULL, updated_at = :now,
    reason = 'requeued by an operator; failed with: ' || coalesce(reason, 'no reason recorded')
WHERE state = 'failed'
  AND (:campaign IS NULL OR campaign = :campaign)
  AND (:recipients IS NULL OR recipient IN (SELECT value FROM json_each(:recipients)))
  AND NOT EXISTS (SELECT 1 FROM campaign_holds AS h WHERE h.campaign = deliveries.campaign AND h.hold = 'cancelled');

-- name: migrate_states_current
-- Whether the deliveries table already allows every state (stores made
-- before campaigns could be paused or cancelled, or before capped rows had
-- a state of their own, do not).
SELECT sql LIKE '%''capped''%' AS current FROM sqlite_schema WHERE type = 'table' AND name = 'deliveries';

-- name: migrate_states_rename
-- SQLite cannot change a CHECK constraint: the old table steps aside, the
-- schema then creates the new one (its indexes come after the copy).
ALTER TABLE deliveries RENAME TO deliveries_before_holds;

-- name: migrate_states_copy
-- Every row moves to the new table, as it was (its message key is filled in
-- by migrate_message_key_fill); the old table goes, with its indexes.
INSERT INTO deliveries (id, campaign, recipient, address, message_class, state, not_before, expires_at,
                        priority, attempts, lease_owner, lease_deadline, message_id, reply_code,
                        reply_enhanced, reply_text, reason, on_cap, payload, domain, updated_at)
SELECT id, campaign, recipient, address, message_class, state, not_before, expires_at,
       priority, attempts, lease_owner, lease_deadline, message_id, reply_code,
       reply_enhanced, reply_text, reason, on_cap, payload, domain, updated_at
FROM deliveries_before_holds;
DROP TABLE deliveries_before_holds;

-- name: migrate_capped_rows
-- Rows a cap set aside before capped rows had a state of their own were
-- marked failed, reason 'capped: …': they are capped, not failures.
UPDATE deliveries SET state = 'capped' WHERE state = 'failed' AND reason LIKE 'capped:%';

-- name: clock
-- The time now, in epoch seconds: the one clock every worker sharing this
-- store stamps with when it gives none.
SELECT (julianday('now') - 2440587.5) * 86400.0 AS now;

-- name: message_by_key
-- The message a bounce or complaint names, by its key (the left part of its
-- Message-ID, which a VERP token carries).
SELECT id, campaign, recipient, address, message_id, state, coalesce(updated_at, not_before) AS sent_at
FROM deliveries WHERE message_key = :key ORDER BY id LIMIT 1;

-- name: record_feedback
-- Keep one bounce, complaint or auto-reply read: what it was, what it meant
-- for the recipient of the message it names, and what was done.
INSERT INTO feedback_events (at, kind, action, outcome, suppression, matched, delivery, campaign, recipient,
                             address, status, sending_domain, reason, source)
VALUES (:now, :kind, :action, :outcome, :suppression, :matched, :delivery, :campaign, :recipient,
        :address, :status, :sending_domain, :reason, :source)
RETURNING id;

-- name: soft_bounce_history
-- The messages sent to one customer at one address (found through the
-- customer's index), in send order: each with whether a bounce came back
-- for it later (hard: suppress; soft: count-soft). Messages a server
-- accepted count, and any other a bounce names.
SELECT d.id AS delivery, coalesce(d.updated_at, d.not_before) AS at,
       EXISTS (SELECT 1 FROM feedback_events AS e WHERE e.delivery = d.id AND e.action = 'suppress') AS hard,
       EXISTS (SELECT 1 FROM feedback_events AS e WHERE e.delivery = d.id AND e.action = 'count-soft') AS soft
FROM deliveries AS d
WHERE d.recipient = :recipient AND lower(d.address) = lower(:address)
  AND (d.state = 'sent' OR EXISTS (SELECT 1 FROM feedback_events AS e WHERE e.delivery = d.id))
ORDER BY at, d.id;

-- name: feedback_events
-- The feedback read, oldest first: of one kind, since a time, of one
-- campaign (each when given), at most :limit.
SELECT * FROM feedback_events
WHERE (:kind IS NULL OR kind = :kind) AND (:since IS NULL OR at >= :since)
  AND (:campaign IS NULL OR campaign = :campaign)
ORDER BY at, id
LIMIT :limit;

-- name: delivered_counts
-- Messages the receiving servers accepted, per campaign and sending domain
-- (the right part of their Message-ID): what complaint rates divide by.
SELECT campaign, lower(rtrim(substr(message_id, instr(message_id, '@') + 1), '>')) AS sending_domain, count(*) AS n
FROM deliveries WHERE state = 'sent'
GROUP BY campaign, sending_domain;

-- name: complaint_counts
-- Messages that drew a complaint, per campaign and sending domain (a
-- message complained about twice counts once).
SELECT campaign, sending_domain, count(DISTINCT delivery) AS n
FROM feedback_events WHERE action = 'complaint' AND delivery IS NOT NULL
GROUP BY campaign, sending_domain;

-- name: migrate_message_key_column
-- Stores made before rows could be found by their Message-ID's key gain the
-- column (filled in by migrate_message_key_fill).
ALTER TABLE deliveries ADD COLUMN message_key TEXT;

-- name: migrate_message_key_fill
-- Each row's key: the left part of its Message-ID, lower-cased.
UPDATE deliveries SET message_key = lower(substr(message_id, 2, instr(message_id, '@') - 2))
WHERE message_key IS NULL AND message_id LIKE '<%@%>';

-- name: migrate_message_key_index
-- Rows by their Message-ID's key (a bounce's VERP token names it).
CREATE INDEX IF NOT EXISTS deliveries_message_key ON deliveries (message_key);

-- name: migrate_hold_reason_column
-- Stores made before a campaign could be paused for its complaint rate gain
-- the column that says why.
ALTER TABLE campaign_holds ADD COLUMN reason TEXT;

-- name: migrate_suppressions_current
-- Whether the suppression list allows every reason (stores made before runs
-- of soft bounces suppressed do not).
SELECT sql LIKE '%''soft-bounce''%' AS current FROM sqlite_schema WHERE type = 'table' AND name = 'suppressions';

-- name: migrate_suppressions_rename
-- SQLite cannot change a CHECK constraint: the old list steps aside, the
-- schema then creates the new one.
ALTER TABLE suppressions RENAME TO suppressions_before_soft_bounces;

-- name: migrate_suppressions_copy
-- Every entry moves to the new list, as it was; the old list goes.
INSERT INTO suppressions (kind, value, reason, detail, at)
SELECT kind, value, reason, detail, at FROM suppressions_before_soft_bounces;
DROP TABLE suppressions_before_soft_bounces;
