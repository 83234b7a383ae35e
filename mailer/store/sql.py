"""The store's logic over named SQL, shared by every SQL backend.

A backend supplies a connection, a transaction (:meth:`SQLStore._transaction`),
reads (:meth:`SQLStore._read`) and its ``queries_<backend>.sql``; the state
machine, fencing and cap checks are written once, here.

Times: a caller may pass ``now`` (tests, simulations); without it, the
claims, leases, sends and replies of every worker are stamped by one clock,
the database's, read inside the transaction (the ``clock`` query), so
workers on machines whose clocks disagree still agree on leases and caps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal, TypeVar

from mailer.sending import caps as caps_
from mailer.errors import StoreError
from mailer.feedback import rules
from mailer.feedback.records import Feedback
from mailer.store.queries import Query
from mailer.store.records import (
    CAPPED,
    DEFAULT_EXPIRY,
    LISTED_STATES,
    STATES,
    CampaignSummary,
    Claimed,
    DeadSending,
    Delivery,
    FeedbackEvent,
    NewDelivery,
    Outcome,
    ReasonCount,
    Suppression,
    SuppressionReason,
)
from mailer.sending.throttle import hold, reserve

T = TypeVar("T")

_SENT_STATES = frozenset({"sent"})
_CANCELLED = "campaign cancelled by an operator"
_SORT_AT_MOST = 20_000
"""Up to this many due rows, a claim finds them by time and sorts them; past
it, it reads them in order from the claim index (see ``due_many``)."""


class SQLStore:
    """Everything a SQL store does, given a backend's plumbing."""

    backend: str
    url: str
    dead_sending: DeadSending
    caps: caps_.Caps | None
    _q: dict[str, Query]

    def _transaction(self, body: Callable[[Any], T]) -> T:
        raise NotImplementedError

    def _read(self, name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        raise NotImplementedError

    def _executemany(self, db: Any, sql: str, rows: list[dict[str, Any]]) -> int:
        return int(db.executemany(sql, rows).rowcount)

    def _lock(self, db: Any, name: str, params: Mapping[str, Any]) -> None:
        """Run the backend's ``lock_*`` statement if it has one (PostgreSQL
        serialises per customer and per bucket; SQLite's single writer needs none)."""
        query = self._q.get(name)
        if query is not None:
            db.execute(query.sql, dict(params))

    def _now(self, db: Any, now: float | None) -> float:
        """``now`` if the caller gave it, else the database's clock."""
        if now is not None:
            return now
        return float(db.execute(self._q["clock"].sql).fetchone()["now"])

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, name: str) -> Query:
        """The named statement (for documentation and tests)."""
        return self._q[name]

    # -- queueing -------------------------------------------------------------------------------

    def enqueue(self, deliveries: Iterable[NewDelivery], *, now: float | None = None, batch: int = 1000) -> int:
        """Queue messages; returns how many were new (pairs already queued are
        left alone). Commits every ``batch`` rows, so an iterator of millions
        streams."""
        now = time.time() if now is None else now
        sql = self._q["enqueue"].sql
        added = 0
        chunk: list[dict[str, Any]] = []

        def flush(rows: list[dict[str, Any]]) -> int:
            def body(db: Any) -> int:
                return self._executemany(db, sql, rows)

            return self._transaction(body)

        for item in deliveries:
            caps_.check_class(item.message_class)
            chunk.append(
                {
                    "campaign": item.campaign,
                    "recipient": item.recipient,
                    "address": item.address,
                    "message_class": item.message_class,
                    "state": item.state,
                    "not_before": item.not_before,
                    "expires_at": item.expires_at,
                    "priority": item.priority,
                    "message_id": item.message_id,
                    "message_key": rules.message_key(item.message_id),
                    "on_cap": item.on_cap,
                    "payload": item.payload_json(),
                    "domain": item.address.rpartition("@")[2].lower(),
                    "now": now,
                }
            )
            if len(chunk) >= batch:
                added += flush(chunk)
                chunk = []
        if chunk:
            added += flush(chunk)
        return added

    def discard_planned(self, campaign: str) -> int:
        """Delete a campaign's ``planned`` rows (and its snapshot, if no row of it
        is left); returns how many rows went."""
        q = self._q

        def body(db: Any) -> int:
            gone = int(db.execute(q["discard_planned"].sql, {"campaign": campaign}).rowcount)
            db.execute(q["forget_unqueued_campaign"].sql, {"campaign": campaign})
            return gone

        return self._transaction(body)

    def release_planned(self, campaign: str, *, now: float | None = None) -> int:
        """Make a campaign's ``planned`` rows claimable."""
        now = time.time() if now is None else now
        return self._transaction(
            lambda db: int(db.execute(self._q["release_planned"].sql, {"campaign": campaign, "now": now}).rowcount)
        )

    # -- claiming ---------------------------------------------------------------------------------

    def recover(self, *, now: float | None = None) -> int:
        """Return expired leases to the queue and turn dead ``sending`` rows
        ``unknown`` (or ``queued``); returns how many rows changed."""
        return self._transaction(lambda db: self._recover(db, self._now(db, now)))

    def _recover(self, db: Any, now: float) -> int:
        changed = db.execute(self._q["recover_leased"].sql, {"now": now}).rowcount
        changed += db.execute(
            self._q["recover_sending"].sql, {"now": now, "dead_state": self.dead_sending}
        ).rowcount
        return int(changed)

    def claim(
        self, owner: str, *, now: float | None = None, limit: int = 10, lease_seconds: float = 60.0
    ) -> Claimed:
        """Lease up to ``limit`` due rows to ``owner``, in one transaction.

        In the same transaction: expired leases are recovered, rows past their
        expiry expire, and each candidate is checked against the suppression
        list and the frequency caps (counting what was sent and what is in
        flight, this claim's own rows included), so no two workers can both
        pass a cap for the same customer. A cap counts every message to the
        customer leased, being sent or sent in its window, whatever its time
        stamp: another claim may have been stamped by a clock ahead of this
        one's, or taken its lease while this one waited for the customer.
        """
        return self._transaction(lambda db: self._claim(db, owner, self._now(db, now), limit, lease_seconds))

    def _claim(self, db: Any, owner: str, now: float, limit: int, lease_seconds: float) -> Claimed:
        q = self._q
        recovered = self._recover(db, now)
        expired = db.execute(q["expire"].sql, {"now": now}).rowcount
        leased: list[Delivery] = []
        suppressed = capped = cancelled = 0
        scan = max(limit * 4, 32)
        seen: set[int] = set()
        # Few due rows are found by time and sorted; many are read in claim order from their index.
        many = db.execute(q["due_count"].sql, {"now": now, "cap": _SORT_AT_MOST}).fetchone()["n"] >= _SORT_AT_MOST
        due = q["due_many" if many else "due"].sql
        while len(leased) < limit:
            rows = [r for r in db.execute(due, {"now": now, "limit": scan}).fetchall() if r["id"] not in seen]
            if not rows:
                break
            for row in rows:
                if len(leased) >= limit:
                    break
                seen.add(row["id"])
                params = {"id": row["id"], "now": now, "not_before": None}
                if row["hold"] == "cancelled":  # came back from a worker after its campaign was cancelled
                    db.execute(q["set_aside"].sql, {**params, "state": "cancelled", "reason": _CANCELLED})
                    cancelled += 1
                    continue
                self._lock(db, "lock_recipient", {"recipient": row["recipient"]})
                if db.execute(q["is_suppressed"].sql, {"address": row["address"], "recipient": row["recipient"]}).fetchone():
                    db.execute(q["set_aside"].sql, {**params, "state": "suppressed", "reason": "suppressed"})
                    suppressed += 1
                    continue
                verdict = self._cap_verdict(db, row, now)
                if not verdict.allowed:
                    capped += 1
                    if row["on_cap"] == "defer" and verdict.retry_at is not None and verdict.retry_at < row["expires_at"]:
                        db.execute(
                            q["set_aside"].sql,
                            {**params, "state": "deferred", "not_before": verdict.retry_at,
                             "reason": f"{CAPPED}: {verdict.reason}"},
                        )
                    else:  # dropped, or the cap allows it only after it expires
                        db.execute(q["set_aside"].sql, {**params, "state": CAPPED, "reason": f"{CAPPED}: {verdict.reason}"})
                    continue
                db.execute(q["lease"].sql, {"id": row["id"], "owner": owner, "deadline": now + lease_seconds, "now": now})
                leased.append(Delivery.from_row(db.execute(q["get_by_id"].sql, {"id": row["id"]}).fetchone()))
        return Claimed(leased, suppressed=suppressed, capped=capped, expired=expired, recovered=recovered,
                       cancelled=cancelled)

    def _cap_verdict(self, db: Any, row: Any, now: float) -> caps_.Verdict:
        if self.caps is None or row["message_class"] in self.caps.exempt:
            return caps_.ALLOWED
        q = self._q
        history = [
            caps_.Sent(at=r["at"], message_class=r["message_class"])
            for r in db.execute(
                q["history"].sql,
                {"recipient": row["recipient"], "since": now - self.caps.horizon, "id": row["id"], "now": now},
            )
        ]
        pref = db.execute(q["volume"].sql, {"recipient": row["recipient"]}).fetchone()
        return caps_.check(
            history,
            now=now,
            message_class=row["message_class"],
            volume=pref["volume"] if pref else "everything",
            caps=self.caps,
        )

    def heartbeat(
        self,
        owner: str,
        *,
        now: float | None = None,
        lease_seconds: float = 60.0,
        ids: Iterable[int] | None = None,
    ) -> int:
        """Extend the leases ``owner`` still holds (with ``ids``, only those
        rows: a worker extends only what it is still working on, so a row it
        let go of runs out and returns to the queue); returns how many."""
        wanted = None if ids is None else self._id_list(list(ids))

        def body(db: Any) -> int:
            deadline = self._now(db, now) + lease_seconds
            return int(db.execute(self._q["heartbeat"].sql, {"owner": owner, "deadline": deadline, "ids": wanted}).rowcount)

        return self._transaction(body)

    def release(self, owner: str, ids: Iterable[int], *, now: float | None = None) -> int:
        """Give back leased rows ``owner`` will not send (they are queued again)."""
        sql = self._q["release"].sql
        wanted = list(ids)

        def body(db: Any) -> int:
            at = self._now(db, now)
            return int(sum(db.execute(sql, {"id": i, "owner": owner, "now": at}).rowcount for i in wanted))

        return self._transaction(body)

    def put_back(
        self,
        delivery_id: int,
        owner: str,
        *,
        state: Literal["deferred", "failed", "expired"],
        not_before: float | None = None,
        reason: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Set aside a leased row ``owner`` will not send now (fenced)."""
        params = {"id": delivery_id, "owner": owner, "state": state, "not_before": not_before, "reason": reason}
        return bool(
            self._transaction(lambda db: db.execute(self._q["put_back"].sql, {**params, "now": self._now(db, now)}).rowcount)
        )

    # -- sending ------------------------------------------------------------------------------------

    def mark_sending(
        self,
        delivery_id: int,
        owner: str,
        *,
        now: float | None = None,
        message_id: str | None = None,
        lease_seconds: float = 60.0,
    ) -> Literal["sending", "suppressed", "lost"]:
        """Commit ``sending`` before the message's DATA goes out, if the row
        is still leased to ``owner``. ``suppressed``: the recipient was
        suppressed after queueing (the row now says so); ``lost``: another
        worker took the row, or it went back to the queue — do not send.

        A lease that ran out (a stalled worker) is still ``owner``'s while
        nobody took the row over: it is sent, and its lease renewed for
        ``lease_seconds``, rather than left leased to a worker that gave up on it."""
        return self.mark_sending_many(  # type: ignore[return-value]
            [(delivery_id, message_id)], owner, now=now, lease_seconds=lease_seconds
        )[0]

    def mark_sending_many(
        self,
        rows: Iterable[tuple[int, str | None]],
        owner: str,
        *,
        now: float | None = None,
        per_domain: int | None = None,
        lease_seconds: float = 60.0,
    ) -> list[Literal["sending", "suppressed", "lost", "busy"]]:
        """:meth:`mark_sending` for several ``(id, message id)`` rows in one
        transaction (one commit for a worker's whole group of ready messages).

        With ``per_domain``, a row is only marked while fewer than that many
        messages to its recipient domain are being sent by any worker sharing
        the store; otherwise it stays leased and is ``busy`` (try again soon).
        """
        given = now
        items = list(rows)
        q = self._q
        mark = q["mark_sending"].sql

        def body(db: Any) -> list[Literal["sending", "suppressed", "lost", "busy"]]:
            now = self._now(db, given)
            if per_domain is not None and "lock_domain" in q:
                ids = [delivery_id for delivery_id, _ in items]
                for found in db.execute(q["lock_domains_of"].sql, {"ids": ids}).fetchall():
                    self._lock(db, "lock_domain", {"domain": found["domain"]})
            results: list[Literal["sending", "suppressed", "lost", "busy"]] = []
            for delivery_id, message_id in items:
                params = {"id": delivery_id, "owner": owner, "now": now, "message_id": message_id,
                          "message_key": rules.message_key(message_id), "per_domain": per_domain,
                          "deadline": now + lease_seconds}  # fmt: skip
                if db.execute(mark, params).rowcount:
                    results.append("sending")
                    continue
                row = db.execute(q["get_by_id"].sql, {"id": delivery_id}).fetchone()
                if row is None or row["state"] != "leased" or row["lease_owner"] != owner:
                    results.append("lost")
                elif db.execute(q["is_suppressed"].sql, {"address": row["address"].lower(),
                                                         "recipient": row["recipient"]}).fetchone():  # fmt: skip
                    db.execute(q["suppress_leased"].sql, {"id": delivery_id, "owner": owner, "now": now})
                    results.append("suppressed")
                else:
                    results.append("busy")
            return results

        return self._transaction(body) if items else []

    def finish(self, delivery_id: int, owner: str, outcome: Outcome, *, now: float | None = None) -> bool:
        """Record what became of a send, fenced: False (and nothing changed)
        when ``owner`` no longer holds the row — a zombie's late reply."""
        return self.finish_many([(delivery_id, outcome)], owner, now=now)[0]

    def finish_many(self, rows: Iterable[tuple[int, Outcome]], owner: str, *, now: float | None = None) -> list[bool]:
        """:meth:`finish` for several ``(id, outcome)`` rows in one transaction."""
        given = now
        items = list(rows)
        q = self._q

        def body(db: Any) -> list[bool]:
            now = self._now(db, given)
            results = []
            for delivery_id, outcome in items:
                row = db.execute(q["get_by_id"].sql, {"id": delivery_id}).fetchone() if outcome.suppress else None
                done = db.execute(
                    q["finish"].sql,
                    {
                        "id": delivery_id,
                        "owner": owner,
                        "state": outcome.state,
                        "not_before": outcome.not_before,
                        "code": outcome.code,
                        "enhanced": outcome.enhanced,
                        "text": outcome.text,
                        "reason": outcome.reason,
                        "now": now,
                    },
                ).rowcount
                results.append(bool(done))
                if not done:
                    continue
                if outcome.state in _SENT_STATES:
                    db.execute(q["log_send"].sql, {"id": delivery_id, "now": now})
                if outcome.suppress and row is not None:
                    db.execute(
                        q["suppress"].sql,
                        {"kind": "address", "value": row["address"].lower(), "reason": outcome.suppress,
                         "detail": outcome.reason or outcome.text, "now": now},
                    )
            return results

        return self._transaction(body) if items else []

    # -- suppression and preferences ---------------------------------------------------------------

    def suppress(
        self,
        *,
        address: str | None = None,
        recipient: str | None = None,
        reason: SuppressionReason = "unsubscribed",
        detail: str | None = None,
        now: float | None = None,
    ) -> int:
        """Suppress an address and/or a customer id from now on (rows already
        queued are set aside when claimed); returns how many entries were new.
        A customer id alone also suppresses every address it was queued under."""
        if address is None and recipient is None:
            raise StoreError("suppress() needs an address or a recipient")
        now = time.time() if now is None else now
        q = self._q

        def body(db: Any) -> int:
            entries: list[tuple[str, str]] = []
            if address is not None:
                entries.append(("address", address.lower()))
            if recipient is not None:
                entries.append(("recipient", recipient))
                entries += [("address", r["address"].lower()) for r in db.execute(q["address_of"].sql, {"recipient": recipient})]
            return sum(
                db.execute(q["suppress"].sql, {"kind": k, "value": v, "reason": reason, "detail": detail, "now": now}).rowcount
                for k, v in dict.fromkeys(entries)
            )

        return self._transaction(body)

    def unsuppress(self, *, address: str | None = None, recipient: str | None = None) -> int:
        """Remove suppression entries (a customer who subscribed again)."""
        entries = ([("address", address.lower())] if address else []) + ([("recipient", recipient)] if recipient else [])
        return self._transaction(
            lambda db: int(sum(db.execute(self._q["unsuppress"].sql, {"kind": k, "value": v}).rowcount for k, v in entries))
        )

    def is_suppressed(self, *, address: str = "", recipient: str = "") -> bool:
        return bool(self._read("is_suppressed", {"address": address, "recipient": recipient}))

    def suppressions(self) -> list[Suppression]:
        return [Suppression(r["kind"], r["value"], r["reason"], r["detail"], r["at"]) for r in self._read("suppressions")]

    def set_volume(self, recipient: str, volume: str) -> None:
        """A customer's volume dial (see :mod:`mailer.sending.caps`)."""
        caps_.check_volume(volume)
        self._transaction(lambda db: db.execute(self._q["set_volume"].sql, {"recipient": recipient, "volume": volume}))

    def set_volumes(self, volumes: Iterable[tuple[str, str]]) -> int:
        """Many customers' volume dials in one transaction (e.g. a customers file's
        ``volume`` column); returns how many were written."""
        rows = [{"recipient": r, "volume": caps_.check_volume(v)} for r, v in volumes]
        if not rows:
            return 0
        return self._transaction(lambda db: self._executemany(db, self._q["set_volume"].sql, rows))

    def volume(self, recipient: str) -> str:
        """A customer's volume dial (``everything`` unless they set one)."""
        rows = self._read("volume", {"recipient": recipient})
        return str(rows[0]["volume"]) if rows else "everything"

    def send_log(self, recipient: str) -> list[caps_.Sent]:
        return [caps_.Sent(r["at"], r["message_class"]) for r in self._read("send_log", {"recipient": recipient})]

    def shown(
        self, recipients: Iterable[str], *, emails: int = 3, campaign: str | None = None
    ) -> list[tuple[str, str]]:
        """``(recipient, product id)`` for the products each recipient was
        shown in their last ``emails`` emails: those sent, and those queued
        and not yet sent (the latest of all), except ``campaign``'s own rows
        (the campaign being chosen for)."""
        ids = list(recipients)
        if not ids or emails <= 0:
            return []
        rows = self._read("shown", {"recipients": self._id_list(ids), "emails": emails, "campaign": campaign})
        pairs: list[tuple[str, str]] = []
        for row in rows:
            try:
                products = json.loads(row["products"])
            except (TypeError, ValueError):
                continue
            if isinstance(products, list):
                pairs.extend((row["recipient"], str(p)) for p in products)
        return pairs

    def _id_list(self, ids: list[str]) -> Any:
        """A list of ids as the backend's ``shown`` query takes it."""
        return json.dumps(ids)

    # -- transport state ----------------------------------------------------------------------------

    def reserve_token(self, name: str, *, rate: float, burst: float = 1.0, now: float | None = None) -> float:
        """Take a token from the persisted bucket ``name``; returns the seconds
        to wait before sending (see :mod:`mailer.sending.throttle`)."""
        now = time.time() if now is None else now
        return self._bucket(name, now, lambda level, updated: reserve(level, updated, now=now, rate=rate, burst=burst))

    def hold_token(self, name: str, *, until: float, rate: float, burst: float = 1.0, now: float | None = None) -> None:
        """Let the persisted bucket ``name`` give no token before ``until``."""
        now = time.time() if now is None else now
        self._bucket(
            name, now, lambda level, updated: (hold(level, updated, now=now, until=until, rate=rate, burst=burst), None)
        )

    def _bucket(
        self, name: str, now: float, change: Callable[[float | None, float | None], tuple[float, T]]
    ) -> T:
        """Read bucket ``name`` under its lock, save the level ``change`` gives, return what else it gives."""

        def body(db: Any) -> T:
            self._lock(db, "lock_bucket", {"name": name})
            row = db.execute(self._q["bucket_get"].sql, {"name": name}).fetchone()
            updated = row["updated_at"] if row else None
            level, result = change(row["tokens"] if row else None, updated)
            db.execute(self._q["bucket_put"].sql, {"name": name, "tokens": level, "now": max(now, updated or now)})
            return result

        return self._transaction(body)

    def pause(self, pool: str, *, until: float, code: int | None = None, reason: str | None = None) -> None:
        """Stop every worker sending through ``pool`` until ``until``."""
        self._transaction(
            lambda db: db.execute(self._q["pause"].sql, {"pool": pool, "until": until, "code": code, "reason": reason})
        )

    def paused(self, pool: str, *, now: float | None = None) -> tuple[float, int | None, str | None] | None:
        """``(until, code, reason)`` while ``pool`` is paused, else None."""
        now = time.time() if now is None else now
        rows = self._read("paused", {"pool": pool, "now": now})
        return (rows[0]["until"], rows[0]["code"], rows[0]["reason"]) if rows else None

    def settle_unknown(
        self,
        outcome: Literal["queued", "sent"],
        *,
        campaign: str | None = None,
        recipients: Iterable[str] | None = None,
        now: float | None = None,
    ) -> int:
        """Settle rows left ``unknown`` (a worker died mid-send) once an
        operator knows what happened, e.g. from the relay's logs: ``queued``
        sends them again (until they expire), ``sent`` records them as sent.
        Only ``unknown`` rows change; returns how many."""
        now = time.time() if now is None else now
        params = {
            "campaign": campaign,
            "recipients": None if recipients is None else self._id_list(list(recipients)),
            "now": now,
        }
        q = self._q

        def body(db: Any) -> int:
            if outcome == "queued":
                return int(db.execute(q["requeue_unknown"].sql, params).rowcount)
            if outcome == "sent":
                db.execute(q["log_unknown_sent"].sql, params)
                return int(db.execute(q["mark_unknown_sent"].sql, params).rowcount)
            raise StoreError(f"unknown rows settle as 'queued' or 'sent', not {outcome!r}")

        return self._transaction(body)

    # -- campaigns and reporting --------------------------------------------------------------------

    def put_campaign(self, campaign_id: str, spec: str, *, now: float | None = None) -> str:
        """Keep ``spec`` for a campaign the store does not know yet; returns the
        spec kept, which is an earlier one if the campaign was queued before
        (two queueing processes agree on one)."""
        now = time.time() if now is None else now

        def keep(db: Any) -> str:
            db.execute(self._q["put_campaign"].sql, {"id": campaign_id, "spec": spec, "now": now})
            return str(db.execute(self._q["get_campaign"].sql, {"id": campaign_id}).fetchone()["spec"])

        return self._transaction(keep)

    def get_campaign(self, campaign_id: str) -> str | None:
        rows = self._read("get_campaign", {"id": campaign_id})
        return rows[0]["spec"] if rows else None

    def get(self, campaign: str, recipient: str) -> Delivery | None:
        rows = self._read("get", {"campaign": campaign, "recipient": recipient})
        return Delivery.from_row(rows[0]) if rows else None

    def deliveries(self, campaign: str | None = None) -> list[Delivery]:
        return [Delivery.from_row(r) for r in self._read("list", {"campaign": campaign})]

    def counts(self, campaign: str | None = None) -> dict[str, int]:
        """Rows per state."""
        return {r["state"]: r["n"] for r in self._read("counts", {"campaign": campaign})}

    def reply_classes(self, campaign: str | None = None) -> dict[str, int]:
        """Rows per class of the last SMTP reply (``2xx``, ``4xx``, ``5xx``, ``none``)."""
        return {r["class"]: r["n"] for r in self._read("reply_classes", {"campaign": campaign})}

    def pending(self, *, now: float | None = None) -> tuple[int, int, float | None]:
        """Rows in flight (any worker's), waiting rows due at ``now``, and when
        the next waiting row is due (None: nothing waits)."""
        now = time.time() if now is None else now
        row = self._read("pending", {"now": now})[0]
        return row["in_flight"], row["due"], row["next_due"]

    # -- operators ----------------------------------------------------------------------------------

    def iter_deliveries(
        self,
        *,
        state: str | None = None,
        campaign: str | None = None,
        limit: int | None = None,
        page: int = 500,
    ) -> Iterator[Delivery]:
        """Rows with their state, last reply and reason, state by state (in
        :data:`STATES` order), then by next attempt time: read ``page`` rows at
        a time, so a queue of millions streams. ``state`` is one of
        :data:`LISTED_STATES`; ``capped`` lists the rows a frequency cap set
        aside: ``capped`` for good, and ``deferred`` to when it allows
        (reason ``capped: …``)."""
        if state is not None and state not in LISTED_STATES:
            raise StoreError(f"unknown state {state!r}; known: {', '.join(LISTED_STATES)}")
        if limit is not None and limit < 0:
            raise StoreError(f"limit must not be negative, got {limit}")
        capped = state == CAPPED
        states = STATES if state is None else ((CAPPED, "deferred") if capped else (state,))
        return self._pages(states, campaign=campaign, capped=capped, limit=limit, page=page)

    def _pages(
        self, states: Iterable[str], *, campaign: str | None, capped: bool, limit: int | None, page: int
    ) -> Iterator[Delivery]:
        left = limit
        for name in states:
            after: tuple[float, int] = (float("-inf"), -1)
            while left is None or left > 0:
                size = page if left is None else min(page, left)
                rows = self._read("rows_page", {"state": name, "campaign": campaign, "capped": capped,
                                                "after_at": after[0], "after_id": after[1], "limit": size})  # fmt: skip
                for row in rows:
                    yield Delivery.from_row(row)
                if left is not None:
                    left -= len(rows)
                if len(rows) < size:
                    break
                after = (rows[-1]["not_before"], rows[-1]["id"])

    def campaign_counts(self, campaign: str | None = None) -> dict[str, dict[str, int]]:
        """Rows per state of each campaign (or of one)."""
        counts: dict[str, dict[str, int]] = {}
        for row in self._read("campaign_counts", {"campaign": campaign}):
            counts.setdefault(row["campaign"], {})[row["state"]] = row["n"]
        return counts

    def reasons(self, campaign: str | None = None, *, top: int | None = 10) -> list[ReasonCount]:
        """Why each campaign's rows are where they are: its ``top`` most common
        (state, reason) pairs with their counts, most common first (sent rows
        are left out)."""
        rows = self._read("reasons", {"campaign": campaign, "top": 2**62 if top is None else top})
        return [ReasonCount(r["campaign"], r["state"], r["reason"], r["n"]) for r in rows]

    def campaigns(self, campaign: str | None = None) -> list[CampaignSummary]:
        """The campaigns the store knows (its stored specs, its holds and its
        rows), oldest first, each with its rows per state; ``campaign`` picks one."""
        counts = self.campaign_counts(campaign)
        known = {r["id"]: r for r in self._read("campaigns", {"campaign": campaign})}
        summaries = []
        for name in sorted(known.keys() | counts.keys()):
            row = known.get(name)
            created, hold, why = (row["created_at"], row["hold"], row["hold_reason"]) if row else (None, None, None)
            summaries.append(CampaignSummary(name, created, hold, counts.get(name, {}), hold_reason=why))
        return sorted(summaries, key=lambda c: (c.created_at is None, c.created_at or 0.0, c.id))

    def pause_campaign(self, campaign: str, *, reason: str | None = None, now: float | None = None) -> int:
        """Stop workers claiming ``campaign``'s rows until :meth:`resume_campaign`
        (rows being sent finish); returns how many waiting rows were paused.
        ``reason`` says why when no operator paused it (a complaint rate)."""
        return self._hold(campaign, "paused", "pause_rows", now, reason)

    def cancel_campaign(self, campaign: str, *, now: float | None = None) -> int:
        """Never send ``campaign``'s unsent rows (they become ``cancelled``;
        rows being sent finish); returns how many were cancelled."""
        return self._hold(campaign, "cancelled", "cancel_rows", now)

    def resume_campaign(self, campaign: str, *, now: float | None = None) -> int:
        """Let workers claim a paused campaign's rows again; returns how many
        rows came back (a cancelled campaign cannot be resumed)."""
        now = time.time() if now is None else now
        q = self._q

        def body(db: Any) -> int:
            self._refuse_cancelled(db, campaign, "resumed")
            db.execute(q["unhold_campaign"].sql, {"campaign": campaign})
            return int(db.execute(q["resume_rows"].sql, {"campaign": campaign, "now": now}).rowcount)

        return self._transaction(body)

    def _hold(self, campaign: str, hold: str, rows: str, now: float | None, reason: str | None = None) -> int:
        now = time.time() if now is None else now
        q = self._q

        def body(db: Any) -> int:
            if hold == "paused":
                self._refuse_cancelled(db, campaign, "paused")
            # The hold first: a claim that sees it skips the rows the update below has not reached.
            db.execute(q["hold_campaign"].sql, {"campaign": campaign, "hold": hold, "now": now, "reason": reason})
            return int(db.execute(q[rows].sql, {"campaign": campaign, "now": now}).rowcount)

        return self._transaction(body)

    def _refuse_cancelled(self, db: Any, campaign: str, change: str) -> None:
        row = db.execute(self._q["campaign_hold"].sql, {"campaign": campaign}).fetchone()
        if row is not None and row["hold"] == "cancelled":
            raise StoreError(f"campaign {campaign!r} was cancelled; it cannot be {change}", url=self.url)

    def retry_failed(
        self,
        *,
        campaign: str | None = None,
        recipients: Iterable[str] | None = None,
        expiry: float = DEFAULT_EXPIRY,
        now: float | None = None,
    ) -> int:
        """Put ``failed`` rows (of one campaign, of some customers) back in the
        queue from ``now``, expiring ``expiry`` seconds later; their attempts
        are kept, and the caps and suppression list are checked again when they
        are claimed. A cancelled campaign's rows stay failed. Returns how many."""
        now = time.time() if now is None else now
        params = {
            "campaign": campaign,
            "recipients": None if recipients is None else self._id_list(list(recipients)),
            "expires_at": now + expiry,
            "now": now,
        }
        return self._transaction(lambda db: int(db.execute(self._q["retry_failed"].sql, params).rowcount))

    # -- feedback: bounces, complaints and auto-replies that arrive later ---------------------------

    def apply_feedback(
        self,
        feedback: Feedback,
        lookup: rules.Lookup,
        *,
        policy: rules.FeedbackPolicy = rules.FeedbackPolicy(),
        source: str | None = None,
        dry_run: bool = False,
        now: float | None = None,
    ) -> FeedbackEvent:
        """Act on one feedback message, under :mod:`mailer.feedback.rules`,
        in one transaction: find the message ``lookup`` names, judge what the
        feedback means for its recipient, suppress them (through the same
        statement a 5.1.1 reply at send time uses) when it is a hard bounce, a
        complaint, or the soft bounce that completes a run, and keep the
        feedback as an event either way. Returns the event kept; with
        ``dry_run``, what would be kept, and nothing is written."""
        q = self._q

        def body(db: Any) -> FeedbackEvent:
            at = self._now(db, now)
            sent = None
            if lookup.key is not None:
                row = db.execute(q["message_by_key"].sql, {"key": lookup.key}).fetchone()
                if row is not None:
                    sent = rules.SentMessage(row["id"], row["campaign"], row["recipient"], row["address"],
                                             row["message_id"], row["state"], float(row["sent_at"]))  # fmt: skip
                    # Two readers of one customer's bounces count each other's soft bounces.
                    self._lock(db, "lock_recipient", {"recipient": sent.recipient})
            verdict = rules.judge(feedback, lookup, sent)
            about = sent if verdict.matched else None  # the message it counts as naming
            suppression: SuppressionReason | None = None
            detail = verdict.detail
            if about is None:
                outcome = "unmatched"
            elif verdict.action == "suppress":
                suppression, outcome = "hard-bounce", "suppressed"
            elif verdict.action == "complaint":
                suppression, outcome = "complaint", "suppressed"
            elif verdict.action == "count-soft":
                run = rules.soft_bounce_run(self._soft_bounce_history(db, about), policy)
                outcome = "counted" if run is None else "suppressed"
                if run is not None:
                    suppression, detail = "soft-bounce", f"{detail}; {run}"
            else:
                outcome = "ignored"
            if suppression is not None and about is not None:
                db.execute(q["suppress"].sql, {"kind": "address", "value": about.address.lower(), "reason": suppression,
                                               "detail": detail[:500], "now": at})  # fmt: skip
            values = {
                "now": at, "kind": feedback.kind, "action": verdict.action, "outcome": outcome,
                "suppression": suppression, "matched": verdict.matched,
                "delivery": about.delivery if about else None, "campaign": about.campaign if about else None,
                "recipient": about.recipient if about else None, "address": verdict.address, "status": verdict.status,
                "sending_domain": about.sending_domain if about else None, "reason": detail, "source": source,
            }  # fmt: skip
            event_id = db.execute(q["record_feedback"].sql, values).fetchone()["id"]
            event = FeedbackEvent.from_row({**values, "id": int(event_id), "at": at})
            if dry_run:
                raise _DryRun(event)
            return event

        try:
            return self._transaction(body)
        except _DryRun as rolled_back:
            return rolled_back.event

    def _soft_bounce_history(self, db: Any, sent: rules.SentMessage) -> list[rules.Sent]:
        """What became of each message sent to ``sent``'s address, ``sent``
        itself soft-bounced."""
        rows = db.execute(self._q["soft_bounce_history"].sql, {"recipient": sent.recipient, "address": sent.address})
        history = [
            rules.Sent(r["delivery"], float(r["at"]), "hard" if r["hard"] else "soft" if r["soft"] else "delivered")
            for r in rows
        ]
        return rules.with_soft_bounce(history, sent.delivery, sent.sent_at)

    def feedback_events(
        self,
        *,
        kind: str | None = None,
        since: float | None = None,
        campaign: str | None = None,
        limit: int | None = None,
    ) -> list[FeedbackEvent]:
        """The feedback read, oldest first: of one ``kind``, ``since`` a time,
        of one ``campaign`` (each when given), at most ``limit``."""
        if limit is not None and limit < 0:
            raise StoreError(f"limit must not be negative, got {limit}")
        params = {"kind": kind, "since": since, "campaign": campaign, "limit": 2**62 if limit is None else limit}
        return [FeedbackEvent.from_row(r) for r in self._read("feedback_events", params)]

    def complaint_counts(self) -> list[rules.ComplaintCount]:
        """Messages delivered (accepted by the receiving server) and how many
        of them drew a complaint, per campaign and sending domain: what
        :func:`mailer.feedback.rules.complaint_rates` judges. Reads every
        delivered row, as :meth:`campaign_counts` does."""
        counts: dict[tuple[str, str | None], list[int]] = {}
        for row in self._read("delivered_counts"):
            counts.setdefault((row["campaign"], row["sending_domain"]), [0, 0])[0] += int(row["n"])
        for row in self._read("complaint_counts"):
            counts.setdefault((row["campaign"], row["sending_domain"]), [0, 0])[1] += int(row["n"])
        return [rules.ComplaintCount(c, d, delivered, complaints) for (c, d), (delivered, complaints) in sorted(
            counts.items(), key=lambda item: (item[0][0], item[0][1] or ""))]  # fmt: skip


class _DryRun(Exception):
    """Rolls back a transaction whose effect was only to be shown."""

    def __init__(self, event: FeedbackEvent) -> None:
        super().__init__("dry run")
        self.event = event
