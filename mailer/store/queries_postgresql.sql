-- Every SQL statement of the PostgreSQL store, as named blocks.
--
-- A block starts with "-- name: NAME"; the comment lines right after it say
-- what the statement is for; the rest, up to the next block, is the statement.
-- Parameters are psycopg's named placeholders. Times are UTC epoch seconds.
-- The statements match queries_sqlite.sql name for name.

-- name: schema
-- The tables (see queries_sqlite.sql for what each is for). Run under
-- lock_schema, and only when migrate_state says something is missing.
CREATE TABLE IF NOT EXISTS deliveries (
    id             BIGSERIAL PRIMARY KEY,
    campaign       TEXT    NOT NULL,
    recipient      TEXT    NOT NULL,
    address        TEXT    NOT NULL,
    message_class  TEXT    NOT NULL DEFAULT 'promotional',
    state          TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN (
                       'planned', 'queued', 'paused', 'leased', 'sending', 'sent', 'deferred',
                       'bounced', 'suppressed', 'capped', 'expired', 'failed', 'unknown', 'cancelled')),
    not_before     DOUBLE PRECISION NOT NULL,
    expires_at     DOUBLE PRECISION NOT NULL,
    priority       INTEGER NOT NULL DEFAULT 0,
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_owner    TEXT,
    lease_deadline DOUBLE PRECISION,
    message_id     TEXT,
    reply_code     INTEGER,
    reply_enhanced TEXT,
    reply_text     TEXT,
    reason         TEXT,
    on_cap         TEXT    NOT NULL DEFAULT 'defer' CHECK (on_cap IN ('defer', 'drop')),
    payload        TEXT    NOT NULL DEFAULT '{}',
    domain         TEXT    NOT NULL DEFAULT '',
    updated_at     DOUBLE PRECISION,
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
    id            BIGSERIAL PRIMARY KEY,
    delivery      BIGINT  NOT NULL,
    campaign      TEXT    NOT NULL,
    recipient     TEXT    NOT NULL,
    message_class TEXT    NOT NULL,
    at            DOUBLE PRECISION NOT NULL,
    products      TEXT
);
CREATE INDEX IF NOT EXISTS send_log_recipient ON send_log (recipient, at);
CREATE TABLE IF NOT EXISTS suppressions (
    kind   TEXT NOT NULL CHECK (kind IN ('address', 'recipient')),
    value  TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('unsubscribed', 'hard-bounce', 'soft-bounce', 'complaint', 'manual')),
    detail TEXT,
    at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE IF NOT EXISTS preferences (
    recipient TEXT PRIMARY KEY,
    volume    TEXT NOT NULL CHECK (volume IN ('everything', 'weekly', 'monthly', 'only-important'))
);
CREATE TABLE IF NOT EXISTS buckets (
    name       TEXT PRIMARY KEY,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS pauses (
    pool   TEXT PRIMARY KEY,
    until  DOUBLE PRECISION NOT NULL,
    code   INTEGER,
    reason TEXT
);
CREATE TABLE IF NOT EXISTS campaigns (
    id         TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS campaign_holds (
    campaign TEXT PRIMARY KEY,
    hold     TEXT NOT NULL CHECK (hold IN ('paused', 'cancelled')),
    at       DOUBLE PRECISION NOT NULL,
    reason   TEXT
);
CREATE TABLE IF NOT EXISTS feedback_events (
    id             BIGSERIAL PRIMARY KEY,
    at             DOUBLE PRECISION NOT NULL,
    kind           TEXT    NOT NULL,
    action         TEXT    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('suppressed', 'counted', 'ignored', 'unmatched')),
    suppression    TEXT,
    matched        TEXT,
    delivery       BIGINT,
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
VALUES (%(campaign)s, %(recipient)s, %(address)s, %(message_class)s,
        CASE %(state)s::text
            WHEN 'queued' THEN coalesce((SELECT hold FROM campaign_holds WHERE campaign = %(campaign)s), 'queued')
            ELSE %(state)s END,
        %(not_before)s, %(expires_at)s, %(priority)s, %(message_id)s, %(on_cap)s, %(payload)s, %(domain)s, %(now)s,
        %(message_key)s)
ON CONFLICT (campaign, recipient) DO NOTHING;

-- name: discard_planned
-- Planned rows of a campaign that will not be sent after all (its check
-- failed while it was being queued): they go, as if never queued.
DELETE FROM deliveries WHERE campaign = %(campaign)s AND state = 'planned';

-- name: forget_unqueued_campaign
-- A campaign none of whose rows is left keeps no snapshot: queueing it again
-- starts from the files as they are then.
DELETE FROM campaigns WHERE id = %(campaign)s AND NOT EXISTS (SELECT 1 FROM deliveries WHERE campaign = %(campaign)s);

-- name: release_planned
-- Planned rows of a campaign become claimable (or paused, or cancelled, as
-- the campaign is).
UPDATE deliveries
SET state = coalesce((SELECT hold FROM campaign_holds WHERE campaign = %(campaign)s), 'queued'), updated_at = %(now)s
WHERE campaign = %(campaign)s AND state = 'planned';

-- name: recover_leased
-- A worker that leased rows and vanished without starting to send them:
-- the rows go back to the queue once the lease has run out.
UPDATE deliveries
SET state = 'queued', lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s
WHERE state = 'leased' AND lease_deadline < %(now)s;

-- name: recover_sending
-- A worker died between committing 'sending' and recording the reply: we
-- cannot know whether the server accepted the message. %(dead_state)s is
-- 'unknown' (at most once) or 'queued' (at least once).
UPDATE deliveries
SET state = %(dead_state)s, lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s,
    reason = 'worker lost while sending'
WHERE state = 'sending' AND lease_deadline < %(now)s;

-- name: expire
-- Waiting rows past their expiry are never sent.
UPDATE deliveries
SET state = 'expired', reason = coalesce(reason || '; ', '') || 'expired before delivery', updated_at = %(now)s
WHERE state IN ('queued', 'deferred') AND expires_at <= %(now)s;

-- name: due_count
-- How many rows are due, counting no further than :cap.
SELECT count(*) AS n FROM (
    SELECT 1 FROM deliveries WHERE state IN ('queued', 'deferred') AND not_before <= %(now)s LIMIT %(cap)s
) AS due;

-- name: due
-- Candidates for a claim when few are due: every due row (found by time),
-- in class order (transactional, lifecycle, promotional), then by priority
-- and age; rows another claim is looking at are skipped, never waited for.
-- Rows of a paused campaign are skipped (its waiting rows are 'paused'; this
-- catches those that came back from a worker after the pause); rows of a
-- cancelled one come with their hold, to be set aside.
SELECT d.id, d.recipient, d.address, d.message_class, d.on_cap, d.expires_at, h.hold
FROM deliveries AS d LEFT JOIN campaign_holds AS h ON h.campaign = d.campaign
WHERE d.state IN ('queued', 'deferred') AND d.not_before <= %(now)s AND coalesce(h.hold, '') <> 'paused'
ORDER BY CASE d.message_class WHEN 'transactional' THEN 0 WHEN 'lifecycle' THEN 1 ELSE 2 END,
         d.priority DESC, d.not_before, d.id
LIMIT %(limit)s
FOR UPDATE OF d SKIP LOCKED;

-- name: due_many
-- The same when many are due: read in that order from the claim index, so a
-- claim costs the rows it takes, not a sort of the whole queue.
SELECT d.id, d.recipient, d.address, d.message_class, d.on_cap, d.expires_at, h.hold
FROM deliveries AS d LEFT JOIN campaign_holds AS h ON h.campaign = d.campaign
WHERE d.state IN ('queued', 'deferred') AND d.not_before <= %(now)s AND coalesce(h.hold, '') <> 'paused'
ORDER BY CASE d.message_class WHEN 'transactional' THEN 0 WHEN 'lifecycle' THEN 1 ELSE 2 END,
         d.priority DESC, d.not_before, d.id
LIMIT %(limit)s
FOR UPDATE OF d SKIP LOCKED;

-- name: is_suppressed
-- Whether a row's address or customer is on the suppression list.
SELECT 1 FROM suppressions
WHERE (kind = 'address' AND value = lower(%(address)s::text)) OR (kind = 'recipient' AND value = %(recipient)s)
LIMIT 1;

-- name: history
-- What a customer was sent within the cap horizon (whatever the clock that
-- stamped it), plus what is in flight to them: leased or sending, whatever
-- its stamp, counted as going out no earlier than %(now)s; unknown (it may
-- have been sent) within the horizon. For the caps.
SELECT at, message_class FROM send_log WHERE recipient = %(recipient)s AND at > %(since)s
UNION ALL
SELECT greatest(coalesce(updated_at, not_before), %(now)s) AS at, message_class FROM deliveries
WHERE recipient = %(recipient)s AND id != %(id)s
  AND (state IN ('leased', 'sending')
       OR (state = 'unknown' AND coalesce(updated_at, not_before) > %(since)s));

-- name: lock_recipient
-- Serialise claims for one customer until the transaction ends, so that the
-- cap check sees every other claim's committed leases.
SELECT pg_advisory_xact_lock(hashtextextended(%(recipient)s::text, 7));

-- name: volume
-- The customer's volume preference, if they set one.
SELECT volume FROM preferences WHERE recipient = %(recipient)s;

-- name: lease
-- Take a due row for this worker.
UPDATE deliveries
SET state = 'leased', lease_owner = %(owner)s, lease_deadline = %(deadline)s, updated_at = %(now)s
WHERE id = %(id)s AND state IN ('queued', 'deferred');

-- name: set_aside
-- A claim found the row suppressed, capped (dropped or deferred) or expired.
UPDATE deliveries
SET state = %(state)s, not_before = coalesce(%(not_before)s, not_before), reason = %(reason)s, updated_at = %(now)s
WHERE id = %(id)s AND state IN ('queued', 'deferred');

-- name: heartbeat
-- Extend the leases this worker still holds; with %(ids)s, only those rows,
-- the ones it is still working on.
UPDATE deliveries SET lease_deadline = %(deadline)s
WHERE lease_owner = %(owner)s AND state IN ('leased', 'sending')
  AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]));

