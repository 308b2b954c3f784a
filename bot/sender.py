"""Drains the outbox: Teams rate limits, retries with backoff, Retry-After; marks sent / failed.

Delivery: a row is leased ('sending') and committed before its send, and its outcome is
committed right after. A process that dies between the two leaves the row 'sending'; after the
lease it is claimed again, and whether Teams got the first send is unknown. Without a read-back
it is sent again (at least once: the lead may see it twice). With one (bot.readback, Microsoft
Graph), each send is first stamped posted_at (committed, only while the lease is still ours);
a row claimed again with posted_at set is looked for in its chat before any resend, and
recorded as sent if it is there: sent exactly once. Answers that leave the outcome unknown
(5xx, dropped connection, timeout) keep posted_at too; a 429 or 412 means Teams did not take
it, so posted_at is cleared. A row marked 'sent' is never claimed again.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.proactive import DeliveryResult
from bot.readback import Readback
from storage.db import transaction
from storage.models import ConversationRef, Outbox
from storage.outbox import (
    claim,
    extend_lease,
    get_references,
    mark_failed,
    mark_retry,
    mark_sent,
)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
# Teams' limits per bot and conversation: (window in seconds, sends allowed in it).
TEAMS_CONVERSATION_LIMITS: tuple[tuple[float, int], ...] = (
    (1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
_EPSILON = 0.001


class Delivery(Protocol):
    """Anything that can send one outbox row (BotDelivery, or a fake in tests)."""

    async def deliver(self, row: Outbox, reference_json: str) -> DeliveryResult:
        """Send the row's activity; never raises."""
        ...


class Lookup(Protocol):
    """Anything that can look for a row's message in its chat (GraphReadback, or a fake)."""

    settle: timedelta  # how long after a send the message may take to be listed

    async def find(self, row: Outbox, reference: ConversationRef) -> Readback:
        """Whether the row's message is in its conversation; never raises."""
        ...


class RateLimiter:
    """A global token bucket, per-conversation sliding windows and a global pause."""

    def __init__(self, *, rate_per_second: float, clock: Clock, sleep: Sleep,
                 limits: tuple[tuple[float, int], ...] = TEAMS_CONVERSATION_LIMITS) -> None:
        self._rate = rate_per_second
        # Just under 2 tokens: a send that woke up late (a busy event loop) lets the next one
        # go at once instead of losing the time for good, yet any 1 s window still holds at
        # most rate + 1 sends (a whole-number rate): no bursts.
        self._capacity = 2.0 - _EPSILON
        self._tokens = 1.0
        self._clock, self._sleep, self._limits = clock, sleep, limits
        self._horizon = max(window for window, _ in limits)
        self._refilled = self._now()
        self._paused_until = 0.0
        self._stamps: dict[str, list[float]] = {}

    def _now(self) -> float:
        return self._clock().timestamp()

    def pause(self, seconds: float) -> None:
        """Hold every send for `seconds` (a 429 with Retry-After)."""
        self._paused_until = max(self._paused_until, self._now() + seconds)

    def _refill(self, now: float) -> None:
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = max(self._refilled, now)

    def _conversation_wait(self, stamps: list[float], now: float) -> float:
        del stamps[:bisect.bisect_right(stamps, now - self._horizon)]
        wait = 0.0
        for window, allowed in self._limits:
            first = bisect.bisect_right(stamps, now - window)
            inside = len(stamps) - first
            if inside >= allowed:
                wait = max(wait, stamps[first + inside - allowed] + window - now + _EPSILON)
        return wait

    def _wait(self, conversation_id: str, now: float) -> float:
        self._refill(now)
        bucket = 0.0 if self._tokens >= 1 else (1 - self._tokens) / self._rate
        stamps = self._stamps.setdefault(conversation_id, [])
        return max(self._paused_until - now, bucket, self._conversation_wait(stamps, now))

    async def acquire(self, conversation_id: str) -> float:
        """Wait until one more send is allowed; returns a stamp to give back to release()."""
        while (wait := self._wait(conversation_id, now := self._now())) > 0:
            await self._sleep(max(wait, _EPSILON))  # datetimes have microsecond resolution
        self._tokens -= 1
        bisect.insort(self._stamps[conversation_id], now)
        return now

    def release(self, conversation_id: str, stamp: float) -> None:
        """Count the send from when it finished (conservative against network delay)."""
        stamps = self._stamps.setdefault(conversation_id, [])
        index = bisect.bisect_left(stamps, stamp)
        if index < len(stamps) and stamps[index] == stamp:
            del stamps[index]
        bisect.insort(stamps, max(stamp, self._now()))

    def forget_idle(self) -> None:
        """Drop conversations with no send inside the longest window (bounded memory)."""
        oldest = self._now() - self._horizon
        for conversation_id in [c for c, s in self._stamps.items() if not s or s[-1] <= oldest]:
            del self._stamps[conversation_id]


