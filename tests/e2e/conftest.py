"""Opt-in end-to-end fixtures: planbot in local mode + the Microsoft 365 Agents Playground.

Skipped unless PLANBOT_E2E=1 (``make e2e`` sets it inside a loopback-only network namespace).
The bot runs on a fresh SQLite file with the Manchester 2015 plan imported; the Playground
(e2e/node_modules, pinned 0.2.28) runs from a temporary working directory and is driven through
its HTTP + websocket API, as its own web UI does (see ../shared/PLAYGROUND-NOTES.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLANBOT = Path(sys.executable).with_name("planbot")
PLAN_FILE = ROOT.parent / "shared" / "plans" / "manchester-improvement-plan-2015-rag.txt"
PLAYGROUND_CLI = ROOT / "e2e" / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
ENABLED = os.environ.get("PLANBOT_E2E") == "1"


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="end-to-end test: set PLANBOT_E2E=1 (or run `make e2e`)")
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
            if not ENABLED:
                item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited rc={proc.returncode}\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout} s\n{log.read_text()}")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, with its whole process group."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


@pytest.fixture(scope="session")
def bot_env(tmp_path_factory) -> dict[str, str]:
    """Environment of every planbot process: a fresh SQLite file, local mode, no app id."""
    db = tmp_path_factory.mktemp("db") / "planbot-e2e.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "PLANBOT_LOCAL": "1",
           "MicrosoftAppId": "", "MicrosoftAppPassword": "", "PLANBOT_ADMINS": ""}
    for key in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD"):
        env.pop(key, None)
    return env


def planbot(env: dict[str, str], *args: str, timeout: float = 120.0) -> str:
    """Run the planbot command line against the test database; return its output."""
    done = subprocess.run([str(PLANBOT), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"planbot {args}: rc={done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="session")
def cli(bot_env):
    """Runs `planbot ARGS` against the bot's database: cli("link", lead, user) -> output."""
    return lambda *args: planbot(bot_env, *args)


@pytest.fixture(scope="session")
def bot(bot_env, tmp_path_factory) -> str:
    """planbot serve --local on a free port with the Manchester plan; yields its base URL."""
    planbot(bot_env, "import", str(PLAN_FILE))
    work = tmp_path_factory.mktemp("bot")
    port = free_port()
    log = work / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(PLANBOT), "serve", "--local", "--port", str(port)],
                                env=bot_env, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc, log)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def playground(bot, tmp_path_factory) -> str:
    """The Playground on a free port, replying through its own connector; yields its base URL."""
    if not PLAYGROUND_CLI.exists():
        pytest.fail(f"{PLAYGROUND_CLI} is missing: run `cd e2e && npm ci` (make e2e does)")
    work = tmp_path_factory.mktemp("playground")  # it writes devTools/*.log into its cwd
    port = free_port()
    env = {**os.environ, "TEAMSAPPTESTER_BROWSER": "none",
           "M365_AGENTS_PLAYGROUND_LOGFILE": str(work / "playground.log")}
    # --service-url on 127.0.0.1: the default ("localhost") may resolve to ::1 first.
    log = work / "stdout.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["node", str(PLAYGROUND_CLI), "-e", f"{bot}/api/messages", "-c", "msteams",
             "--disable-telemetry", "-p", str(port),
             "--service-url", f"http://127.0.0.1:{port}/_connector"],
            cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"Listening on (\d+)", log.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Playground did not start\n{log.read_text()}")
            time.sleep(0.1)
        # It silently falls back to a random port when -p is taken: the bot would then reply
        # to the wrong --service-url.
        assert int(found.group(1)) == port, f"port {port} was taken; Playground moved"
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/_debug/ping", proc, log)
        time.sleep(0.3)  # a bad roster file makes it exit just after "Listening on"
        assert proc.poll() is None, f"the Playground exited\n{log.read_text()}"
        yield base
    finally:
        stop(proc)


class Playground:
    """A browserless Playground client: its HTTP API plus the conversation websocket."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.events: list[dict] = []
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> Playground:
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"{self.base}/_internal/v1/config") as response:
            self.cfg = (await response.json())["config"]
        self.user = self.cfg["currentUser"]
        self.personal = self.cfg["personalChat"]["id"]
        self.ws = await self.session.ws_connect(
            self.base.replace("http", "ws", 1) + "/_ws_conversation/v1/conversations/stream")
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._reader.cancel()
        await self.ws.close()
        await self.session.close()

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._cond:
                    self.events.append(json.loads(msg.data))
                    self._cond.notify_all()

    async def wait_for(self, pred, start: int, within: float = 15.0) -> dict:
        """The first event since index `start` (len(events) before acting) matching pred."""
        deadline = time.monotonic() + within
        async with self._cond:
            while True:
                for event in self.events[start:]:
                    if pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(json.dumps(self.events[start:], indent=1)[:4000])
                try:
                    await asyncio.wait_for(self._cond.wait(), left)
                except TimeoutError:
                    pass

    async def _post(self, path: str, body: dict):
        async with self.session.post(self.base + path, json=body) as response:
            text = await response.text()
            if response.status >= 300:
                raise RuntimeError(f"{path} -> {response.status} {text}")
            return json.loads(text) if text else None

    async def send_text(self, text: str, conversation: str | None = None,
                        mention_bot: bool = False) -> dict:
        """A message from the current user; in a channel or group chat the bot must be
        @mentioned to hear it, as in Teams."""
        body = {"from": {"id": self.user["id"]}, "text": text, "textFormat": "plain"}
        if mention_bot:
            at = f"<at>{self.cfg['bot']['name']}</at>"
            body.update(text=f"{at} {text}",
                        mentions=[{"mentioned": {"id": self.cfg["bot"]["id"]}, "text": at}])
        return await self._post(
            f"/_conversation/v1/conversations/{conversation or self.personal}/messages", body)

    async def submit(self, card_id: str, value: dict) -> dict:
        """Action.Submit on a card: the client merges the inputs into the action's data."""
        return await self._post("/_conversation/v1/submit", {
            "conversation": {"id": self.personal}, "from": {"id": self.user["id"]},
            "replyToId": card_id, "value": value})

    async def execute(self, card_id: str, verb: str | None, data: dict) -> dict:
        action = {"type": "Action.Execute", "data": data}
        if verb:
            action["verb"] = verb
        return await self._post("/_conversation/v1/invoke", {
            "name": "adaptiveCard/action", "conversation": {"id": self.personal},
            "from": {"id": self.user["id"]}, "replyToId": card_id,
            "value": {"action": action, "trigger": "manual"}})

    async def install(self) -> int:
        url = f"{self.base}/_debug/conversation/{self.personal}/installation"
        async with self.session.post(url, json={}) as response:
            return response.status


@pytest.fixture
async def pg(playground):
    async with Playground(playground) as client:
        yield client