-- name: mark_sending
-- Commit 'sending' before DATA, fenced: only if the row is still leased to
-- us and the recipient was not suppressed meanwhile; with per_domain, only
-- while fewer than that many messages to the row's recipient domain are being
-- sent by any live worker (a dead worker's rows, their lease run out, do not
-- count). A lease that ran out but that nobody took over (recovery would have
-- cleared its owner) is still ours: it is renewed until %(deadline)s.
UPDATE deliveries
SET state = 'sending', attempts = attempts + 1, updated_at = %(now)s, message_id = coalesce(%(message_id)s, message_id),
    message_key = coalesce(%(message_key)s, message_key),
    lease_deadline = CASE WHEN lease_deadline > %(now)s THEN lease_deadline ELSE %(deadline)s END
WHERE id = %(id)s AND state = 'leased' AND lease_owner = %(owner)s
  AND NOT EXISTS (SELECT 1 FROM suppressions
                  WHERE (kind = 'address' AND value = lower(deliveries.address))
                     OR (kind = 'recipient' AND value = deliveries.recipient))
  AND (%(per_domain)s::int IS NULL
       OR (SELECT count(*) FROM deliveries AS busy
           WHERE busy.domain = deliveries.domain AND busy.state = 'sending'
             AND busy.lease_deadline > %(now)s) < %(per_domain)s);