class Sender:
    """Claims due outbox rows in batches and delivers them under Teams' rate limits.

    `run` claims the next batch while the previous one's last rows are still sending (once
    fewer than half a batch is left), so the rate limiter never idles during a claim.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], delivery: Delivery,
                 clock: Clock, *, sleep: Sleep = asyncio.sleep, rate_per_second: float = 45.0,
                 max_attempts: int = 8, lease: timedelta = timedelta(seconds=60),
                 batch: int = 50, concurrency: int = 16, idle_seconds: float = 1.0,
                 backoff_base: float = 1.0, backoff_cap: float = 60.0,
                 rng: random.Random | None = None, readback: Lookup | None = None) -> None:
        self._sessions, self._delivery, self._clock, self._sleep = sessions, delivery, clock, sleep
        self._max_attempts, self._lease, self._batch = max_attempts, lease, batch
        self._slots = asyncio.Semaphore(concurrency)
        self._idle = idle_seconds
        self._base, self._cap = backoff_base, backoff_cap
        self._rng = rng or random.Random()
        self.limiter = RateLimiter(rate_per_second=rate_per_second, clock=clock, sleep=sleep)
        self._unsent = 0  # claimed rows not yet handled
        self._low_water = max(1, batch // 2)
        self._room = asyncio.Event()
        self._order: dict[str, tuple[asyncio.Lock, int]] = {}  # conversation -> lock, users
        self._held: dict[int, Outbox] = {}  # claimed here and not handled yet, by row id
        self._lease_lock = asyncio.Lock()  # one renewal of a row's lease at a time
        self._readback = readback
        self.looked_back: Counter[str] = Counter()  # read-backs: found / not found / unknown

    def backoff(self, attempts: int) -> float:
        """Full-jitter exponential backoff: uniform(0, min(cap, base * 2 ** (attempts - 1)))."""
        return self._rng.uniform(0, min(self._cap, self._base * 2 ** max(0, attempts - 1)))

    async def drain_once(self) -> int:
        """Claim one batch and deliver it; the number of rows handled."""
        rows, references = await self._claim()
        await self._deliver(rows, references)
        return len(rows)

    async def _claim(self) -> tuple[list[Outbox], dict[str, ConversationRef]]:
        """Lease one batch and read its conversation references (one transaction)."""
        async with transaction(self._sessions) as session:
            rows = await claim(session=session, now=self._clock(), limit=self._batch,
                               lease=self._lease)
            references = await get_references(
                session=session, conversation_ids={row.conversation_id for row in rows})
        fresh = []
        for row in rows:
            held = self._held.get(row.id)
            if held is None:
                self._held[row.id] = row
                fresh.append(row)
            else:  # its lease ran out while it waited here: the new lease is ours, keep one copy
                held.lease_until, held.attempts = row.lease_until, row.attempts
        self._unsent += len(fresh)
        self.limiter.forget_idle()
        return fresh, references

    async def _deliver(self, rows: list[Outbox],
                       references: dict[str, ConversationRef]) -> None:
        by_conversation: dict[str, list[Outbox]] = {}
        for row in rows:
            by_conversation.setdefault(row.conversation_id, []).append(row)
        await asyncio.gather(*(self._send_in_order(group, references.get(conversation_id))
                               for conversation_id, group in by_conversation.items()))

    async def renew_leases(self) -> int:
        """Renew the leases of held rows that are past half their lease (a row can wait here
        behind its conversation's earlier cards or the rate limit); the number renewed."""
        due = [row for row in list(self._held.values())
               if row.lease_until is not None and not self._fresh(row)]
        if not due:
            return 0
        until, renewed = self._clock() + self._lease, 0
        async with self._lease_lock, transaction(self._sessions) as session:
            for row in due:
                if await extend_lease(session=session, row_id=row.id,
                                      lease_until=row.lease_until, until=until):
                    row.lease_until, renewed = until, renewed + 1
        return renewed

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._sleep(self._lease.total_seconds() / 4)
            try:
                await self.renew_leases()
            except Exception:
                log.exception("could not renew outbox leases; rows renew before their send")

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set, resting `idle_seconds` whenever the outbox is empty."""
        batches: set[asyncio.Task] = set()
        keeper = asyncio.create_task(self._keep_leases(stop), name="outbox-leases")
        try:
            while not stop.is_set():
                try:
                    rows, references = await self._claim()
                except Exception:
                    log.exception("outbox drain failed; trying again shortly")
                    rows, references = [], {}
                if not rows:
                    if not stop.is_set():
                        await self._rest(stop)
                    continue
                batch = asyncio.create_task(self._deliver(rows, references))
                batches.add(batch)
                batch.add_done_callback(batches.discard)
                while self._unsent > self._low_water:  # claim again when half a batch is left
                    self._room.clear()
                    await self._room.wait()
        except asyncio.CancelledError:
            for batch in batches:
                batch.cancel()
            raise
        finally:
            await asyncio.gather(*batches, return_exceptions=True)
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _rest(self, stop: asyncio.Event) -> None:
        nap = asyncio.ensure_future(self._sleep(self._idle))
        stopped = asyncio.ensure_future(stop.wait())
        _, pending = await asyncio.wait({nap, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _send_in_order(self, rows: list[Outbox], reference: ConversationRef | None) -> None:
        # One conversation's rows go one after another, oldest first, also across batches
        # that overlap in `run` (asyncio.Lock serves its waiters first come, first served).
        conversation_id = rows[0].conversation_id
        lock, users = self._order.get(conversation_id, (asyncio.Lock(), 0))
        self._order[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                for row in rows:
                    try:
                        await self._send_one(row, reference)
                    except Exception:
                        log.exception("outbox row %s: unexpected error; it is retried after "
                                      "its lease", row.id)
                    finally:
                        self._held.pop(row.id, None)
                        self._handled()
        finally:
            lock, users = self._order[conversation_id]
            if users <= 1:
                del self._order[conversation_id]
            else:
                self._order[conversation_id] = (lock, users - 1)

    def _handled(self) -> None:
        self._unsent -= 1
        if self._unsent <= self._low_water:
            self._room.set()

    async def _send_one(self, row: Outbox, reference: ConversationRef | None) -> None:
        earlier = row.posted_at  # a send that may have arrived began then (None: no such send)
        if earlier is not None and self._readback is not None and reference is not None:
            done, earlier = await self._look_back(row, reference)
            if done:
                return
        if row.attempts > self._max_attempts:  # re-claimed after leases ran out while sending
            await self._fail(row, f"gave up after {row.attempts - 1} attempts; last error: "
                                  f"{row.last_error or 'the lease ran out while sending'}")
            return
        if reference is None:
            await self._fail(row, "no conversation reference")
            return
        async with self._slots:
            # Before the rate limit's wait, so a commit cannot space sends unevenly; a posted_at
            # a little early only widens the read-back's search. Without a read-back nothing
            # reads posted_at after a crash, so the commit (~1.6 ms of CPU a send) is skipped.
            started = earlier or self._clock()
            if not await self._keep_lease(
                    row, posted_at=started if self._readback is not None else None):
                return
            stamp = await self.limiter.acquire(row.conversation_id)
            try:
                result = await self._delivery.deliver(row, reference.reference_json)
            finally:
                self.limiter.release(row.conversation_id, stamp)
        # A 5xx, a dropped connection or a timeout leaves it unknown whether Teams took it.
        unknown = result.status is None or result.status >= 500
        await self._record(row, result, posted_at=started if unknown else earlier)

    async def _look_back(self, row: Outbox,
                         reference: ConversationRef) -> tuple[bool, datetime | None]:
        """Before sending again a row whose last send may have arrived, look for it in the chat.

        Returns (done, posted_at): done when the row's outcome is recorded (found: sent; or
        put back to try the read-back later); else send, keeping posted_at only if unknown.
        """
        wait = (row.posted_at + self._readback.settle - self._clock()).total_seconds()
        if wait > 0:  # a message Teams has just taken can be missing from Graph for a moment
            await self._sleep(wait)
        try:
            found = await self._readback.find(row, reference)
        except Exception as exc:  # noqa: BLE001 - a read-back must never lose the row
            found = Readback(None, error=f"{type(exc).__name__}: {exc}")
        if found.found:
            self.looked_back["found"] += 1
            log.info("outbox row %s was delivered before (message %s): recorded, not resent",
                     row.id, found.message_id)
            now = self._clock()
            await self._commit(row, lambda s: mark_sent(session=s, row_id=row.id, now=now,
                                                        activity_id=found.message_id))
            return True, None
        if found.found is False:
            self.looked_back["not found"] += 1
            return False, None
        self.looked_back["unknown"] += 1
        error = f"could not check whether the last send arrived: {found.error}"
        if not found.final and row.attempts < self._max_attempts:
            delay = self.backoff(row.attempts)
            log.warning("outbox row %s: %s; asking again in %.1fs", row.id, error, delay)
            until, posted = self._clock() + timedelta(seconds=delay), row.posted_at
            await self._commit(row, lambda s: mark_retry(session=s, row_id=row.id, error=error,
                                                         next_attempt_at=until,
                                                         posted_at=posted))
            return True, None
        log.warning("outbox row %s: %s; sending it again (the lead may see it twice)",
                    row.id, error)
        return False, row.posted_at

    def _fresh(self, row: Outbox) -> bool:
        return (row.lease_until is not None
                and row.lease_until - self._clock() > self._lease / 2)

    async def _keep_lease(self, row: Outbox, posted_at: datetime | None = None) -> bool:
        """Renew a lease about to run out (after long waits); with posted_at, stamp the send
        that begins and renew whatever the lease's age, committed before the send. False (not
        sent) when the row is no longer ours (its lease ran out and another sender took it)."""
        if posted_at is None and self._fresh(row):
            return True
        async with self._lease_lock:  # the lease keeper may be renewing it right now
            if posted_at is None and self._fresh(row):
                return True
            until = self._clock() + self._lease
            async with transaction(self._sessions) as session:
                kept = await extend_lease(session=session, row_id=row.id, posted_at=posted_at,
                                          lease_until=row.lease_until, until=until)
            if kept:
                row.lease_until = until
                if posted_at is not None:
                    row.posted_at = posted_at
        if not kept:
            log.warning("outbox row %s is no longer ours (lease taken over); not sent", row.id)
        return kept

    async def _record(self, row: Outbox, result: DeliveryResult, *,
                      posted_at: datetime | None) -> None:
        now = self._clock()
        if result.ok:
            await self._commit(row, lambda s: mark_sent(session=s, row_id=row.id, now=now,
                                                        activity_id=result.activity_id))
            return
        error = result.error or f"HTTP {result.status}"
        if result.final:
            await self._fail(row, error)
        elif row.attempts >= self._max_attempts:
            await self._fail(row, f"gave up after {row.attempts} attempts; last error: {error}")
        else:
            delay = (result.retry_after if result.retry_after is not None
                     else self.backoff(row.attempts))
            if result.status == 429:
                self.limiter.pause(delay)
            log.warning("outbox row %s (%s to %s) attempt %s failed, retry in %.1fs: %s",
                        row.id, row.kind, row.conversation_id, row.attempts, delay, error)
            until = now + timedelta(seconds=delay)
            await self._commit(row, lambda s: mark_retry(session=s, row_id=row.id, error=error,
                                                         next_attempt_at=until,
                                                         posted_at=posted_at))

    async def _fail(self, row: Outbox, error: str) -> None:
        log.warning("outbox row %s (%s to %s) failed for good: %s", row.id, row.kind,
                    row.conversation_id, error)
        now = self._clock()
        await self._commit(row, lambda s: mark_failed(session=s, row_id=row.id, error=error,
                                                      now=now))

    async def _commit(self, row: Outbox,
                      write: Callable[[AsyncSession], Awaitable[bool]]) -> None:
        """Commit an outcome in its own transaction, trying a few times (lost = resent)."""
        for attempt in range(3):
            try:
                async with transaction(self._sessions) as session:
                    await write(session)
                return
            except Exception:
                log.exception("outbox row %s: could not record the outcome (try %s)",
                              row.id, attempt + 1)
                if attempt < 2:
                    await self._sleep(0.5 * 2 ** attempt)
