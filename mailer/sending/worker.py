"""The worker: claims due messages, renders them, sends them, records what
happened — losing nothing and sending nothing twice.

One pass of a message::

    claim (lease) ─► render ─► wait for a rate token and a domain slot
        ─► mark 'sending' and commit ─► SMTP/outbox ─► classify the reply
        ─► record it, only if the lease is still ours

Crash safety comes from the order: a message is committed ``sending`` before
its bytes leave, so a worker killed mid-send leaves a row the store will turn
``unknown`` (never silently re-sent); a worker killed before that leaves a
leased row that returns to the queue when its lease runs out. Leases are kept
alive by a heartbeat while the worker runs, for the rows it is still working
on and no others. A lease that ran out while the worker stalled (a blocked
event loop) is still the worker's if nobody took the row over: it is sent.
Rendering is deterministic, so a retry sends the same bytes with the same
Message-ID.

Claims, leases and replies are stamped by the store's clock (the database's,
on PostgreSQL) unless the worker is given a ``clock``, so workers on machines
whose clocks disagree still agree on leases and frequency caps.

A worker stops claiming on SIGTERM (or :meth:`Worker.stop`), gives back the
rows it has not started sending, and finishes the sends in flight.

Transport problems are logged as they happen (``mailer.sending.worker``), told once:
the first of each kind — connection refused, TLS, authentication, a timeout,
a 4xx or 5xx reply — at WARNING with its reason, later ones of that kind
counted and summed up every 30 seconds and when the worker stops
(:class:`TroubleLog`). The reason is stored with the row, so ``mailer queue
list`` shows it too.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from mailer.errors import ConfigError, MailerError
from mailer.store import Delivery, Outcome, Store
from mailer.sending.throttle import RateLimit
from mailer.transports import Envelope, Transport
from mailer.transports.replies import Reply, Verdict, backoff, classify

log = logging.getLogger("mailer.sending.worker")

Renderer = Callable[[Delivery], Envelope]
"""Turns a claimed row into the envelope to send; deterministic; may raise
:class:`MailerError` (the row then fails with the reason)."""

Mode = Literal["once", "until-idle", "forever"]

Item = TypeVar("Item")
Result = TypeVar("Result")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker behaves.

    >>> WorkerOptions(concurrency=4, rate=RateLimit(100.0)).per_domain
    4

    ``lease_seconds``: how long a claimed row stays ours without a heartbeat.
    ``rate``: the transport's token bucket (kept in the store, so it holds
    across restarts and is shared by every worker). ``per_domain``: at most
    this many sends in flight to one recipient domain. ``pool_backoff``: how
    long a 421 backs off the whole transport; ``policy_pause``: how long a
    5.7.x policy rejection pauses sending to the recipient's domain (mail to
    other domains goes on); ``pause_check``: how often the store is asked
    whether another worker paused either. ``retry_base``/``retry_cap``:
    exponential backoff for temporary failures. ``group_commit``: how long
    a reply may wait to be recorded with others in one transaction.
    ``shared_per_domain``: hold ``per_domain`` across every worker sharing
    the store (counted in the store when a send starts), not only per worker;
    a message that finds its domain full for ``domain_wait`` seconds is
    deferred briefly rather than keep a place in this worker.
    """

    concurrency: int = 8
    batch: int | None = None
    lease_seconds: float = 60.0
    rate: RateLimit | None = None
    per_domain: int = 4
    pool_backoff: float = 60.0
    policy_pause: float = 900.0
    retry_base: float = 60.0
    retry_cap: float = 4 * 3600.0
    poll_interval: float = 1.0
    pause_check: float = 0.5
    group_commit: float = 0.005
    shared_per_domain: bool = True
    domain_wait: float = 5.0

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.per_domain < 1:
            raise ConfigError("concurrency and per_domain must be at least 1")
        if self.lease_seconds <= 0:
            raise ConfigError("lease_seconds must be positive")