-- name: lock_domain
-- Serialise sends to one recipient domain until the transaction ends, so the
-- count of messages being sent to it is exact (taken in domain order).
SELECT pg_advisory_xact_lock(hashtextextended(%(domain)s::text, 9));

-- name: lock_domains_of
-- The recipient domains of some rows.
SELECT DISTINCT domain FROM deliveries WHERE id = ANY(%(ids)s) ORDER BY domain;

-- name: suppress_leased
-- A leased row whose recipient was suppressed after it was queued.
UPDATE deliveries
SET state = 'suppressed', lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s,
    reason = 'suppressed after queueing'
WHERE id = %(id)s AND state = 'leased' AND lease_owner = %(owner)s;

-- name: finish
-- Record the reply, fenced: a zombie whose lease was taken away (its owner
-- cleared by recovery, or replaced by a new owner) changes nothing.
UPDATE deliveries
SET state = %(state)s, not_before = coalesce(%(not_before)s, not_before), reply_code = %(code)s,
    reply_enhanced = %(enhanced)s, reply_text = %(text)s, reason = %(reason)s,
    lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s
WHERE id = %(id)s AND state = 'sending' AND lease_owner = %(owner)s;

-- name: log_send
-- A message the server accepted: the caps count it from now on, and the
-- products it showed (a JSON array, when the row's payload names them) are
-- not shown again to this customer for a few emails.
INSERT INTO send_log (delivery, campaign, recipient, message_class, at, products)
SELECT id, campaign, recipient, message_class, %(now)s, (payload::jsonb -> 'shown')::text FROM deliveries WHERE id = %(id)s;

-- name: put_back
-- A leased row this worker will not send now: deferred (the pool is paused),
-- failed (it cannot be rendered) or expired.
UPDATE deliveries
SET state = %(state)s, not_before = coalesce(%(not_before)s, not_before), reason = %(reason)s,
    lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s
WHERE id = %(id)s AND state = 'leased' AND lease_owner = %(owner)s;

-- name: release
-- Give back leased rows this worker will not send (a drain on SIGTERM).
UPDATE deliveries
SET state = 'queued', lease_owner = NULL, lease_deadline = NULL, updated_at = %(now)s
WHERE id = %(id)s AND state = 'leased' AND lease_owner = %(owner)s;

-- name: suppress
-- Add an address or customer id to the suppression list (first reason wins).
-- Replies seen while sending (a 5.1.1 at RCPT TO) and bounces, complaints
-- and runs of soft bounces that come back later all suppress through here.
INSERT INTO suppressions (kind, value, reason, detail, at)
VALUES (%(kind)s, %(value)s, %(reason)s, %(detail)s, %(now)s)
ON CONFLICT (kind, value) DO NOTHING;

-- name: unsuppress
-- Remove an entry (a customer who subscribes again).
DELETE FROM suppressions WHERE kind = %(kind)s AND value = %(value)s;

-- name: suppressions
-- The whole suppression list, newest first.
SELECT kind, value, reason, detail, at FROM suppressions ORDER BY at DESC, kind, value;

-- name: address_of
-- The addresses a customer was queued under (for an unsubscribe by token).
SELECT DISTINCT address FROM deliveries WHERE recipient = %(recipient)s;

-- name: set_volume
-- A customer's volume preference.
INSERT INTO preferences (recipient, volume) VALUES (%(recipient)s, %(volume)s)
ON CONFLICT (recipient) DO UPDATE SET volume = excluded.volume;

-- name: get
-- One row by campaign and recipient.
SELECT * FROM deliveries WHERE campaign = %(campaign)s AND recipient = %(recipient)s;

-- name: get_by_id
-- One row by id.
SELECT * FROM deliveries WHERE id = %(id)s;

-- name: list
-- A campaign's rows (or every row when %(campaign)s is NULL), in queue order.
SELECT * FROM deliveries WHERE %(campaign)s::text IS NULL OR campaign = %(campaign)s ORDER BY id;

-- name: counts
-- How many rows are in each state.
SELECT state, count(*) AS n FROM deliveries
WHERE %(campaign)s::text IS NULL OR campaign = %(campaign)s GROUP BY state ORDER BY state;

-- name: reply_classes
-- How many rows ended with each class of reply (2xx, 4xx, 5xx, none).
SELECT CASE WHEN reply_code IS NULL THEN 'none' ELSE (reply_code / 100)::text || 'xx' END AS class,
       count(*) AS n
FROM deliveries WHERE %(campaign)s::text IS NULL OR campaign = %(campaign)s GROUP BY class ORDER BY class;

-- name: pending
-- How many rows are in flight (leased or being sent, by any worker), how many
-- waiting rows are due now, and when the next waiting one is due; a paused
-- campaign's rows wait for no worker.
SELECT count(CASE WHEN d.state IN ('leased', 'sending') THEN 1 END) AS in_flight,
       count(CASE WHEN d.state IN ('queued', 'deferred') AND d.not_before <= %(now)s
                   AND h.campaign IS NULL THEN 1 END) AS due,
       min(CASE WHEN d.state IN ('queued', 'deferred') AND (d.not_before > %(now)s OR h.campaign IS NULL)
                THEN d.not_before END) AS next_due
FROM deliveries AS d LEFT JOIN campaign_holds AS h ON h.campaign = d.campaign AND h.hold = 'paused'
WHERE d.state IN ('queued', 'deferred', 'leased', 'sending');

-- name: send_log
-- The send log of one customer, oldest first.
SELECT campaign, message_class, at FROM send_log WHERE recipient = %(recipient)s ORDER BY at, id;

-- name: lock_bucket
-- Serialise reservations from one token bucket until the transaction ends
-- (a statement of its own, so the read that follows sees the latest level).
SELECT pg_advisory_xact_lock(hashtextextended(%(name)s::text, 8));

-- name: bucket_get
-- A token bucket's saved level.
SELECT tokens, updated_at FROM buckets WHERE name = %(name)s;

-- name: bucket_put
-- Save a token bucket's level.
INSERT INTO buckets (name, tokens, updated_at) VALUES (%(name)s, %(tokens)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;

-- name: pause
-- Pause a transport pool until %(until)s (the later pause wins).
INSERT INTO pauses (pool, until, code, reason) VALUES (%(pool)s, %(until)s, %(code)s, %(reason)s)
ON CONFLICT (pool) DO UPDATE SET until = excluded.until, code = excluded.code, reason = excluded.reason
WHERE excluded.until > pauses.until;

-- name: paused
-- Until when a pool is paused, and why.
SELECT until, code, reason FROM pauses WHERE pool = %(pool)s AND until > %(now)s;

-- name: put_campaign
-- Keep what a campaign's messages are rendered from (its snapshot). The first
-- one kept stays: rows already queued were chosen with it.
INSERT INTO campaigns (id, spec, created_at) VALUES (%(id)s, %(spec)s, %(now)s)
ON CONFLICT (id) DO NOTHING;

-- name: get_campaign
-- How to render a campaign's messages.
SELECT spec FROM campaigns WHERE id = %(id)s;

-- name: shown
-- The products shown to some customers in their last few emails (every
-- email counts, with products or without): one row per email. Emails queued
-- and not yet sent (or that may have been: unknown) count as the latest,
-- except those of %(campaign)s, the campaign being chosen for.
SELECT recipient, products FROM (
    SELECT recipient, products,
           row_number() OVER (PARTITION BY recipient ORDER BY waiting DESC, at DESC, id DESC) AS n
    FROM (
        SELECT recipient, products, at, id, 0 AS waiting
        FROM send_log WHERE recipient = ANY(%(recipients)s)
        UNION ALL
        SELECT recipient, (payload::jsonb -> 'shown')::text, not_before, id, 1
        FROM deliveries
        WHERE recipient = ANY(%(recipients)s)
          AND state IN ('planned', 'queued', 'paused', 'leased', 'sending', 'deferred', 'unknown')
          AND (%(campaign)s::text IS NULL OR campaign <> %(campaign)s)
    ) AS emails
) AS recent
WHERE n <= %(emails)s AND products IS NOT NULL;

-- name: migrate_products_column
-- Stores made before the send log kept products gain the column.
ALTER TABLE send_log ADD COLUMN IF NOT EXISTS products TEXT;

-- name: requeue_unknown
-- An operator found that messages left 'unknown' (their worker died mid-send)
-- never reached the server: send them again from now, within their expiry.
UPDATE deliveries
SET state = 'queued', not_before = %(now)s, lease_owner = NULL, lease_deadline = NULL,
    updated_at = %(now)s, reason = 'unknown; requeued by an operator'
WHERE state = 'unknown' AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s) AND (%(recipients)s::text[] IS NULL OR recipient = ANY(%(recipients)s));

-- name: log_unknown_sent
-- An operator found that 'unknown' messages did reach the server: the caps
-- and the shown-products log count them as sent at the time they were sent.
INSERT INTO send_log (delivery, campaign, recipient, message_class, at, products)
SELECT id, campaign, recipient, message_class, coalesce(updated_at, not_before), (payload::jsonb -> 'shown')::text
FROM deliveries WHERE state = 'unknown' AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s) AND (%(recipients)s::text[] IS NULL OR recipient = ANY(%(recipients)s));

