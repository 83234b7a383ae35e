"""The SQLite store: the embedded default, one file, safe for several
processes on one machine.

WAL mode lets readers run beside the one writer; every write (a claim above
all) starts with ``BEGIN IMMEDIATE``, so it takes the write lock up front and
waits for it (the busy timeout) instead of failing half-way through. If the
lock still cannot be had, the transaction is retried with backoff until
``busy_timeout`` has passed, then :class:`StoreBusy` is raised: "database is
locked" never reaches the user as a raw ``sqlite3`` error.

Every statement lives in ``queries_sqlite.sql``.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from mailer.sending import caps as caps_
from mailer.errors import StoreBusy, StoreError
from mailer.store.queries import load_queries
from mailer.store.records import DeadSending, NewDelivery
from mailer.store.sql import SQLStore

T = TypeVar("T")


class SQLiteStore(SQLStore):
    """The send queue in one SQLite file (``":memory:"`` for a private one).

    >>> store = SQLiteStore(":memory:")
    >>> store.enqueue([NewDelivery("autumn", "C1", "ann@shop.test", not_before=0.0)], now=0.0)
    1
    >>> [d.recipient for d in store.claim("w1", now=1.0, limit=10, lease_seconds=30).deliveries]
    ['C1']
    >>> store.counts()
    {'leased': 1}
    """

    backend = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        dead_sending: DeadSending = "unknown",
        caps: caps_.Caps | None = caps_.Caps(),
    ) -> None:
        if dead_sending not in ("unknown", "queued"):
            raise StoreError(f"dead_sending must be 'unknown' or 'queued', got {dead_sending!r}")
        if synchronous not in ("NORMAL", "FULL"):
            raise StoreError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = str(path)
        self.url = f"sqlite:{self.path}"
        self.busy_timeout = busy_timeout
        self.dead_sending = dead_sending
        self.caps = caps
        self._q = load_queries("sqlite")
        self._mutex = threading.RLock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self.path, timeout=min(busy_timeout, 5.0), isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot open the queue database: {err}", url=self.url) from err
        self._db.row_factory = sqlite3.Row
        self._retrying(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._retrying(lambda: self._db.executescript(self._q["schema"].sql))
        self._retrying(self._migrate)

    def _migrate(self) -> None:
        """Bring a store made by an earlier version up to this schema."""
        db = self._db
        if "products" not in {row["name"] for row in db.execute("PRAGMA table_info(send_log)")}:
            db.execute(self._q["migrate_products_column"].sql)
        if "domain" not in {row["name"] for row in db.execute("PRAGMA table_info(deliveries)")}:
            db.execute(self._q["migrate_domain_column"].sql)
        db.execute(self._q["migrate_domain_index"].sql)
        # Run every time (through the index, so cheap): a fill cut short by a busy
        # database is finished on the next open.
        db.execute(self._q["migrate_fill_domain"].sql)
        if not db.execute(self._q["migrate_states_current"].sql).fetchone()["current"]:
            self._widen_states()
        if "message_key" not in {row["name"] for row in db.execute("PRAGMA table_info(deliveries)")}:
            self._rebuild(lambda: "message_key" in {r["name"] for r in db.execute("PRAGMA table_info(deliveries)")},
                          ("migrate_message_key_column", "migrate_message_key_fill"))  # fmt: skip
        db.execute(self._q["migrate_message_key_index"].sql)
        if "reason" not in {row["name"] for row in db.execute("PRAGMA table_info(campaign_holds)")}:
            db.execute(self._q["migrate_hold_reason_column"].sql)
        if not db.execute(self._q["migrate_suppressions_current"].sql).fetchone()["current"]:
            self._rebuild(lambda: db.execute(self._q["migrate_suppressions_current"].sql).fetchone()["current"],
                          ("migrate_suppressions_rename", "schema", "migrate_suppressions_copy"))  # fmt: skip

    def _widen_states(self) -> None:
        """Rebuild the deliveries table of a store made before the ``paused``,
        ``cancelled`` or ``capped`` states; rows a cap set aside as
        ``failed`` become ``capped``."""
        current = self._q["migrate_states_current"].sql
        self._rebuild(
            lambda: self._db.execute(current).fetchone()["current"],
            ("migrate_states_rename", "schema", "migrate_states_copy", "schema", "migrate_domain_index",
             "migrate_capped_rows", "migrate_message_key_fill"),
        )  # fmt: skip

    def _rebuild(self, done: Callable[[], object], steps: Iterable[str]) -> None:
        """Run the named migration ``steps`` in one transaction unless
        ``done()`` says, once the write lock is held, that they are not
        needed (a second process opening the store meanwhile finds them done)."""
        db, q = self._db, self._q
        db.execute("BEGIN IMMEDIATE")
        try:
            if not done():
                for name in steps:
                    for statement in _statements(q[name].sql):
                        db.execute(statement)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def _retrying(self, action: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as err:
                message = str(err).lower()
                if "locked" not in message and "busy" not in message:
                    raise StoreError(str(err), url=self.url) from err
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"the database stayed locked for {self.busy_timeout:g} s "
                        "(another mailer process is writing; raise busy_timeout or use PostgreSQL)",
                        url=self.url,
                    ) from err
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (the caller's body must be
        retry-safe: use :meth:`_transaction` for anything non-trivial)."""
        with self._mutex:
            self._retrying(lambda: self._db.execute("BEGIN IMMEDIATE"))
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._retrying(lambda: self._db.execute("COMMIT"))

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        def attempt() -> T:
            with self._write() as db:
                return body(db)

        with self._mutex:
            try:
                return self._retrying(attempt)
            except sqlite3.Error as err:
                raise StoreError(str(err), url=self.url) from err

    def _read(self, name: str, params: Mapping[str, Any] | None = None) -> list[sqlite3.Row]:
        with self._mutex:
            return self._retrying(lambda: self._db.execute(self._q[name].sql, dict(params or {})).fetchall())


def _statements(script: str) -> list[str]:
    r"""The statements of a block of SQL, one by one (``executescript`` would
    commit the transaction they must run in).

    >>> _statements("CREATE TABLE t (x);\n-- a comment\nINSERT INTO t VALUES (';');")
    ['CREATE TABLE t (x);', "-- a comment\nINSERT INTO t VALUES (';');"]
    """
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements
