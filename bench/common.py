"""Shared by the fan-out, crash and replica benchmarks: machine, fake connector, seeding, serve,
RSS. A shorter outbox lease is given to `planbot serve` through PLANBOT_SEND_LEASE_SECONDS."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.request import urlopen

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import async_url, make_engine, migrate, session_factory, transaction

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
TENANT = "bench-tenant-0000"
BOT = {"id": "28:bench-bot", "name": "planbot"}


# --- The machine --------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(database: str) -> str:
    """One line describing the machine, Python and database."""
    return (f"machine: {os.cpu_count()} cores, {cpu_model()}, Python "
            f"{platform.python_version()}, {database}")


async def database_name(url: str) -> str:
    """'SQLite 3.x (file)' or 'PostgreSQL 16.x'."""
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                version = (await connection.execute(text("select sqlite_version()"))).scalar()
                return f"SQLite {version} (file, WAL)"
            version = (await connection.execute(text("show server_version"))).scalar()
            return f"PostgreSQL {version}"
    finally:
        await engine.dispose()


# --- Process memory -----------------------------------------------------------------------------


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process in KiB, from /proc; {} once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, from /proc; 0.0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- The fake connector process -----------------------------------------------------------------


@dataclass
class ConnectorProcess:
    """bench.teams_connector running in its own process."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def get(self, path: str) -> dict:
        with urlopen(self.url + path, timeout=30) as response:  # noqa: S310 - loopback only
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


BENCH_TEAMS_APP_ID = "6f1e2b7a-53c4-4d0e-9a51-2b8c1e0f4d7e"  # the manifest id the fakes use