-- name: mark_unknown_sent
-- ...and their rows become 'sent'.
UPDATE deliveries
SET state = 'sent', reason = 'unknown; confirmed sent by an operator', updated_at = %(now)s
WHERE state = 'unknown' AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s) AND (%(recipients)s::text[] IS NULL OR recipient = ANY(%(recipients)s));

-- name: migrate_domain_column
-- Stores made before rows knew their recipient domain gain the column, filled
-- in from each row's address.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS domain TEXT NOT NULL DEFAULT '';
UPDATE deliveries SET domain = lower(split_part(address, '@', 2)) WHERE domain = '';
CREATE INDEX IF NOT EXISTS deliveries_domain ON deliveries (domain, state);

-- name: lock_schema
-- Workers starting together create and migrate the tables one at a time.
SELECT pg_advisory_lock(4242001);

-- name: lock_schema_release
-- ...and let the next one look.
SELECT pg_advisory_unlock(4242001);

-- name: migrate_state
-- What of the current schema exists already (checked from the catalogue, so
-- an up-to-date store is opened without taking any lock on its tables).
SELECT
    to_regclass('deliveries_claim') IS NOT NULL AND to_regclass('deliveries_expiry') IS NOT NULL
        AND to_regclass('campaigns') IS NOT NULL AND to_regclass('campaign_holds') IS NOT NULL
        AND to_regclass('feedback_events_action') IS NOT NULL AS has_tables,
    EXISTS (SELECT 1 FROM pg_constraint
            WHERE conrelid = to_regclass('deliveries') AND contype = 'c'
              AND pg_get_constraintdef(oid) LIKE '%''capped''%') AS has_states,
    EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'send_log' AND column_name = 'products')
        AS has_products,
    EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'deliveries' AND column_name = 'domain')
        AND to_regclass('deliveries_domain') IS NOT NULL AS has_domain,
    EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'deliveries' AND column_name = 'message_key')
        AND to_regclass('deliveries_message_key') IS NOT NULL AS has_message_key,
    EXISTS (SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'campaign_holds' AND column_name = 'reason')
        AS has_hold_reason,
    EXISTS (SELECT 1 FROM pg_constraint
            WHERE conrelid = to_regclass('suppressions') AND contype = 'c'
              AND pg_get_constraintdef(oid) LIKE '%''soft-bounce''%') AS has_soft_bounce;

-- name: migrate_states
-- Stores made before campaigns could be paused or cancelled, or before
-- capped rows had a state of their own, allow the new states (every row
-- already satisfies the narrower check this replaces, so it is not validated
-- again).
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check CHECK (state IN (
    'planned', 'queued', 'paused', 'leased', 'sending', 'sent', 'deferred',
    'bounced', 'suppressed', 'capped', 'expired', 'failed', 'unknown', 'cancelled')) NOT VALID;

-- name: migrate_capped_rows
-- Rows a cap set aside before capped rows had a state of their own were
-- marked failed, reason 'capped: …': they are capped, not failures.
UPDATE deliveries SET state = 'capped' WHERE state = 'failed' AND reason LIKE 'capped:%';

-- name: rows_page
-- One page of the rows in one state, by next attempt time and id, after the
-- last row of the previous page (read from the state's index, so listing a
-- long queue page by page costs each page, not the queue); %(capped)s keeps
-- only the rows a frequency cap set aside.
SELECT * FROM deliveries
WHERE state = %(state)s AND (not_before, id) > (%(after_at)s, %(after_id)s)
  AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)
  AND (NOT %(capped)s OR reason LIKE 'capped:%%')
ORDER BY not_before, id
LIMIT %(limit)s;

-- name: campaign_counts
-- How many rows each campaign has in each state.
SELECT campaign, state, count(*) AS n FROM deliveries
WHERE %(campaign)s::text IS NULL OR campaign = %(campaign)s
GROUP BY campaign, state ORDER BY campaign, state;

