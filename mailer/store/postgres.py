"""The PostgreSQL store: for several machines sharing one campaign.

Claims take rows with ``FOR UPDATE SKIP LOCKED`` (claimers never wait for one
another's rows) and serialise per customer with a transaction-scoped
advisory lock, so the frequency caps hold across machines exactly as they do
in SQLite. Every statement lives in ``queries_postgresql.sql``, name for name
as in SQLite; the logic is :class:`~mailer.store.sql.SQLStore`'s.

Needs ``psycopg`` (version 3).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mailer.sending import caps as caps_
from mailer.errors import StoreBusy, StoreError
from mailer.store.queries import load_queries
from mailer.store.records import DeadSending
from mailer.store.sql import SQLStore

T = TypeVar("T")
log = logging.getLogger(__name__)

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")


class PostgresStore(SQLStore):
    """The send queue in a PostgreSQL database (``schema`` picks a schema,
    created if needed; the default is the connection's search path)."""

    backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        dead_sending: DeadSending = "unknown",
        caps: caps_.Caps | None = caps_.Caps(),
        connect_timeout: float = 10.0,
        retry_for: float = 30.0,
    ) -> None:
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as err:  # pragma: no cover - depends on the installation
            raise StoreError("the PostgreSQL store needs psycopg: pip install 'psycopg[binary]'") from err
        if dead_sending not in ("unknown", "queued"):
            raise StoreError(f"dead_sending must be 'unknown' or 'queued', got {dead_sending!r}")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise StoreError(f"invalid schema name {schema!r}")
        self._psycopg = psycopg
        self.schema = schema
        self.url = re.sub(r"//[^@/]*@", "//", dsn)  # no password in messages
        self.dead_sending = dead_sending
        self.caps = caps
        self.retry_for = retry_for
        self._q = load_queries("postgresql")
        self._mutex = threading.RLock()
        from psycopg.conninfo import make_conninfo

        conninfo = make_conninfo(dsn, options=f"-c search_path={schema}") if schema else dsn
        self._connect = lambda: psycopg.connect(
            conninfo, autocommit=True, row_factory=dict_row, connect_timeout=int(connect_timeout)
        )
        try:
            self._db = self._connect()
            if schema:
                self._db.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._migrate()
        except psycopg.Error as err:
            raise StoreError(f"cannot open the queue database: {err}", url=self.url) from err

    def _migrate(self) -> None:
        """Create the tables, or bring an older store up to date — only when
        something is missing, so opening a current store locks nothing."""
        q, db = self._q, self._db
        if all(self._schema_state().values()):
            return
        db.execute(q["lock_schema"].sql)
        try:
            db.execute(q["schema"].sql)
            state = self._schema_state()
            if not state["has_products"]:
                db.execute(q["migrate_products_column"].sql)
            if not state["has_domain"]:
                db.execute(q["migrate_domain_column"].sql)
            if not state["has_states"]:
                with db.transaction():
                    db.execute(q["migrate_states"].sql)
                    db.execute(q["migrate_capped_rows"].sql)
            if not state["has_message_key"]:
                with db.transaction():
                    db.execute(q["migrate_message_key"].sql)
            if not state["has_hold_reason"]:
                db.execute(q["migrate_hold_reason"].sql)
            if not state["has_soft_bounce"]:
                with db.transaction():
                    db.execute(q["migrate_suppression_reasons"].sql)
        finally:
            db.execute(q["lock_schema_release"].sql)

    def _schema_state(self) -> dict[str, bool]:
        """What ``migrate_state`` finds of the current schema."""
        row = self._db.execute(self._q["migrate_state"].sql).fetchone()
        return dict(row) if row else {}

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def _transaction(self, body: Callable[[Any], T]) -> T:
        errors = self._psycopg.errors
        retryable = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable)
        deadline = time.monotonic() + self.retry_for
        delay = 0.005
        with self._mutex:
            while True:
                try:
                    with self._db.transaction():
                        return body(self._db)
                except retryable as err:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(f"gave up after {self.retry_for:g} s of lock conflicts: {err}", url=self.url) from err
                    time.sleep(delay * (1 + random.random()))
                    delay = min(delay * 2, 0.5)
                except self._psycopg.OperationalError as err:
                    if not self._db.broken:
                        raise StoreError(str(err), url=self.url) from err
                    # The transaction did not happen (or, if its commit was lost on the way
                    # back, did): every statement is fenced by the row's lease, so running
                    # it again changes nothing twice.
                    self._reconnect(err)
                except self._psycopg.Error as err:
                    raise StoreError(str(err), url=self.url) from err

    def _reconnect(self, cause: Exception) -> None:
        """Connect again after the connection was lost (the database restarted or
        failed over, or an administrator ended the session), trying for
        ``retry_for`` seconds before giving up."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.1
        while True:
            try:
                self._db.close()
                self._db = self._connect()
            except self._psycopg.OperationalError as err:
                if time.monotonic() >= deadline:
                    raise StoreError(f"the connection was lost ({cause}) and the database did not come back "
                                     f"within {self.retry_for:g} s: {err}", url=self.url) from err  # fmt: skip
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
                continue
            log.warning("reconnected to %s after losing the connection: %s", self.url, str(cause).strip())
            return

    def _read(self, name: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        with self._mutex:
            while True:
                try:
                    return self._db.execute(self._q[name].sql, dict(params or {})).fetchall()
                except self._psycopg.OperationalError as err:
                    if not self._db.broken:
                        raise StoreError(str(err), url=self.url) from err
                    self._reconnect(err)  # a read is safe to run again
                except self._psycopg.Error as err:
                    raise StoreError(str(err), url=self.url) from err

    def _executemany(self, db: Any, sql: str, rows: list[dict[str, Any]]) -> int:
        with db.cursor() as cursor:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)

    def _id_list(self, ids: list[str]) -> Any:
        return ids
