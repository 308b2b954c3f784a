"""Benchmarks 1, 2 and 6 of issue 6: fan-out of N check-in cards through the real `planbot serve`.

A fake Bot Connector (bench.teams_connector, its own process) enforces Teams' rate limits and
injects faults; the database is seeded with one plan and N leads, each with a stored 1:1
conversation reference; dialogs.checkin.start_round queues the round; `planbot serve --local`
drains the outbox. With --crash K, planbot is SIGKILLed at K random points and restarted.

Run:  .venv/bin/python -m bench.fanout [--n 10000] [--rate 45] [--faults 0.02] [--seed 1]
      .venv/bin/python -m bench.fanout --crash 5          (benchmark 2; or python -m bench.crash)
      add --readback: planbot looks for a card in the chat (a fake Microsoft Graph serving what
      the connector accepted) before sending again one whose outcome it does not know
Exit: 0 = nothing lost or duplicated; 3 = nothing lost, but duplicates, all of them explained
(a send accepted by the connector whose 'sent' was never committed: killed in between, or the
answer lost) and no read-back; 1 = anything else (lost, unexplained duplicates, any duplicate
with --readback, a wrong card, a stall).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.common import (
    ConnectorProcess,
    OutboxReader,
    cpu_seconds,
    database_name,
    free_port,
    machine,
    memory_kb,
    seed,
    start_connector,
    start_serve,
    stop_serve,
    utcnow,
    wait_healthy,
)
from storage.db import async_url

PG_ROLE = "bench_fanout"


@dataclass
class Kill:
    """One SIGKILL: when, and what it left behind."""

    target: int  # accepted sends after which planbot was killed
    accepted: int  # accepted sends seen when the kill happened
    left_sending: int  # rows leased ('sending') at the kill (earlier kills' leases included)
    in_flight_accepted: int  # new among them: rows the connector had accepted (resent later)


@dataclass
class Result:
    """Everything a run measured."""

    n: int
    rate: float
    database: str = ""
    seed_seconds: float = 0.0
    round_seconds: float = 0.0
    elapsed: float = 0.0  # first accepted send to last (connector clock)
    wall: float = 0.0  # first planbot start to the outbox drained
    startup: float = 0.0  # first planbot start to the first accepted send
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0  # accepted sends to conversations nobody queued
    wrong_card: int = 0  # conversations whose card carries another lead's token
    failed: int = 0
    statuses: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    attempts: int = 0
    peak_rss_kb: int = 0
    cpu: float = 0.0  # CPU seconds planbot used (all its processes)
    peak_tenant_rate: int = 0
    slack: float = 0.0  # time lost between requests beyond the 1/rate spacing
    long_gaps: int = 0  # gaps between requests of more than 4 / rate
    longest_gap: float = 0.0
    gap_at: int = 0  # the longest gap came after this many counted requests
    tail: float = 0.0  # the gap before the very last request (a retry's backoff, mostly)
    kills: list[Kill] = field(default_factory=list)
    stalled: str | None = None
    readback: bool = False  # planbot read the chat back before sending again (fake Graph)
    graph: dict = field(default_factory=dict)  # what the fake Graph was asked

    @property
    def floor(self) -> float:
        return self.n / self.rate

    @property
    def explained_duplicates(self) -> int:
        """Duplicates with a known cause: in flight at a kill, or an answer lost on the way."""
        return (sum(kill.in_flight_accepted for kill in self.kills)
                + self.counts.get("answers_lost", 0))


def problems(result: Result) -> list[str]:
    """What makes the run fail (empty when nothing was lost or duplicated without cause)."""
    found = []
    if result.stalled:
        found.append(f"stalled: {result.stalled}")
    if result.lost:
        found.append(f"{result.lost} cards lost")
    if result.failed:
        found.append(f"{result.failed} outbox rows failed")
    if result.readback and result.duplicated:
        found.append(f"{result.duplicated} duplicated despite the read-back")
    elif result.duplicated > result.explained_duplicates:
        found.append(f"{result.duplicated - result.explained_duplicates} unexplained duplicates")
    if result.unexpected:
        found.append(f"{result.unexpected} sends to conversations nobody queued")
    if result.wrong_card:
        found.append(f"{result.wrong_card} conversations got another lead's card")
    return found


def exit_code(result: Result) -> int:
    """0 clean, 3 explained duplicates only, 1 anything else."""
    if problems(result):
        return 1
    return 3 if result.duplicated else 0


async def prepare_postgres(url: str) -> str:
    """A fresh schema owned by a role whose search_path is that schema; the role's URL."""
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"drop schema if exists {PG_ROLE} cascade"))
            exists = (await connection.execute(
                text("select 1 from pg_roles where rolname = :r"), {"r": PG_ROLE})).scalar()
            if not exists:
                await connection.execute(text(f"create role {PG_ROLE} login"))
            await connection.execute(text(f"create schema {PG_ROLE} authorization {PG_ROLE}"))
            await connection.execute(text(f"alter role {PG_ROLE} set search_path = {PG_ROLE}"))
    finally:
        await engine.dispose()
    return make_url(url).set(username=PG_ROLE, password=None).render_as_string(
        hide_password=False)