-- name: reasons
-- Why rows are where they are, per campaign: each (state, reason) with its
-- count, the %(top)s most common of each campaign (sent rows say 'accepted';
-- they are left out).
SELECT campaign, state, reason, n FROM (
    SELECT campaign, state, reason, count(*) AS n,
           row_number() OVER (PARTITION BY campaign ORDER BY count(*) DESC, state, reason) AS place
    FROM deliveries
    WHERE reason IS NOT NULL AND state <> 'sent' AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)
    GROUP BY campaign, state, reason
) AS grouped
WHERE place <= %(top)s
ORDER BY campaign, place;

-- name: campaigns
-- The campaigns whose spec is stored or that an operator held: when the spec
-- was stored, and the hold (campaigns known only by their rows come from
-- campaign_counts).
SELECT id, max(created_at) AS created_at, max(hold) AS hold, max(reason) AS hold_reason FROM (
    SELECT id, created_at, NULL::text AS hold, NULL::text AS reason FROM campaigns
    UNION ALL
    SELECT campaign, NULL::double precision, hold, reason FROM campaign_holds
) AS known
WHERE %(campaign)s::text IS NULL OR id = %(campaign)s
GROUP BY id ORDER BY id;

-- name: campaign_hold
-- A campaign's hold, if an operator paused or cancelled it.
SELECT hold, at FROM campaign_holds WHERE campaign = %(campaign)s;

