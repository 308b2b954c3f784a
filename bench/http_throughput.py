"""HTTP throughput of /api/messages: planbot beside a bare echo bot on the same stack.

Run: .venv/bin/python -m bench.http_throughput [--concurrency 8] [--duration 10] [--rounds 3]

Three subprocesses: `planbot serve --local` on a fresh SQLite file holding the Manchester 2015
plan (imported with `planbot import`, the benchmark's Teams user linked to the lead Karen Dolton
with `planbot link`, a check-in card sent with `planbot checkin --now`), the echo bot
(bench/echo_bot.py) and a fake Bot Connector that answers 200 to every send and counts the
replies per request. This process is the load generator: an aiohttp client with C concurrent
connections posting Teams activity JSON. Scenarios: (a) the question "what's red?" in the
personal chat, (b) a check-in card submission (adaptiveCard/action invoke, Action.Execute, verb
checkin.submit, a different progress note every time so each one stores a real update). Runs
are interleaved (planbot, echo, planbot, echo, ...) and the median of the rounds is reported.
A request counts as correct only when its status is 2xx, an invoke's body is the expected card
(for planbot: the 'recorded' card showing this request's note) and every message got its reply
at the fake connector. The load generator shares the machine's cores with the bots.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

import aiohttp

from bench.common import cpu_model, cpu_seconds, free_port
from bench.http_traffic import (
    CHAT,
    USER,
    card_answers,
    card_execute,
    personal_message,
    serve_connector,
)

REPO = Path(__file__).resolve().parent.parent
PLAN = REPO.parent / "shared" / "plans" / "manchester-improvement-plan-2015-rag.txt"
DEMO_PLAN = REPO / "storage" / "demo" / "manchester-improvement-plan-2015-rag.txt"
LEAD = "Karen Dolton"  # a lead of 25 actions in the Manchester plan
QUESTION = "what's red?"
CARD = "application/vnd.microsoft.card.adaptive"
JSON = {"Content-Type": "application/json; charset=utf-8"}


# -- processes -------------------------------------------------------------------------------

def planbot_command() -> list[str]:
    """The `planbot` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "planbot"
    return [str(script)] if script.exists() else [sys.executable, "-c",
                                                  "from bot.cli import main; main()"]


@dataclass
class World:
    """Temporary folder, subprocesses and the URLs the load goes to."""

    folder: Path
    env: dict[str, str]
    connector_url: str = ""
    planbot_url: str = ""
    echo_url: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: list = field(default_factory=list)
    submission: dict[str, str] = field(default_factory=dict)  # a check-in card left as it is
    progress_keys: list[str] = field(default_factory=list)  # progress_<action id> inputs
    setup_seconds: float = 0.0

    @property
    def database(self) -> Path:
        return self.folder / "bench.db"

    def start(self, name: str, argv: list[str]) -> None:
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        self.processes[name] = subprocess.Popen(argv, cwd=self.folder, env=self.env,
                                                stdout=log, stderr=subprocess.STDOUT)

    def cli(self, *args: str) -> str:
        """Run one `planbot` command to completion; its output, or an error with its output."""
        done = subprocess.run([*planbot_command(), *args], cwd=self.folder, env=self.env,
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"planbot {' '.join(args)} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}")
        return done.stdout

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def clean_env(database_url: str) -> dict[str, str]:
    """This environment without bot credentials or planbot settings, plus the bench's own."""
    env = {key: value for key, value in os.environ.items()
           if not key.upper().startswith(("MICROSOFT", "PLANBOT_", "DATABASE_URL"))}
    env.update(DATABASE_URL=database_url, PYTHONPATH=str(REPO), PLANBOT_TIMEZONE="Europe/London")
    return env


