"""planbot in the Agents Playground's real web UI: headless Chromium driven by e2e/browser.mjs.

Opt-in like the rest of tests/e2e (PLANBOT_E2E=1, `make e2e`). Needs /usr/bin/chromium (Debian's
package; no browser download) and playwright-core in e2e/node_modules. The screenshots of the
three steps land in docs/screenshots/.

This module runs its own bot, database and Playground (module-scoped overrides of the conftest
fixtures, built by the same code): a week's check-in card goes to a lead only once, so sharing
the session's database with test_playground.py's check-in test would starve one of them.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import conftest as e2e  # tests/e2e/conftest.py
import pytest

pytestmark = pytest.mark.e2e
SCRIPT = e2e.ROOT / "e2e" / "browser.mjs"
SHOTS = e2e.ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
TIMEOUT = 60.0  # the whole browser run


@pytest.fixture(scope="module")
def bot_env(tmp_path_factory):
    return e2e.bot_env.__wrapped__(tmp_path_factory)


@pytest.fixture(scope="module")
def cli(bot_env):
    return lambda *args: e2e.planbot(bot_env, *args)


@pytest.fixture(scope="module")
def bot(bot_env, tmp_path_factory):
    yield from e2e.bot.__wrapped__(bot_env, tmp_path_factory)


@pytest.fixture(scope="module")
def playground(bot, tmp_path_factory):
    yield from e2e.playground.__wrapped__(bot, tmp_path_factory)


class Script:
    """The node script as a child process: JSON lines out, one "go" line in, a hard deadline."""

    def __init__(self, url: str) -> None:
        self.deadline = time.monotonic() + TIMEOUT
        self.proc = subprocess.Popen(["node", str(SCRIPT), url, str(SHOTS)], cwd=e2e.ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self) -> dict:
        while True:
            left = self.deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TimeoutError(f"{SCRIPT.name}: no answer within {TIMEOUT:.0f} s") from None
            if line is None:
                self.proc.wait(5)
                raise AssertionError(f"{SCRIPT.name} exited rc={self.proc.returncode}\n"
                                     f"{self.proc.stderr.read()[-4000:]}")
            if line.startswith("{"):
                out = json.loads(line)
                assert out.get("ok", True), (f"{SCRIPT.name} failed: {out['error']}\n"
                                             f"screenshot: {out.get('screenshot')}\n"
                                             f"{out.get('html', '')[-3000:]}")
                return out

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        return self.proc.wait(max(self.deadline - time.monotonic(), 1))

    def stop(self) -> None:
        e2e.stop(self.proc)


def test_question_and_checkin_in_the_browser(playground, cli):
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not (e2e.ROOT / "e2e" / "node_modules" / "playwright-core").exists():
        pytest.fail("playwright-core is missing: run `cd e2e && npm ci` (make e2e does)")
    with urllib.request.urlopen(f"{playground}/_internal/v1/config", timeout=20) as response:
        user = json.load(response)["config"]["currentUser"]["name"]
    script = Script(playground)
    try:
        asked = script.next()
        assert asked["step"] == "question", asked
        assert "3a" in asked["answer"] and "8c" in asked["answer"], asked["answer"]
        # The typed question told the bot the user's name (and the page load installed the app).
        cli("link", "Karen Dolton", user)
        out = cli("checkin", "--now")
        assert "All queued cards delivered." in out, out
        script.send("go")
        done = script.next()
        assert done["step"] == "done" and done["ok"] is True, done
        assert script.finish() == 0
    finally:
        script.stop()
    assert "Karen Dolton" in done["checkin"] or "3a" in done["checkin"], done["checkin"]
    assert "Send check-in" in done["buttons"], done["buttons"]
    assert "Recorded" in done["recorded"] and done["note"] in done["recorded"], done["recorded"]
    assert "Green" in done["recorded"], done["recorded"]
    for name in ("01-question.png", "02-checkin-card.png", "03-recorded.png"):
        size = (SHOTS / name).stat().st_size
        assert 0 < size < 300_000, (name, size)