def start_connector(*, faults: float, lost_answers: float, seed: int, log: Path,
                    graph: bool = False) -> ConnectorProcess:
    """Start the fake connector (with graph: and a fake Graph) on a free port; wait for it."""
    extra = ["--graph", BENCH_TEAMS_APP_ID] if graph else []
    process = subprocess.Popen(
        [str(PYTHON), "-m", "bench.teams_connector", "--port", "0", "--faults", str(faults),
         "--lost-answers", str(lost_answers), "--seed", str(seed), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"the fake connector did not start: {line!r}; see {log}")
    return ConnectorProcess(process, int(line.split()[-1]))


# --- Seeding ------------------------------------------------------------------------------------


def reference(index: int, service_url: str) -> dict:
    """A 1:1 ConversationReference as botbuilder serializes it."""
    return {"activityId": f"bench-{index}",
            "user": {"id": f"29:bench-user-{index:05d}", "name": f"Lead {index:05d}",
                     "aadObjectId": f"00000000-0000-4000-8000-{index:012d}"},
            "bot": dict(BOT), "conversation": {"conversationType": "personal",
                                               "tenantId": TENANT, "id": conversation(index)},
            "channelId": "msteams", "locale": "en-GB", "serviceUrl": service_url}


def conversation(index: int) -> str:
    """The 1:1 conversation id of lead number `index`."""
    return f"a:bench-chat-{index:05d}"


@dataclass
class Seeded:
    """What seeding did and how long it took."""

    queued: int
    seed_seconds: float
    round_seconds: float
    timings: dict = field(default_factory=dict)


async def _no_unlinked_leads(*, session, plan_id: int) -> list[str]:
    return []  # every benchmark lead is linked; see seed()


async def insert_leads(session, *, plan_id: int, n: int, service_url: str, now: datetime,
                       people: int | None = None) -> None:
    """Bulk-insert people 1..people (default n), each with a 1:1 conversation reference, and
    actions 1..n, action i led by person i (linked). Ids are explicit; on PostgreSQL the
    sequences are moved past them."""
    from storage.models import Action, ActionLead, ConversationRef, Person

    everyone = range(1, (people or n) + 1)
    tables = (
        (Person, [{"id": i, "display_name": f"Lead {i:05d}",
                   "teams_user_id": f"29:bench-user-{i:05d}",
                   "aad_object_id": f"00000000-0000-4000-8000-{i:012d}", "aliases": "",
                   "created_at": now} for i in everyone]),
        (Action, [{"id": i, "plan_id": plan_id, "ref": f"B{i}", "ref_key": f"b{i}",
                   "text": f"Benchmark action {i}", "position": i, "rag": "amber"}
                  for i in range(1, n + 1)]),
        (ActionLead, [{"action_id": i, "name": f"Lead {i:05d}", "role": "lead", "person_id": i,
                       "position": 0} for i in range(1, n + 1)]),
        (ConversationRef, [{"conversation_id": conversation(i), "kind": "personal",
                            "tenant_id": TENANT, "service_url": service_url, "person_id": i,
                            "updated_at": now,
                            "reference_json": json.dumps(reference(i, service_url))}
                           for i in everyone]))
    for table, rows in tables:
        for start in range(0, len(rows), 2000):
            await session.execute(insert(table), rows[start:start + 2000])
    if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences on
        for table, last in (("person", people or n), ("action", n)):
            await session.execute(text(
                f"select setval(pg_get_serial_sequence('{table}', 'id'), {last})"))


async def seed(url: str, n: int, service_url: str, now: datetime, *,
               full_round: bool = True) -> Seeded:
    """One plan, n leads with a 1:1 reference each, one action each; then a real round.

    With full_round=False, start_round's closing list of unlinked leads is skipped (it decides
    nothing about which cards are queued). It used to score every lead against every person
    (24 s for 1,000 leads); since it lists unlinked leads without suggestions it is cheap, and
    the round runs in full by default.
    """
    from dialogs import checkin
    from dialogs.checkin import start_round
    from storage.models import (
        CheckinSchedule,
        Outbox,
        Plan,
    )
    from storage.schedule import period_of

    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        await migrate(engine)
        async with transaction(sessions) as session:
            plan = Plan(slug="bench-fanout", name="Fan-out benchmark plan", created_at=now,
                        updated_at=now)
            session.add(plan)
            await session.flush()
            # The scheduler of `planbot serve` must not chase this round (a chaser is due on
            # Wednesdays): the plan's schedule is off, the round is started by hand below.
            session.add(CheckinSchedule(plan_id=plan.id, enabled=False))
            await insert_leads(session, plan_id=plan.id, n=n, service_url=service_url, now=now)
        seeded = time.perf_counter()
        original = checkin.unlinked_leads
        if not full_round:
            checkin.unlinked_leads = _no_unlinked_leads
        try:
            async with transaction(sessions) as session:
                plan = (await session.execute(select(Plan))).scalar_one()
                report = await start_round(session=session, plan=plan, now=now,
                                           period=period_of(now, "Europe/London"),
                                           tz="Europe/London")
        finally:
            checkin.unlinked_leads = original
        queued = time.perf_counter()
        async with sessions() as session:
            rows = (await session.execute(select(Outbox.id))).all()
        if len(report.queued) != n or len(rows) != n:
            raise RuntimeError(f"the round queued {len(report.queued)} cards, outbox holds "
                               f"{len(rows)}; expected {n}")
        return Seeded(n, seeded - started, queued - seeded)
    finally:
        await engine.dispose()


# --- Reading the outbox while planbot runs ------------------------------------------------------


class OutboxReader:
    """Reads outbox state without taking SQLite's write lock (a plain engine, no BEGIN)."""

    def __init__(self, url: str) -> None:
        self._engine = create_async_engine(async_url(url))

    async def statuses(self) -> Counter:
        """Rows per status."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text("select status, count(*) from outbox group by status"))
            return Counter(dict(rows.all()))

    async def rows(self) -> list[tuple[int, str, str, int]]:
        """(id, conversation id, status, attempts) of every row."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                text("select id, conversation_id, status, attempts from outbox order by id"))
            return [tuple(row) for row in rows.all()]

    async def tokens(self) -> dict[str, str]:
        """Conversation id -> the check-in token its card must carry."""
        async with self._engine.connect() as connection:
            rows = await connection.execute(text(
                "select o.conversation_id, c.token from outbox o join checkin c "
                "on c.id = o.checkin_id"))
            return dict(rows.all())

    async def close(self) -> None:
        await self._engine.dispose()


# --- planbot serve ------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_serve(*, url: str, port: int, workdir: Path, log: Path, lease: float | None,
                graph: str | None = None) -> subprocess.Popen:
    """Run `planbot serve --local --port P` (optionally with a shorter lease) on `url`; with
    graph (the fake connector's URL), the read-back asks that fake Graph."""
    command = [str(ROOT / ".venv" / "bin" / "planbot"), "serve", "--local", "--port", str(port)]
    env = {**os.environ, "DATABASE_URL": url, "PLANBOT_LOCAL": "1",
           "PLANBOT_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    if lease is not None:
        env["PLANBOT_SEND_LEASE_SECONDS"] = str(lease)
    if graph is not None:
        env.update({"PLANBOT_GRAPH_READBACK": "1", "PLANBOT_GRAPH_URL": graph + "graph/v1.0",
                    "PLANBOT_GRAPH_TOKEN_URL": graph + "login/{tenant}/oauth2/v2.0/token",
                    "PLANBOT_TEAMS_APP_ID": BENCH_TEAMS_APP_ID})
    # cwd is the scratch folder, so no .env of the checkout is read
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=log.open("a"),
                            stderr=subprocess.STDOUT)


def stop_serve(process: subprocess.Popen) -> None:
    """Stop planbot gracefully (SIGINT), killing it if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _healthy(port: int) -> bool:
    try:
        with urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310 - loopback
            return True
    except OSError:
        return False


async def wait_healthy(port: int, process: subprocess.Popen, seconds: float = 60.0) -> None:
    """Wait until /healthz answers (planbot imported, migrated and listening)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"planbot serve exited with {process.returncode}")
        if await asyncio.to_thread(_healthy, port):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("planbot serve did not become healthy")


def utcnow() -> datetime:
    """Now, timezone-aware."""
    return datetime.now(UTC)