async def wait_until_up(session: aiohttp.ClientSession, world: World, name: str, url: str,
                        within: float = 60.0) -> None:
    """Poll until the process answers HTTP at url (any status), or fail with its log."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if world.processes[name].poll() is not None:
            raise RuntimeError(f"{name} exited: {world.log_tail(name)}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(url) as response:
                await response.read()
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{name} did not come up within {within:.0f} s: {world.log_tail(name)}")


async def set_up(session: aiohttp.ClientSession, folder: Path, plan: Path, *,
                 same_trims: bool = False) -> World:
    """Database with the plan and a linked lead, the three servers, and a check-in card."""
    started = time.perf_counter()
    world = World(folder=folder, env=clean_env(""))
    world.env["DATABASE_URL"] = f"sqlite+aiosqlite:///{world.database}"
    try:
        ports = {name: free_port() for name in ("connector", "planbot", "echo")}
        world.connector_url = f"http://127.0.0.1:{ports['connector']}/"
        world.planbot_url = f"http://127.0.0.1:{ports['planbot']}/api/messages"
        world.echo_url = f"http://127.0.0.1:{ports['echo']}/api/messages"
        world.cli("import", str(plan))
        world.start("connector", [sys.executable, "-m", "bench.http_throughput", "connector",
                                  "--port", str(ports["connector"])])
        world.start("planbot", [*planbot_command(), "serve", "--local", "--host", "127.0.0.1",
                                "--port", str(ports["planbot"])])
        world.start("echo", [sys.executable, "-m", "bench.echo_bot", "--port",
                             str(ports["echo"]), *(["--same-trims"] if same_trims else [])])
        await wait_until_up(session, world, "connector", world.connector_url + "_bench/stats")
        await wait_until_up(session, world, "planbot",
                            world.planbot_url.replace("/api/messages", "/healthz"))
        await wait_until_up(session, world, "echo", world.echo_url)
        # The user talks to the bot once (planbot learns them and their chat), then is linked.
        hello = personal_message(world.connector_url, "bench.setup.0", "help")
        async with session.post(world.planbot_url, json=hello) as response:
            if response.status // 100 != 2:
                raise RuntimeError(f"planbot answered {response.status} to the first message: "
                                   f"{await response.text()}")
        world.cli("link", LEAD, USER["aadObjectId"])
        world.cli("checkin", "--now")
        card = await checkin_card(session, world)
        world.submission = card_answers(card)
        world.progress_keys = sorted(key for key in world.submission
                                     if key.startswith("progress_"))
        if not world.progress_keys or not world.submission.get("token"):
            raise RuntimeError(f"the check-in card has no progress inputs or token: {card}")
    except BaseException:
        world.stop()
        raise
    world.setup_seconds = time.perf_counter() - started
    return world


async def checkin_card(session: aiohttp.ClientSession, world: World) -> dict:
    """The check-in card planbot sent to the benchmark's chat (from the fake connector)."""
    for _ in range(100):
        async with session.get(world.connector_url + "_bench/bodies") as response:
            bodies = await response.json()
        for item in bodies:
            for attachment in item["body"].get("attachments") or []:
                content = attachment.get("content") or {}
                actions = content.get("actions") or [{}]
                if (item["path"].startswith(f"/v3/conversations/{CHAT['id']}")
                        and actions[0].get("verb") == "checkin.submit"):
                    return content
        await asyncio.sleep(0.1)
    raise RuntimeError("no check-in card reached the fake connector; planbot log:\n"
                       + world.log_tail("planbot"))


# -- load ------------------------------------------------------------------------------------

@dataclass
class Run:
    """One timed run of one scenario against one bot."""

    bot: str
    scenario: str
    tag: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    warmup_requests: int = 0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    remarks: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cpu_seconds: float = float("nan")  # CPU time the bot's process used in the timed part
    history: int | None = None  # planbot check-in: updates already stored from earlier runs
    ok: int = 0  # correct answers, warm-up included (each needs its reply or its stored row)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_seconds / self.requests if self.requests else float("nan")

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


Check = Callable[[int, bytes, str], str | None]  # (status, body, note) -> error or None


def question_request(world: World, tag: str) -> Callable[[int], tuple[bytes, str]]:
    def make(n: int) -> tuple[bytes, str]:
        body = personal_message(world.connector_url, f"bench.{tag}.{n}", QUESTION)
        return json.dumps(body).encode(), ""
    return make


def checkin_request(world: World, tag: str) -> Callable[[int], tuple[bytes, str]]:
    def make(n: int) -> tuple[bytes, str]:
        note = f"Bench {tag} update {n}: audit booked"
        data = dict(world.submission)
        key = world.progress_keys[n % len(world.progress_keys)]
        data[key] = note
        # Red or Amber needs the corrective action and a next review date (issue 8)
        action = key.removeprefix("progress_")
        data[f"corrective_{action}"] = f"Weekly audit ({tag} {n})"
        data[f"review_{action}"] = (datetime.now(UTC) + timedelta(days=28)).date().isoformat()
        body = card_execute(world.connector_url, f"bench.{tag}.{n}", "checkin.submit", data)
        return json.dumps(body).encode(), note
    return make


def check_message(status: int, _body: bytes, _note: str) -> str | None:
    return None if status in (200, 201) else f"HTTP {status}"


