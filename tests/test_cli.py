"""The `planbot` command: import (dry run, idempotent, clear errors) and the demo server."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import run
from bot.cli_commands import import_file
from bot.config import Settings
from tests.truthcheck import PLANS

REPO = Path(__file__).resolve().parent.parent


def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


async def test_dry_run_prints_counts_and_saves_nothing(tmp_path):
    out = io.StringIO()
    await import_file(sqlite_settings(tmp_path), PLANS / "tameside-improvement-plan-2023.txt",
                      plan_name=None, dry_run=True, out=out)
    text = out.getvalue()
    assert "Themes: 4  Objectives: 4  Actions: 31" in text
    assert "Quality of Practice: 10" in text
    assert "Unknown columns:" in text
    assert "Dry run: nothing was saved." in text
    assert not (tmp_path / "cli.db").exists()


async def test_import_twice_adds_nothing_the_second_time(tmp_path):
    settings = sqlite_settings(tmp_path)
    plan = PLANS / "rochdale-council-plan-2018-actions.txt"
    first, second = io.StringIO(), io.StringIO()
    await import_file(settings, plan, plan_name=None, dry_run=False, out=first)
    await import_file(settings, plan, plan_name=None, dry_run=False, out=second)
    assert "62 actions added, 0 changed, 0 unchanged" in first.getvalue()
    assert "0 actions added, 0 changed, 62 unchanged" in second.getvalue()


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"", "empty.csv", "the file is empty"),
    (b"PK\x03\x04garbage\x00\x00binary", "plan.xlsx", "plan.xlsx"),
    (b"\x00\x01\x02binary", "plan.txt", "binary file"),
    (b"hello", "plan.pdf", "unsupported file type"),
])
def test_bad_files_exit_2_with_a_clear_message(tmp_path, capsys, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    code = run(["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", "import", str(path)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("planbot: ") and message in err
    assert "Traceback" not in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert run(["import", str(tmp_path / "nope.csv")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_command_serves_a_real_plan(tmp_path):
    """`planbot demo` (the README's first command) starts, loads a plan and answers /healthz."""
    port = _free_port()
    env = {**os.environ, "PLANBOT_PORT": str(port)}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "demo",
         "--db", str(tmp_path / "demo.db")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(process.stdout.read())
                time.sleep(0.3)
        else:
            pytest.fail("the demo server did not answer within 60 s")
        listing = subprocess.run(
            [sys.executable, "-c", "from bot.cli import main; main()",
             "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", "plans"],
            capture_output=True, text=True, check=True, cwd=REPO)
        assert "93 actions" in listing.stdout
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "LOCAL MODE" in output


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    """`planbot ask ... | head -3`: when the reader goes away, planbot stops with the shell's
    SIGPIPE status and no traceback."""
    settings = sqlite_settings(tmp_path)
    asyncio.run(import_file(settings, PLANS / "tameside-improvement-plan-2023.txt",
                            plan_name=None, dry_run=False, out=io.StringIO()))
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", "--database-url",
         settings.database_url, "ask", "who hasn't updated for 3 weeks?"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    process.stdout.close()  # the reader has gone before the first line is written
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 141, errors
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors


async def test_checkin_now_queues_and_delivers_this_weeks_cards(tmp_path):
    """`planbot checkin --now`: one round now, cards delivered through the outbox."""

    from bot.cli_commands import checkin_now
    from storage.db import make_engine, migrate, session_factory
    from storage.models import ConversationRef, Person
    from storage.people import link_lead
    from tests.fakes.connector import start_connector

    fake, server = await start_connector()
    url = str(server.make_url("")).rstrip("/") + "/"
    settings = sqlite_settings(tmp_path)
    out = io.StringIO()
    await import_file(settings, PLANS / "manchester-improvement-plan-2015-rag.txt",
                      plan_name=None, dry_run=False, out=out)
    engine = make_engine(settings.database_url)
    await migrate(engine)
    async with session_factory(engine)() as session, session.begin():
        karen = Person(display_name="Karen Dolton", teams_user_id="29:k", aad_object_id="aad-k")
        session.add(karen)
        await session.flush()
        reference = {"conversation": {"id": "a:karen", "conversationType": "personal"},
                     "serviceUrl": url, "channelId": "msteams",
                     "bot": {"id": "28:bot"}, "user": {"id": "29:k"}}
        session.add(ConversationRef(conversation_id="a:karen", service_url=url,
                                    reference_json=json.dumps(reference), person_id=karen.id))
        await link_lead(session=session, lead="Karen Dolton", person=karen)
    await engine.dispose()
    try:
        out = io.StringIO()
        await checkin_now(settings, plan_name=None, wait=20, out=out)
        text = out.getvalue()
        assert "1 check-in cards queued (round started now)" in text
        assert "not linked to a Teams user: " in text and "Geoff Little" in text
        assert "All queued cards delivered." in text
        assert [s.conversation_id for s in fake.sent] == ["a:karen"]
        again = io.StringIO()
        await checkin_now(settings, plan_name=None, wait=5, out=again)
        assert "0 check-in cards queued" in again.getvalue() and len(fake.sent) == 1
        with pytest.raises(Exception, match="no plan called"):
            await checkin_now(settings, plan_name="Nowhere", wait=1, out=io.StringIO())
    finally:
        await server.close()


async def test_outbox_lists_each_row_its_state_error_and_any_send_that_may_have_arrived(
        tmp_path):
    from datetime import UTC, datetime

    from bot.cli_commands import outbox_cmd
    from storage.db import make_engine, migrate, session_factory
    from storage.outbox import claim, enqueue, mark_failed, mark_retry

    settings = sqlite_settings(tmp_path)
    engine = make_engine(settings.database_url)
    await migrate(engine)
    now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    async with session_factory(engine)() as session, session.begin():
        for key in ("a", "b", "c"):
            await enqueue(session=session, key=key, kind="notice", conversation_id=f"a:{key}",
                          activity={"type": "message", "text": key}, now=now)
        first, second, _ = await claim(session=session, now=now, limit=3,
                                       lease=timedelta(seconds=60))
        await mark_failed(session=session, row_id=first.id, now=now,
                          error="HTTP 403 (the recipient blocked the bot)")
        await mark_retry(session=session, row_id=second.id, error="HTTP 502",
                         next_attempt_at=now, posted_at=now)
    await engine.dispose()
    out = io.StringIO()
    await outbox_cmd(settings, status=None, out=out)
    failed, unknown, leased = out.getvalue().splitlines()
    assert failed.split("\t")[1:3] == ["failed", "notice"]
    assert failed.endswith("attempts 1\tHTTP 403 (the recipient blocked the bot)")
    assert unknown.split("\t")[1] == "pending" and unknown.endswith(
        "a send that began 2026-12-05 09:00:00 UTC may have arrived; HTTP 502")
    assert leased.split("\t")[1] == "sending" and leased.endswith("attempts 1\t")
    only = io.StringIO()
    await outbox_cmd(settings, status="failed", out=only)
    assert only.getvalue().splitlines() == [failed]


def test_schedule_is_shown_changed_and_checked(tmp_path, capsys):
    db = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 's.db'}"]
    assert run([*db, "import", str(PLANS / "rochdale-improvement-notice-2014.txt")]) == 0
    capsys.readouterr()
    assert run([*db, "schedule"]) == 0
    shown = capsys.readouterr().out
    assert "round MON 09:00, chasers WED 12:00 and THU 12:00, owner told FRI 09:00" in shown
    assert "(Europe/London; bank holidays skipped)" in shown and "next round Monday" in shown
    assert run([*db, "schedule", "--send", "tue 10:30", "--bank-holidays", "keep"]) == 0
    assert "round TUE 10:30" in capsys.readouterr().out
    assert run([*db, "schedule", "--send", "someday"]) == 2
    assert "not a weekly slot: 'someday'" in capsys.readouterr().err
    assert run([*db, "schedule", "--timezone", "Mars/Olympus"]) == 2
    assert "unknown time zone" in capsys.readouterr().err


def test_send_rate_and_concurrency_come_from_the_environment(monkeypatch):
    from bot.config import Settings
    monkeypatch.setenv("PLANBOT_SEND_RATE", "20")
    monkeypatch.setenv("PLANBOT_SEND_CONCURRENCY", "4")
    monkeypatch.setenv("PLANBOT_SEND_LEASE_SECONDS", "5")
    assert Settings(_env_file=None).sender_options() == {
        "rate_per_second": 20.0, "concurrency": 4, "lease": timedelta(seconds=5)}
    monkeypatch.setenv("PLANBOT_SEND_RATE", "80")  # above Teams' 50 per tenant
    with pytest.raises(ValueError):
        Settings(_env_file=None)