-- name: hold_campaign
-- Pause or cancel a campaign (a cancel replaces a pause), with the reason
-- when it was not an operator's doing (a complaint rate too high).
INSERT INTO campaign_holds (campaign, hold, at, reason) VALUES (%(campaign)s, %(hold)s, %(now)s, %(reason)s)
ON CONFLICT (campaign) DO UPDATE SET hold = excluded.hold, at = excluded.at, reason = excluded.reason;

-- name: unhold_campaign
-- Resume a paused campaign (a cancelled one stays cancelled).
DELETE FROM campaign_holds WHERE campaign = %(campaign)s AND hold = 'paused';

-- name: pause_rows
-- A paused campaign's waiting rows leave the claim index until it resumes
-- (rows being sent finish; they still expire: on resume, those past their
-- expiry are set aside at the next claim).
UPDATE deliveries SET state = 'paused', updated_at = %(now)s
WHERE campaign = %(campaign)s AND state IN ('queued', 'deferred');

-- name: resume_rows
-- ...and come back: deferred if they were tried before, else queued.
UPDATE deliveries SET state = CASE WHEN attempts > 0 THEN 'deferred' ELSE 'queued' END, updated_at = %(now)s
WHERE campaign = %(campaign)s AND state = 'paused';

-- name: cancel_rows
-- A cancelled campaign's unsent rows are never sent (rows being sent finish).
UPDATE deliveries
SET state = 'cancelled', reason = 'campaign cancelled by an operator', updated_at = %(now)s
WHERE campaign = %(campaign)s AND state IN ('planned', 'queued', 'deferred', 'paused');

-- name: retry_failed
-- Failed rows back to the queue from now, with a fresh expiry and their
-- attempts kept (paused if their campaign is; a cancelled campaign's stay).
UPDATE deliveries
SET state = CASE WHEN EXISTS (SELECT 1 FROM campaign_holds AS h
                              WHERE h.campaign = deliveries.campaign AND h.hold = 'paused')
                 THEN 'paused' ELSE 'queued' END,
    not_before = %(now)s, expires_at = %(expires_at)s, lease_owner = NULL, lease_deadline = NULL,
    updated_at = %(now)s,
    reason = 'requeued by an operator; failed with: ' || coalesce(reason, 'no reason recorded')
WHERE state = 'failed'
  AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)
  AND (%(recipients)s::text[] IS NULL OR recipient = ANY(%(recipients)s))
  AND NOT EXISTS (SELECT 1 FROM campaign_holds AS h WHERE h.campaign = deliveries.campaign AND h.hold = 'cancelled');