def invoke_check(bot: str, tag: str) -> Check:
    """An invoke must answer 200 with a card; planbot's must be the 'recorded' card showing the
    request's own note (any other card means nothing was stored)."""

    def check(status: int, body: bytes, note: str) -> str | None:
        if status != 200:
            return f"HTTP {status}"
        try:
            answer = json.loads(body)
        except ValueError:
            return "invoke body is not JSON"
        if answer.get("statusCode") != 200 or answer.get("type") != CARD:
            return f"invoke answered {answer.get('statusCode')} {answer.get('type')}"
        card = json.dumps(answer.get("value"))
        expected = note if bot == "planbot" else "Received checkin.submit"
        if expected in card:
            return None
        if bot == "planbot" and f"Bench {tag} update " in card:
            # Another submission of the same action, running at the same moment, is the one
            # the recorded card shows (its clock was read later); the row count checks ours.
            return REMARK + "recorded card shows a concurrent submission's note"
        return "the card does not show the update"

    return check


REMARK = "remark: "  # a check result that is worth reporting but is not an error


def stored_updates(database: Path, tag: str = "%") -> int:
    """StatusUpdate rows planbot stored from a run's submissions (read from its SQLite); the
    default tag counts every benchmark submission so far."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                            timeout=30)) as db:
        return db.execute("SELECT count(*) FROM statusupdate WHERE progress LIKE ?",
                          (f"Bench {tag} update %",)).fetchone()[0]


async def _phase(session: aiohttp.ClientSession, url: str, make, check: Check, run: Run, *,
                 concurrency: int, numbers, deadline: float | None, count: int | None,
                 record: bool) -> float:
    """Workers post until the deadline (or count requests); returns when the last one ended."""
    done = 0
    last_end = time.perf_counter()

    async def worker() -> None:
        nonlocal done, last_end
        while True:
            if count is not None and done >= count:
                return
            if deadline is not None and time.perf_counter() >= deadline:
                return
            done += 1
            n = next(numbers)
            payload, note = make(n)
            began = time.perf_counter()
            try:
                async with session.post(url, data=payload, headers=JSON) as response:
                    raw = await response.read()
                    status = response.status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                run.errors[type(exc).__name__] += 1
                continue
            ended = time.perf_counter()
            last_end = max(last_end, ended)
            error = check(status, raw, note)
            if error is not None and error.startswith(REMARK):
                run.remarks[error.removeprefix(REMARK)] += 1
                error = None
            if error is not None:
                run.errors[error] += 1
            else:
                run.ok += 1
            if record:
                run.requests += 1
                run.latencies.append(ended - began)
            else:
                run.warmup_requests += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return last_end


async def run_once(session: aiohttp.ClientSession, world: World, bot: str, scenario: str,
                   tag: str, *, concurrency: int, duration: float, count: int | None,
                   warmup: float) -> Run:
    """Warm up, then time one scenario against one bot; then check the connector's replies."""
    url = world.planbot_url if bot == "planbot" else world.echo_url
    make = (question_request if scenario == "question" else checkin_request)(world, tag)
    check = check_message if scenario == "question" else invoke_check(bot, tag)
    run = Run(bot=bot, scenario=scenario, tag=tag)
    numbers = itertools.count()
    common = dict(concurrency=concurrency, numbers=numbers)
    if warmup > 0:
        await _phase(session, url, make, check, run, deadline=time.perf_counter() + warmup,
                     count=None, record=False, **common)
    if scenario == "checkin" and bot == "planbot":
        run.history = await asyncio.to_thread(stored_updates, world.database)
    pid = world.processes[bot].pid if bot in world.processes else None
    cpu_before = cpu_seconds(pid) if pid is not None else 0.0
    began = time.perf_counter()
    ended = await _phase(session, url, make, check, run,
                         deadline=None if count else began + duration, count=count,
                         record=True, **common)
    run.seconds = max(ended - began, 1e-9)
    if pid is not None:  # else NaN: no process of ours to measure
        run.cpu_seconds = cpu_seconds(pid) - cpu_before
    if scenario == "question":
        async with session.get(world.connector_url + "_bench/stats") as response:
            stats = (await response.json()).get(tag, {"answered": 0, "empty": 0})
        if run.ok != stats["answered"]:
            run.errors["no reply at the connector"] += run.ok - stats["answered"]
        if stats["empty"]:
            run.errors["empty reply at the connector"] += stats["empty"]
    elif bot == "planbot":
        stored = await asyncio.to_thread(stored_updates, world.database, tag)
        if stored != run.ok:
            run.errors["submissions not stored once each"] += abs(run.ok - stored)
    return run