async def drop_postgres(url: str) -> None:
    """Drop the benchmark's schema and role."""
    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"drop schema if exists {PG_ROLE} cascade"))
            await connection.execute(text(f"drop role if exists {PG_ROLE}"))
    finally:
        await engine.dispose()


class Runner:
    """One benchmark run: the connector, the database and planbot processes."""

    def __init__(self, args: argparse.Namespace, workdir: Path, url: str) -> None:
        self.args, self.workdir, self.url = args, workdir, url
        self.result = Result(n=args.n, rate=args.rate, readback=args.readback)
        self.reader = OutboxReader(url)
        self.connector: ConnectorProcess | None = None
        self._cpu = 0.0
        self._started_wall = 0.0
        self._in_flight: set[int] = set()  # row ids accepted but leased at some kill
        self.port = free_port()

    def _serve(self) -> subprocess.Popen:
        os.environ["PLANBOT_SEND_RATE"] = str(self.args.rate)
        if self.args.concurrency:
            os.environ["PLANBOT_SEND_CONCURRENCY"] = str(self.args.concurrency)
        return start_serve(url=self.url, port=self.port, workdir=self.workdir,
                           log=self.workdir / "planbot.log", lease=self.args.lease,
                           graph=self.connector.url if self.args.readback else None)

    async def run(self) -> Result:
        args = self.args
        self.connector = start_connector(faults=args.faults, lost_answers=args.lost_answers,
                                         seed=args.seed, log=self.workdir / "connector.log",
                                         graph=args.readback)
        try:
            self.result.database = await database_name(self.url)
            seeded = await seed(self.url, args.n, self.connector.url, utcnow(),
                                full_round=args.full_round)
            self.result.seed_seconds = seeded.seed_seconds
            self.result.round_seconds = seeded.round_seconds
            await self._drive()
            await self._count()
        finally:
            self.connector.stop()
            await self.reader.close()
        return self.result

    def _kill_points(self) -> list[int]:
        rng = random.Random(self.args.seed)
        low, high = max(1, self.args.n // 20), max(2, self.args.n * 19 // 20)
        return sorted(rng.sample(range(low, high), self.args.crash)) if self.args.crash else []

    async def _drive(self) -> None:
        started = time.monotonic()
        self._started_wall = time.time()
        targets = self._kill_points()
        while True:
            process = self._serve()
            try:
                await wait_healthy(self.port, process)
                target = targets.pop(0) if targets else None
                outcome = await self._watch(process, target)
            finally:
                stop_serve(process)
            if outcome == "drained":
                break
            if outcome != "killed":
                self.result.stalled = outcome
                break
        self.result.wall = time.monotonic() - started

    async def _watch(self, process: subprocess.Popen, target: int | None) -> str:
        """Sample planbot's memory and CPU until the outbox drains or the kill target is hit."""
        try:
            return await self._sample(process, target)
        finally:
            self.result.cpu += self._cpu

    async def _sample(self, process: subprocess.Popen, target: int | None) -> str:
        last_check = last_progress = time.monotonic()
        accepted_before, self._cpu = -1, 0.0
        stall = (self.args.lease or 60.0) + 120.0
        while True:
            memory = memory_kb(process.pid)
            self.result.peak_rss_kb = max(self.result.peak_rss_kb, memory.get("VmHWM", 0))
            self._cpu = cpu_seconds(process.pid) or self._cpu
            if process.poll() is not None:
                return f"planbot exited by itself with {process.returncode}"
            accepted = self.connector.get("count")["accepted"]
            now = time.monotonic()
            if accepted != accepted_before:
                accepted_before, last_progress = accepted, now
            if target is not None and accepted >= target:
                await self._kill(process, target)
                return "killed"
            if now - last_check >= 0.5:
                last_check = now
                statuses = await self.reader.statuses()
                if statuses.get("pending", 0) + statuses.get("sending", 0) == 0:
                    return "drained"
            if now - last_progress > stall:
                return f"no accepted send for {stall:.0f} s"
            await asyncio.sleep(0.02 if target is not None else 0.1)

    async def _kill(self, process: subprocess.Popen, target: int) -> None:
        memory = memory_kb(process.pid)
        self.result.peak_rss_kb = max(self.result.peak_rss_kb, memory.get("VmHWM", 0))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        stats = self.connector.get("stats")
        rows = await self.reader.rows()
        sending = [row for row in rows if row[2] == "sending"]
        # Accepted by the connector, never committed as sent: resent once its lease runs out.
        # A row still leased from an earlier kill is counted once, at the kill that left it.
        in_flight = {row[0] for row in sending if stats["accepted"].get(row[1], 0) > 0}
        new = in_flight - self._in_flight
        self._in_flight |= new
        self.result.kills.append(Kill(target, stats["counts"].get("accepted", 0), len(sending),
                                      len(new)))

    async def _count(self) -> None:
        stats = self.connector.get("stats?times=1")
        rows = await self.reader.rows()
        tokens = await self.reader.tokens()
        accepted: dict[str, int] = stats["accepted"]
        queued = {row[1] for row in rows}
        result = self.result
        result.counts = stats["counts"]
        result.graph = stats.get("graph") or {}
        result.peak_tenant_rate = stats["peak_tenant_rate"]
        result.statuses = dict(Counter(row[2] for row in rows))
        result.failed = result.statuses.get("failed", 0)
        result.attempts = sum(row[3] for row in rows)
        result.lost = sum(1 for cid in queued if accepted.get(cid, 0) == 0)
        result.duplicated = sum(count - 1 for count in accepted.values() if count > 1)
        result.unexpected = sum(1 for cid in accepted if cid not in queued)
        result.wrong_card = sum(1 for cid, found in stats["tokens"].items()
                                if found != [tokens.get(cid)])
        times = sorted(stats["times"])
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        result.slack = sum(max(0.0, gap - 1 / result.rate) for gap in gaps)
        result.long_gaps = sum(1 for gap in gaps if gap > 4 / result.rate)
        result.longest_gap = max(gaps, default=0.0)
        result.gap_at = gaps.index(result.longest_gap) + 1 if gaps else 0
        result.tail = times[-1] - times[-2] if len(times) > 1 else 0.0
        if stats["first_accept"] and stats["last_accept"]:
            result.elapsed = stats["last_accept"] - stats["first_accept"]
            result.startup = stats["first_accept"] - self._started_wall


def report(result: Result, args: argparse.Namespace) -> list[str]:
    """The printed figures."""
    counts = result.counts
    retried = counts.get("429", 0) + counts.get("500", 0) + counts.get("dropped_before", 0) \
        + counts.get("answers_lost", 0)
    attempts_floor = (result.n + retried) / result.rate
    mode = f"crash, {args.crash} SIGKILLs" if args.crash else "fan-out"
    lease = f"{args.lease:g} s (patched)" if args.lease else "default (60 s)"
    lines = [
        machine(result.database),
        f"mode: {mode}; seed "
        f"{args.seed}; injected faults {args.faults:.1%} (half 500, half dropped unread); "
        f"lost answers {args.lost_answers:.1%}; lease "
        f"{lease}",
        f"seeding: {result.seed_seconds:.1f} s; start_round queued {result.n} cards in "
        f"{result.round_seconds:.1f} s"
        + ("" if args.full_round else " (its unlinked-leads report skipped)"),
        f"N {result.n}, rate {result.rate:g}/s, floor N/rate {result.floor:.1f} s",
        f"elapsed (first to last accepted send) {result.elapsed:.1f} s = "
        f"{result.elapsed / result.floor:.3f} x floor "
        f"({100 * (result.elapsed / result.floor - 1):+.1f} %); floor counting every attempt "
        f"{attempts_floor:.1f} s ({result.elapsed / attempts_floor:.3f} x)",
        f"wall (planbot start to outbox drained, restarts included) {result.wall:.1f} s; "
        f"startup to first send {result.startup:.1f} s" if result.startup else
        f"wall (planbot start to outbox drained, restarts included) {result.wall:.1f} s",
        f"lost {result.lost}, duplicated {result.duplicated} ("
        + (f"{result.explained_duplicates} cards the connector had taken without planbot "
           "knowing were found by the read-back" if result.readback else
           f"explained {result.explained_duplicates}")
        + f"), failed {result.failed}, unexpected sends {result.unexpected}, wrong card "
        f"{result.wrong_card}",
        f"retried: {retried} (429: {counts.get('429', 0)}, 500: {counts.get('500', 0)}, "
        f"dropped unread: {counts.get('dropped_before', 0)}, answers lost: "
        f"{counts.get('answers_lost', 0)}); connector requests {counts.get('requests', 0)}, "
        f"accepted {counts.get('accepted', 0)}; outbox attempts {result.attempts}",
        f"peak tenant rate seen by the connector: {result.peak_tenant_rate} requests in 1 s; "
        f"time lost between requests beyond 1/rate: {result.slack:.1f} s; gaps > 4/rate: "
        f"{result.long_gaps}, longest {result.longest_gap * 1000:.0f} ms (after request "
        f"{result.gap_at}), last {result.tail * 1000:.0f} ms",
        f"outbox: {result.statuses}",
        (f"read-back (fake Graph): {result.graph.get('messages', 0)} message listings, "
         f"{result.graph.get('installedApps', 0)} app lookups, {result.graph.get('chat', 0)} "
         f"chat lookups" if result.readback else "read-back: off (planbot's default)"),
        f"peak RSS of planbot serve: {result.peak_rss_kb / 1024:.1f} MiB (target < 300 MB); "
        f"its CPU time {result.cpu:.1f} s ({1000 * result.cpu / max(1, result.attempts):.1f} ms "
        "per attempt, startup included)",
    ]
    for number, kill in enumerate(result.kills, 1):
        fate = ("looked for in the chat before any resend" if result.readback
                else "resent after the lease: duplicates")
        lines.append(f"kill {number}: after {kill.accepted} accepted (target {kill.target}); "
                     f"{kill.left_sending} rows leased, {kill.in_flight_accepted} more of them "
                     f"already accepted by the connector ({fate})")
    found = problems(result)
    lines.append("RESULT: " + ("; ".join(found) if found else
                               "0 lost, 0 duplicated" if not result.duplicated else
                               f"0 lost; {result.duplicated} duplicates, all explained"))
    return lines


def parser(crash: int = 0) -> argparse.ArgumentParser:
    """Command-line options."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--n", type=int, default=10000, help="leads / cards (default 10000)")
    options.add_argument("--rate", type=float, default=45.0, help="PLANBOT_SEND_RATE")
    options.add_argument("--faults", type=float, default=0.02,
                         help="share of requests answered 500 or dropped unread (default 0.02)")
    options.add_argument("--lost-answers", type=float, default=0.0,
                         help="share of accepted sends whose answer is lost (default 0)")
    options.add_argument("--seed", type=int, default=1)
    options.add_argument("--crash", type=int, default=crash,
                         help="SIGKILL planbot at this many random points and restart it")
    options.add_argument("--lease", type=float, default=None,
                         help="outbox lease in seconds (patches planbot; default: its 60 s)")
    options.add_argument("--concurrency", type=int, default=None,
                         help="PLANBOT_SEND_CONCURRENCY (default: planbot's)")
    options.add_argument("--database-url", default=None,
                         help="PostgreSQL URL (a schema and role 'bench_fanout' are made and "
                              "dropped); default: a SQLite file in a scratch folder")
    options.add_argument("--skip-unlinked-report", dest="full_round", action="store_false",
                         help="skip start_round's closing list of unlinked leads")
    options.add_argument("--readback", action="store_true",
                         help="PLANBOT_GRAPH_READBACK against a fake Graph in the connector")
    options.add_argument("--keep", action="store_true", help="keep the scratch folder / schema")
    return options


async def run(args: argparse.Namespace) -> tuple[Result, Path]:
    """One complete run; the result and the scratch folder."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    url = (await prepare_postgres(args.database_url) if args.database_url
           else f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    try:
        result = await Runner(args, workdir, url).run()
    finally:
        if args.database_url and not args.keep:
            await drop_postgres(args.database_url)
    return result, workdir


def main(argv: list[str] | None = None, crash: int = 0) -> int:
    """Run, print the figures, exit non-zero when something was lost or duplicated."""
    args = parser(crash).parse_args(argv)
    result, workdir = asyncio.run(run(args))
    for line in report(result, args):
        print(line)  # noqa: T201 - a benchmark prints its figures
    if args.keep:
        print(f"scratch folder kept: {workdir}")  # noqa: T201
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