@dataclass
class WorkerStats:
    """What a worker did: messages per outcome, and events worth reporting
    (``stopped_by``: what stopped it, e.g. ``SIGTERM``, if anything did)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    policy_rejections: list[str] = field(default_factory=list)
    refused_commits: int = 0
    stopped_by: str | None = None

    def __str__(self) -> str:
        parts = [f"{n} {state}" for state, n in sorted(self.outcomes.items())]
        return ", ".join(parts) or "nothing to send"

    @property
    def undelivered(self) -> bool:
        """Whether some messages failed for good (``failed``, ``expired``), or
        messages were tried and none was sent. A bounce alone is not counted:
        the address was wrong, and it is suppressed; nor is a message a
        frequency cap set aside (``capped``): the customer had mail enough.

        >>> WorkerStats(Counter(sent=9, bounced=1)).undelivered, WorkerStats(Counter(deferred=3)).undelivered
        (False, True)
        >>> WorkerStats().undelivered, WorkerStats(Counter(sent=9, expired=1)).undelivered
        (False, True)
        >>> WorkerStats(Counter(sent=1, capped=3)).undelivered, WorkerStats(Counter(capped=2)).undelivered
        (False, False)
        """
        o = self.outcomes
        return bool(o["failed"] or o["expired"]) or (o["sent"] == 0 and o["deferred"] + o["bounced"] > 0)


Trouble = tuple[str, str, int]
"""What a failed reply was: its kind, the reason to record, the level to log it at."""

_REFUSED = ("connection refused", "connect call failed", "errno 111]", "errno 61]")
_TIMEOUT = ("timed out", "timeouterror")
_TLS = ("starttls", "ssl", "tls", "certificate")
_AUTH = ("auth extension", "authentication", "auth ")
_DNS = ("name or service not known", "nodename nor servname", "name resolution", "getaddrinfo")
_AUTH_CODES = frozenset({530, 534, 535, 538})
_HEADLINES = {"policy": "policy rejection, sending to the recipient's domain pauses: "}


def trouble(reply: Reply, verdict: Verdict, target: str) -> Trouble:
    """The kind of a failed reply from ``target`` (host:port), the reason to
    record for it, and the level to log it at.

    >>> trouble(Reply.dropped("SMTPConnectError: Error connecting to 127.0.0.1 on port 9: "
    ...                       "[Errno 111] Connect call failed ('127.0.0.1', 9)"), Verdict("retry", "no reply"), "127.0.0.1:9")
    ('connection refused', 'connection refused to 127.0.0.1:9', 30)
    >>> trouble(Reply(451, "4.3.0", "busy"), Verdict("retry", "451 busy"), "relay:25")
    ('4xx', '451 busy', 30)
    """
    level = logging.WARNING
    text = reply.text.lower()
    if reply.code is None:
        if any(k in text for k in _REFUSED):
            return "connection refused", f"connection refused to {target}", level
        if any(k in text for k in _DNS):
            return "unknown host", f"cannot find the address of {target}: {reply.text}", level
        if any(k in text for k in _TIMEOUT):
            return "timeout", f"timed out talking to {target} ({reply.stage}): {reply.text}", level
        if any(k in text for k in _AUTH):
            return "auth", f"cannot log in to {target}: {reply.text}", level
        if any(k in text for k in _TLS):
            return "tls", f"TLS/STARTTLS failed with {target}: {reply.text}", level
        return "no reply", verdict.reason, level
    if reply.stage == "connect" and reply.code in _AUTH_CODES:
        if "starttls" in text:
            return "tls", f"{target} wants STARTTLS first: {verdict.reason}", level
        return "auth", f"cannot log in to {target}: {verdict.reason}", level
    if verdict.action == "policy":
        return "policy", verdict.reason, logging.ERROR
    return f"{reply.code // 100}xx", verdict.reason, level


class TroubleLog:
    """A transport's failed replies (and messages that cannot be rendered),
    told once: the first of each kind is logged at once with its reason; later
    ones of that kind are counted and summed up every ``every`` seconds (see
    :meth:`tick`) and at :meth:`flush`.

    Per reply it costs a dictionary lookup (the kind and reason of a reply
    already seen are kept); nothing is formatted unless it is logged.
    """

    _KEEP = 1024  # replies whose kind is kept (those carrying queue ids differ every time)

    def __init__(
        self,
        transport: str,
        *,
        logger: logging.Logger = log,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self.target = transport.split("://", 1)[-1]
        self.logger = logger
        self.every = every
        self.clock = clock
        self._known: dict[Reply, Trouble] = {}
        self._told: set[str] = set()
        self._since: Counter[str] = Counter()  # kinds seen again since the last summary
        self._latest: dict[str, str] = {}
        self._summed = clock()

    def note(self, reply: Reply, verdict: Verdict) -> str:
        """Count one failed reply (logging it if it is the first of its kind);
        returns the reason to record with its row."""
        known = self._known.get(reply)
        if known is None:
            if len(self._known) >= self._KEEP:
                self._known.clear()
            known = self._known[reply] = trouble(reply, verdict, self.target)
        return self.count(*known)

    def count(self, kind: str, reason: str, level: int = logging.WARNING) -> str:
        """Count one problem of ``kind`` (logging it if it is the first);
        returns ``reason``."""
        if kind in self._told:
            self._since[kind] += 1
            self._latest[kind] = reason
            self.tick()
        else:
            self._told.add(kind)
            self.logger.log(level, "%s: %s%s", self.transport, _HEADLINES.get(kind, ""), reason,
                            extra={"transport": self.transport, "kind": kind, "count": 1})  # fmt: skip
        return reason

    def tick(self) -> None:
        """Sum up what came since the last summary, if ``every`` seconds have passed."""
        if self._since and self.clock() - self._summed >= self.every:
            self.flush()

    def flush(self) -> None:
        """Sum up now what came since the last summary (a worker stopping)."""
        now = self.clock()
        for kind, n in self._since.items():
            self.logger.warning(
                "%s: %d more %s failure(s) in the last %.0f s; latest: %s",
                self.transport, n, kind, now - self._summed, self._latest[kind],
                extra={"transport": self.transport, "kind": kind, "count": n},
            )  # fmt: skip
        self._since.clear()
        self._summed = now


class GroupCommit(Generic[Item, Result]):
    """Runs the requests made in one turn of the event loop as one call.

    The sends in flight reach "mark sending" and "record the reply" in bursts;
    committing each burst in one transaction, instead of one per message,
    is what lets a worker keep up with a fast relay. Every request still
    waits for its own commit before going on.
    """

    def __init__(
        self,
        run: Callable[[list[Item]], list[Result]],
        *,
        call: StoreThread,
        delay: float = 0.0,
        most: int = 256,
    ) -> None:
        self._run = run
        self._call = call
        """Where ``run`` runs: the worker's store thread, off the event loop."""
        self.delay = delay
        self.most = most
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> asyncio.Future[Result]:
        """Queue ``item``; the future resolves once its group is committed
        (in this turn of the loop, or within ``delay`` seconds)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new run: whatever a previous, cancelled run left waiting belonged to its loop.
            self._loop, self._pending, self._timer, self._commits = loop, [], None, set()
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self.most:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.delay, self._flush) if self.delay > 0 else loop.call_soon(self._flush)
        return future

    async def flush(self) -> None:
        """Commit what is waiting now, and wait for every commit under way (a
        worker stopping records its last replies)."""
        self._flush()
        while self._commits:
            await asyncio.gather(*self._commits, return_exceptions=True)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        assert self._loop is not None
        task = self._loop.create_task(self._commit(batch))
        self._commits.add(task)
        task.add_done_callback(self._commits.discard)

    async def _commit(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._call(self._run, [item for item, _ in batch])
        except BaseException as err:  # every waiter sees the store's error
            for _, future in batch:
                if not future.done():
                    future.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        for (_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)


class StoreThread:
    """Runs a worker's store calls on one thread of their own, in order, so a
    database round trip (PostgreSQL over the network, SQLite waiting for a
    lock) never stalls the event loop: the SMTP sessions in flight and the
    heartbeat go on meanwhile. One thread keeps the store's single
    connection used by one caller at a time."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    async def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailer-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Wait for the call under way, then end the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class Worker:
    """Delivers the store's due messages through one transport."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        renderer: Renderer,
        *,
        options: WorkerOptions = WorkerOptions(),
        owner: str | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.renderer = renderer
        self.options = options
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.clock = clock or time.time
        # What the store's rows are stamped with: None lets the store read its own clock.
        self._stamp: Callable[[], float | None] = (lambda: None) if clock is None else clock
        self.rng = rng or random.Random()
        self.stats = WorkerStats()
        self.troubles = TroubleLog(transport.name)
        self._stopping = asyncio.Event()
        self._domains: dict[str, asyncio.Semaphore] = {}
        self._pauses: dict[str, tuple[float, tuple[float, int | None, str | None] | None]] = {}
        """Per pause key: when the store was last asked, and what it said."""
        self._holding: set[int] = set()  # rows claimed by this run and not yet done with
        self._pacing = asyncio.Lock()
        self._next_send = float("-inf")  # when the rate next allows a send (GCRA's theoretical arrival time)
        self._db = StoreThread()
        shared_cap = options.per_domain if options.shared_per_domain else None
        self._marks: GroupCommit[tuple[int, str | None], str] = GroupCommit(
            lambda rows: list(store.mark_sending_many(rows, self.owner, now=self._stamp(), per_domain=shared_cap,
                                                      lease_seconds=options.lease_seconds)),
            call=self._db,
        )
        # Replies arrive one by one; a few milliseconds gather them into one commit.
        self._finishes: GroupCommit[tuple[int, Outcome], bool] = GroupCommit(
            lambda rows: store.finish_many(rows, self.owner, now=self._stamp()),
            call=self._db,
            delay=options.group_commit,
        )

    def stop(self, reason: str | None = None) -> None:
        """Stop claiming; rows not yet sending go back; sends in flight finish.
        ``reason`` (e.g. the signal's name) is kept in :attr:`WorkerStats.stopped_by`."""
        if self.stats.stopped_by is None:
            self.stats.stopped_by = reason
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, mode: Mode = "until-idle") -> WorkerStats:
        """``once``: one claim's worth; ``until-idle``: until nothing is due
        and nothing is in flight anywhere (rows deferred to later do not
        count); ``forever``: until stopped."""
        heartbeat = asyncio.create_task(self._heartbeat())
        log.info("worker %s: %s, sending through %s", self.owner, mode, self.transport.name)
        try:
            while not self.stopping:
                claimed = await self._db(
                    self.store.claim,
                    self.owner,
                    now=self._stamp(),
                    limit=self.options.batch or self.options.concurrency * 2,
                    lease_seconds=self.options.lease_seconds,
                )
                for name, n in (("suppressed", claimed.suppressed), ("capped", claimed.capped),
                                ("expired", claimed.expired), ("cancelled", claimed.cancelled)):  # fmt: skip
                    if n:
                        self.stats.outcomes[name] += n
                self.troubles.tick()
                if claimed.deliveries:
                    await self._deliver_all(claimed.deliveries)
                if mode == "once":
                    break
                if claimed.deliveries:
                    continue
                in_flight, due, next_due = await self._db(self.store.pending, now=self.clock())
                if mode == "until-idle" and not in_flight and not due:
                    break
                await self._sleep(self._idle_wait(next_due))
        finally:
            # Replies already in hand are recorded even if this run was cancelled,
            # and rows it leased but never started go back to the queue.
            heartbeat.cancel()
            try:
                await heartbeat
            except asyncio.CancelledError:
                pass
            await self._finishes.flush()
            rate = self.options.rate
            if rate is not None and self._next_send > self.clock():
                # The next worker on this transport starts where this one's sends really ended.
                await self._db(self.store.hold_token, self.transport.name, until=self._next_send, rate=rate.rate,
                               burst=rate.burst, now=self.clock())  # fmt: skip
            if self._holding:
                await self._db(self.store.release, self.owner, sorted(self._holding), now=self._stamp())
                self._holding.clear()
            self._db.close()
            self.troubles.flush()
            log.info("worker %s stopped%s: %s", self.owner,
                     f" by {self.stats.stopped_by}" if self.stats.stopped_by else "", self.stats)  # fmt: skip
        return self.stats

    def _idle_wait(self, next_due: float | None) -> float:
        wait = self.options.poll_interval
        if next_due is not None:
            wait = min(wait, max(0.0, next_due - self.clock()))
        return max(wait, 0.01)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    async def _heartbeat(self) -> None:
        every = self.options.lease_seconds / 3
        while True:
            await asyncio.sleep(every)
            if not self._holding:
                continue
            try:
                # Only the rows this run still works on: one it let go of must run out.
                await self._db(self.store.heartbeat, self.owner, now=self._stamp(),
                               lease_seconds=self.options.lease_seconds, ids=sorted(self._holding))  # fmt: skip
            except MailerError as err:  # a missed beat is survivable; the next one may succeed
                log.warning("heartbeat failed: %s", err)

    async def _deliver_all(self, deliveries: list[Delivery]) -> None:
        slots = asyncio.Semaphore(self.options.concurrency)

        async def one(delivery: Delivery) -> None:
            async with slots:
                await self.deliver(delivery)
            self._holding.discard(delivery.id)

        self._holding.update(d.id for d in deliveries)
        await asyncio.gather(*(one(d) for d in deliveries))

    def _domain(self, domain: str) -> asyncio.Semaphore:
        semaphore = self._domains.get(domain)
        if semaphore is None:
            semaphore = self._domains[domain] = asyncio.Semaphore(self.options.per_domain)
        return semaphore

    async def deliver(self, delivery: Delivery) -> str:
        """Send one claimed row and record the outcome; returns its new state
        (``lost`` when the lease was gone, ``released`` when stopping)."""
        store, owner = self.store, self.owner
        if self.stopping:
            await self._db(store.release, owner, [delivery.id], now=self._stamp())
            return self._count("released")
        try:
            envelope = self.renderer(delivery)
        except MailerError as err:
            reason = self.troubles.count("render", f"cannot render: {err}", logging.ERROR)
            await self._db(store.put_back, delivery.id, owner, state="failed", reason=reason, now=self._stamp())
            return self._count("failed")
        token_spent = False
        waiting_since = self.clock()
        while True:
            async with self._domain(envelope.domain):
                if self.options.rate is not None and not token_spent:
                    # Reserved even if the message then waits: a spent token can only slow us down.
                    wait = await self._db(
                        store.reserve_token, self.transport.name, rate=self.options.rate.rate,
                        burst=self.options.rate.burst, now=self.clock(),
                    )  # fmt: skip
                    token_spent = True
                    if wait > 0:
                        await asyncio.sleep(wait)
                paused = await self._paused(envelope.domain)
                if paused is not None:
                    until, scope, reason = paused
                    return await self._postpone(delivery, until, f"{scope} paused: {reason}")
                if self.stopping:
                    await self._db(store.release, owner, [delivery.id], now=self._stamp())
                    return self._count("released")
                started = await self._marks.submit((delivery.id, envelope.message_id or None))
                if started == "sending":
                    if self.options.rate is not None:
                        await self._pace(self.options.rate)
                    replies = await self.transport.send(envelope)
                    break
                if started != "busy":
                    return self._count(started)
            # Other workers are sending to this domain up to the shared cap: wait for a
            # slot, but not for long holding a place here; then let the row wait its turn.
            if self.clock() - waiting_since > self.options.domain_wait:
                return await self._postpone(delivery, self.clock() + self.options.poll_interval,
                                            f"recipient domain {envelope.domain} busy (per-domain cap)")  # fmt: skip
            await self._sleep(self.rng.uniform(0.01, 0.05))
        reply = replies.get(delivery.address) or next(iter(replies.values()), Reply.dropped("no reply"))
        return await self._record(delivery, reply)

    async def _pace(self, rate: RateLimit) -> None:
        """Hold this send until the rate allows it, counting from when the
        previous ones really went out. The store's bucket hands out times to
        send at; a task can reach its time late (a busy machine, a slow
        commit), and sends that then go out together would exceed the rate
        the receiving server sees."""
        async with self._pacing:
            now = self.clock()
            earliest = self._next_send - (rate.burst - 1) / rate.rate
            if earliest > now:
                await asyncio.sleep(earliest - now)
                now = self.clock()
            self._next_send = max(self._next_send, now) + 1 / rate.rate

    async def _paused(self, domain: str) -> tuple[float, str, str | None] | None:
        """``(until, scope, reason)`` while sending to ``domain`` is paused: the
        whole transport (a 421 backs the pool off) or that recipient domain (a
        5.7.x policy rejection says the domain's provider refuses our mail).
        Read from the store at most every ``pause_check`` seconds per key
        (other workers' pauses reach us that late; our own at once)."""
        for key, scope in ((self.transport.name, "transport"), (domain_pause_key(self.transport.name, domain),
                                                                f"sending to {domain}")):  # fmt: skip
            pause = await self._pause_of(key)
            if pause is not None:
                return pause[0], scope, pause[2]
        return None

    async def _pause_of(self, key: str) -> tuple[float, int | None, str | None] | None:
        now = self.clock()
        checked, pause = self._pauses.get(key, (float("-inf"), None))
        if now >= checked + self.options.pause_check:
            pause = await self._db(self.store.paused, key, now=now)
            if len(self._pauses) > 10_000:  # one entry per domain met: keep it bounded
                self._pauses.clear()
            self._pauses[key] = (now, pause)
        if pause is not None and pause[0] <= now:
            return None
        return pause

    async def _postpone(self, delivery: Delivery, until: float, reason: str) -> str:
        until += self.rng.uniform(0, self.options.poll_interval)
        if until >= delivery.expires_at:
            await self._db(self.store.put_back, delivery.id, self.owner, state="expired", reason=f"{reason}; expired",
                           now=self._stamp())  # fmt: skip
            return self._count("expired")
        await self._db(self.store.put_back, delivery.id, self.owner, state="deferred", not_before=until, reason=reason,
                       now=self._stamp())  # fmt: skip
        return self._count("deferred")

    async def _record(self, delivery: Delivery, reply: Reply) -> str:
        now = self.clock()
        verdict = classify(reply)
        attempt = delivery.attempts + 1
        reason = verdict.reason if verdict.action == "sent" else self.troubles.note(reply, verdict)
        fields = {"code": reply.code, "enhanced": reply.enhanced, "text": reply.text[:500], "reason": reason}
        name = self.transport.name
        if verdict.backoff_pool:
            await self._db(self.store.pause, name, until=now + max(self.options.pool_backoff, verdict.retry_after or 0.0),
                           code=reply.code, reason=verdict.reason)  # fmt: skip
            self._pauses.pop(name, None)
        if verdict.pause_pool:
            # A policy rejection is about our mail at the recipient's provider: only that domain waits.
            key = domain_pause_key(name, delivery.address.rpartition("@")[2])
            await self._db(self.store.pause, key, until=now + self.options.policy_pause, code=reply.code,
                           reason=verdict.reason)  # fmt: skip
            self._pauses.pop(key, None)
            self.stats.policy_rejections.append(f"{delivery.address}: {verdict.reason}")
        if verdict.action == "sent":
            outcome = Outcome("sent", **fields)  # type: ignore[arg-type]
        elif verdict.action == "bounce":
            outcome = Outcome("bounced", suppress="hard-bounce", **fields)  # type: ignore[arg-type]
        elif verdict.action == "fail":
            outcome = Outcome("failed", **fields)  # type: ignore[arg-type]
        else:
            delay = backoff(attempt, base=self.options.retry_base, cap=self.options.retry_cap,
                            hint=verdict.retry_after, rng=self.rng)
            if verdict.pause_pool:
                delay = max(delay, self.options.policy_pause)
            if now + delay >= delivery.expires_at:
                outcome = Outcome("expired", **{**fields, "reason": f"{reason}; expired before a retry"})  # type: ignore[arg-type]
            else:
                outcome = Outcome("deferred", not_before=now + delay, **fields)  # type: ignore[arg-type]
        if not await self._finishes.submit((delivery.id, outcome)):
            self.stats.refused_commits += 1
            log.warning("lease on %s/%s was lost; its outcome (%s) was not recorded",
                        delivery.campaign, delivery.recipient, outcome.state)
            return self._count("lost")
        return self._count(outcome.state)

    def _count(self, state: str) -> str:
        self.stats.outcomes[state] += 1
        return state


def domain_pause_key(transport: str, domain: str) -> str:
    """The pause that holds one recipient domain back on one transport.

    >>> domain_pause_key("smtp://relay.test:587", "Example.COM")
    'smtp://relay.test:587 to example.com'
    """
    return f"{transport} to {domain.lower()}"