# -- report ----------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    versions = {name: metadata.version(name) for name in (
        "aiohttp", "botbuilder-core", "botbuilder-integration-aiohttp", "msrest", "SQLAlchemy",
        "aiosqlite")}
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return {"cores": str(os.cpu_count()), "cpu": cpu_model(),
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "os": platform.platform(terse=True),
            "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
            "load average at start": " ".join(f"{x:.2f}" for x in load)}


def logged_errors(path: Path, keep: int = 2) -> tuple[int, list[str]]:
    """How many ERROR records a server logged, and the first few with their tracebacks."""
    count, kept, current = 0, [], None
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if " ERROR " in line or " CRITICAL " in line:
            count += 1
            current = [line] if len(kept) < keep else None
            if current is not None:
                kept.append(current)
        elif current is not None and not line[:4].isdigit():  # a traceback line
            current.append(line)
        else:
            current = None
    return count, ["\n".join(lines[:1] + lines[-3:]) for lines in kept]


def summarise(runs: list[Run]) -> dict:
    """Median over the rounds of rps, p50 and p95 per (scenario, bot), and the ratios."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for scenario in ("question", "checkin"):
        table[scenario] = {}
        for bot in ("planbot", "echo"):
            mine = [r for r in runs if r.scenario == scenario and r.bot == bot]
            if not mine:
                continue
            table[scenario][bot] = {
                "rps": statistics.median(r.rps for r in mine),
                "p50_ms": statistics.median(r.percentile(0.50) for r in mine),
                "p95_ms": statistics.median(r.percentile(0.95) for r in mine),
                "requests": sum(r.requests for r in mine),
                "errors": sum(r.error_count for r in mine),
                "cpu_ms": statistics.median(r.cpu_ms_per_request for r in mine),
            }
        bots = table[scenario]
        if "planbot" in bots and "echo" in bots and bots["echo"]["rps"]:
            bots["ratio"] = bots["planbot"]["rps"] / bots["echo"]["rps"]
    errors: dict[str, int] = defaultdict(int)
    remarks: dict[str, int] = defaultdict(int)
    for run in runs:
        for kind, number in run.errors.items():
            errors[f"{run.bot}/{run.scenario}: {kind}"] += number
        for kind, number in run.remarks.items():
            remarks[f"{run.bot}/{run.scenario}: {kind}"] += number
    return {"table": table, "errors": dict(errors), "remarks": dict(remarks),
            "total_errors": sum(errors.values()),
            "requests": sum(r.requests + r.warmup_requests for r in runs),
            "runs": runs}


def print_report(report: dict, args: argparse.Namespace, target: float) -> None:
    print("HTTP throughput of /api/messages: planbot vs a bare echo bot "
          "(botbuilder CloudAdapter + aiohttp)")
    print(f"Command: {report['command']}")
    for key, value in report["machine"].items():
        print(f"  {key}: {value}")
    what = (f"{args.requests} requests" if args.requests else f"{args.duration:g} s")
    print(f"Load: {args.concurrency} concurrent connections, {what} per run after "
          f"{args.warmup:g} s warm-up, {args.rounds} round(s) interleaved planbot/echo; the "
          "load generator and the fake connector share the cores with the bot under test.")
    print("Echo bot: " + ("with planbot's two botbuilder trims (msrest retry policy, lazy user "
                          "token client)" if args.echo_same_trims else
                          "stock botbuilder (planbot trims msrest's retry policy and makes its "
                          "user token client lazily; --echo-same-trims gives the echo bot both)"))
    print(f"Database: SQLite file (planbot serve --local), plan {report['plan']}; "
          f"set-up {report['setup_seconds']:.1f} s")
    print()
    print("Per run:")
    for run in report["runs"]:
        print(f"  {run.tag:<22} {run.requests:>6} req in {run.seconds:5.2f} s  "
              f"{run.rps:8.1f} req/s  p50 {run.percentile(0.5):7.1f} ms  "
              f"p95 {run.percentile(0.95):7.1f} ms  CPU {run.cpu_ms_per_request:5.1f} ms/req  "
              f"errors {run.error_count}"
              + (f"  (card history {run.history})" if run.history is not None else ""))
    print()
    print(f"Median of {args.rounds} round(s):")
    print(f"  {'scenario':<10} {'bot':<8} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'CPU ms/req':>11} {'errors':>7}")
    for scenario, bots in report["table"].items():
        for bot in ("planbot", "echo"):
            if bot in bots:
                row = bots[bot]
                print(f"  {scenario:<10} {bot:<8} {row['rps']:9.1f} {row['p50_ms']:8.1f} "
                      f"{row['p95_ms']:8.1f} {row['cpu_ms']:11.1f} {row['errors']:7d}")
    print("  (CPU ms/req: CPU time of the bot's own process per timed request, from /proc;"
          " card history: check-in updates planbot had stored before the run, which its"
          " 'recorded' card reads back)")
    print()
    for scenario, bots in report["table"].items():
        if "ratio" in bots:
            verdict = "meets" if bots["ratio"] >= target else "BELOW"
            print(f"Ratio planbot/echo (req/s), {scenario}: {bots['ratio']:.2f} "
                  f"({verdict} the target {target:.2f})")
    print(f"Errors: {report['total_errors']} of {report['requests']} requests "
          "(warm-up included)")
    for kind, number in sorted(report["errors"].items()):
        print(f"  {kind}: {number}")
    for name, (count, first) in report.get("logged_errors", {}).items():
        print(f"{name} logged {count} ERROR record(s); the first:")
        for text in first:
            print("    " + text.replace("\n", "\n    "))
    for kind, number in sorted(report["remarks"].items()):
        print(f"Remark (not an error): {kind}: {number}")


async def benchmark(args: argparse.Namespace) -> dict:
    """Set up, run the interleaved rounds, tear down; the report (see summarise)."""
    started_machine = machine()
    timeout = aiohttp.ClientTimeout(total=60)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            world = await set_up(session, Path(tmp), args.plan,
                                 same_trims=args.echo_same_trims)
            try:
                for number in range(1, args.rounds + 1):
                    for scenario in args.scenarios:
                        for bot in ("planbot", "echo"):
                            runs.append(await run_once(
                                session, world, bot, scenario, f"r{number}-{scenario}-{bot}",
                                concurrency=args.concurrency, duration=args.duration,
                                count=args.requests, warmup=args.warmup))
                            if args.verbose:
                                print(f"  {runs[-1].tag}: {runs[-1].rps:.1f} req/s",
                                      file=sys.stderr)
            finally:
                world.stop()
            logged = {name: logged_errors(world.folder / f"{name}.log")
                      for name in world.processes}
            if args.verbose:
                for name in world.processes:
                    print(f"--- {name} log tail ---\n{world.log_tail(name, 1500)}",
                          file=sys.stderr)
    report = summarise(runs)
    report["logged_errors"] = {name: found for name, found in logged.items() if found[0]}
    report.update(machine=started_machine, setup_seconds=world.setup_seconds,
                  plan=args.plan.name,
                  command=" ".join([Path(sys.executable).name, "-m", "bench.http_throughput",
                                    *args.argv]))
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", "-c", type=int, default=8,
                        help="concurrent connections (default 8)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per timed run (default 10)")
    parser.add_argument("--requests", type=int, default=None,
                        help="a fixed number of requests per run instead of --duration")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of untimed warm-up before each run (default 1)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds planbot/echo per scenario (default 3)")
    parser.add_argument("--scenario", dest="scenarios", action="append",
                        choices=["question", "checkin"],
                        help="only this scenario (repeatable; default both)")
    parser.add_argument("--plan", type=Path, default=PLAN if PLAN.exists() else DEMO_PLAN,
                        help="plan file to import (default: the Manchester 2015 plan)")
    parser.add_argument("--target", type=float, default=0.7,
                        help="the ratio planbot/echo to reach (default 0.7)")
    parser.add_argument("--echo-same-trims", "--echo-fast-msrest", dest="echo_same_trims",
                        action="store_true",
                        help="give the echo bot the two botbuilder trims planbot has (msrest "
                             "retry policy, lazy user token client); default: stock botbuilder")
    parser.add_argument("--verbose", action="store_true", help="progress and process logs")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.scenarios = args.scenarios or ["question", "checkin"]
    return args


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 when any request failed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["connector"]:
        parser = argparse.ArgumentParser(prog="bench.http_throughput connector")
        parser.add_argument("--port", type=int, required=True)
        serve_connector(parser.parse_args(argv[1:]).port)
        return 0
    args = parse_args(argv)
    report = asyncio.run(benchmark(args))
    print_report(report, args, args.target)
    return 1 if report["total_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