-- name: clock
-- The database's time now, in epoch seconds (the moment it is read, not
-- the start of the transaction): the one clock every worker sharing this
-- store stamps with when it gives none, whatever its machine's clock says.
SELECT extract(epoch FROM clock_timestamp())::double precision AS now;

-- name: message_by_key
-- The message a bounce or complaint names, by its key (the left part of its
-- Message-ID, which a VERP token carries).
SELECT id, campaign, recipient, address, message_id, state, coalesce(updated_at, not_before) AS sent_at
FROM deliveries WHERE message_key = %(key)s ORDER BY id LIMIT 1;

-- name: record_feedback
-- Keep one bounce, complaint or auto-reply read: what it was, what it meant
-- for the recipient of the message it names, and what was done.
INSERT INTO feedback_events (at, kind, action, outcome, suppression, matched, delivery, campaign, recipient,
                             address, status, sending_domain, reason, source)
VALUES (%(now)s, %(kind)s, %(action)s, %(outcome)s, %(suppression)s, %(matched)s, %(delivery)s, %(campaign)s,
        %(recipient)s, %(address)s, %(status)s, %(sending_domain)s, %(reason)s, %(source)s)
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
WHERE d.recipient = %(recipient)s AND lower(d.address) = lower(%(address)s)
  AND (d.state = 'sent' OR EXISTS (SELECT 1 FROM feedback_events AS e WHERE e.delivery = d.id))
ORDER BY at, d.id;

-- name: feedback_events
-- The feedback read, oldest first: of one kind, since a time, of one
-- campaign (each when given), at most %(limit)s.
SELECT * FROM feedback_events
WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) AND (%(since)s::double precision IS NULL OR at >= %(since)s)
  AND (%(campaign)s::text IS NULL OR campaign = %(campaign)s)
ORDER BY at, id
LIMIT %(limit)s;

-- name: delivered_counts
-- Messages the receiving servers accepted, per campaign and sending domain
-- (the right part of their Message-ID): what complaint rates divide by.
SELECT campaign, lower(rtrim(split_part(message_id, '@', 2), '>')) AS sending_domain, count(*) AS n
FROM deliveries WHERE state = 'sent'
GROUP BY campaign, lower(rtrim(split_part(message_id, '@', 2), '>'));

-- name: complaint_counts
-- Messages that drew a complaint, per campaign and sending domain (a
-- message complained about twice counts once).
SELECT campaign, sending_domain, count(DISTINCT delivery) AS n
FROM feedback_events WHERE action = 'complaint' AND delivery IS NOT NULL
GROUP BY campaign, sending_domain;

-- name: migrate_message_key
-- Stores made before rows could be found by their Message-ID's key gain the
-- column, filled in with each row's key (the left part of its Message-ID,
-- lower-cased), and its index.
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS message_key TEXT;
UPDATE deliveries SET message_key = lower(substr(message_id, 2, strpos(message_id, '@') - 2))
WHERE message_key IS NULL AND message_id LIKE '<%@%>';
CREATE INDEX IF NOT EXISTS deliveries_message_key ON deliveries (message_key);

-- name: migrate_hold_reason
-- Stores made before a campaign could be paused for its complaint rate gain
-- the column that says why.
ALTER TABLE campaign_holds ADD COLUMN IF NOT EXISTS reason TEXT;

-- name: migrate_suppression_reasons
-- Stores made before runs of soft bounces suppressed allow the new reason
-- (every entry satisfies the narrower check this replaces, so it is not
-- validated again).
ALTER TABLE suppressions DROP CONSTRAINT IF EXISTS suppressions_reason_check;
ALTER TABLE suppressions ADD CONSTRAINT suppressions_reason_check
    CHECK (reason IN ('unsubscribed', 'hard-bounce', 'soft-bounce', 'complaint', 'manual')) NOT VALID;
