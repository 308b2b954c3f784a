"""The command line does what it says (issue 16): a re-import updates the plan it is a version
of (case 12); a second `planbot demo` or `serve` on a busy port stops cleanly and leaves the
running bot's database alone (13); the demo and the other commands share one database, and a
command on a database with no plan says so (14); `export --out -` writes to standard output (15).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from bot.cli import run

REPO = Path(__file__).resolve().parent.parent
RAGS = ("Red", "Amber", "Green", "Blue")


def plan_csv(path: Path, *, actions: int = 12, text: str = "Carry out step {n} for children",
             rags: dict[int, str] | None = None) -> Path:
    rows = ["Theme,Ref,Objective,Action,Lead,Due,RAG,Progress,Evidence"]
    for n in range(actions):
        objective = n // 4 + 1
        rag = (rags or {}).get(n, RAGS[n % 4])
        rows.append(f"Theme {objective % 3},{objective}.{n % 4 + 1},{objective} Objective "
                    f"{objective},{text.format(n=n)},Lead {n % 5},2027-0{n % 9 + 1}-15,{rag},"
                    f"Note {n},Evidence {n}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def cli(env_db: Path) -> list[str]:
    return ["--database-url", f"sqlite+aiosqlite:///{env_db}"]


# --- case 12: a re-import updates the same plan ---------------------------------------------


def test_a_renamed_file_of_the_same_plan_updates_it_in_place(tmp_path, capsys):
    db = tmp_path / "plans.db"
    first = plan_csv(tmp_path / "tracker-november.csv")
    assert run([*cli(db), "import", str(first)]) == 0
    second = plan_csv(tmp_path / "tracker-december.csv", rags={0: "Green"})
    capsys.readouterr()
    assert run([*cli(db), "import", str(second)]) == 0
    said = capsys.readouterr().out
    assert "into the plan 'tracker november' (the same plan; --new makes a separate one)" in said
    assert "0 actions added, 0 changed, 12 unchanged; 1 status updates recorded." in said
    assert rows(db, "SELECT name, source_file FROM plan") == [
        ("tracker november", "tracker-december.csv")]
    assert rows(db, "SELECT rag FROM action WHERE ref = '1.1'") == [("green",)]


def test_a_file_imported_under_another_name_is_updated_under_that_name(tmp_path, capsys):
    db = tmp_path / "plans.db"
    path = plan_csv(tmp_path / "tracker.csv")
    assert run([*cli(db), "import", str(path), "--plan", "Children's Services"]) == 0
    plan_csv(path, rags={5: "Red"})
    assert run([*cli(db), "import", str(path)]) == 0
    assert "Saved plan 'Children's Services'" in capsys.readouterr().out
    assert rows(db, "SELECT name FROM plan") == [("Children's Services",)]
    assert rows(db, "SELECT count(*) FROM action") == [(12,)]
    assert rows(db, "SELECT rag FROM action WHERE ref = '2.2'") == [("red",)]


def test_new_makes_a_second_plan_only_when_asked(tmp_path, capsys):
    db = tmp_path / "plans.db"
    path = plan_csv(tmp_path / "tracker.csv")
    assert run([*cli(db), "import", str(path)]) == 0
    assert run([*cli(db), "import", str(path), "--new"]) == 0
    assert "as a new plan 'tracker (2)'" in capsys.readouterr().out
    assert rows(db, "SELECT name, slug FROM plan ORDER BY id") == [
        ("tracker", "tracker"), ("tracker (2)", "tracker-2")]
    assert run([*cli(db), "import", str(path), "--new", "--plan", "tracker"]) == 2
    assert "there is a plan called 'tracker' already" in capsys.readouterr().err
    assert run([*cli(db), "import", str(path), "--plan", "Another one"]) == 0
    assert len(rows(db, "SELECT id FROM plan")) == 3


def test_a_file_matching_several_plans_is_asked_about_and_nothing_is_saved(tmp_path, capsys):
    db = tmp_path / "plans.db"
    path = plan_csv(tmp_path / "tracker.csv")
    for name in ("North", "South"):
        assert run([*cli(db), "import", str(path), "--plan", name]) == 0
    history = rows(db, "SELECT count(*) FROM statusupdate")
    plan_csv(tmp_path / "tracker-v2.csv", rags={0: "Green"})
    capsys.readouterr()
    assert run([*cli(db), "import", str(tmp_path / "tracker-v2.csv")]) == 2
    err = capsys.readouterr().err
    assert "tracker-v2.csv matches several plans: 'North' (key north); 'South' (key south)" in err
    assert "--plan NAME" in err and "--new" in err and "Traceback" not in err
    assert rows(db, "SELECT name FROM plan ORDER BY name") == [("North",), ("South",)]
    assert rows(db, "SELECT count(*) FROM statusupdate") == history


def test_a_different_plan_with_the_same_numbering_is_a_new_plan(tmp_path):
    db = tmp_path / "plans.db"
    assert run([*cli(db), "import", str(plan_csv(tmp_path / "oldham.csv"))]) == 0
    other = plan_csv(tmp_path / "bury.csv", text="Recruit {n} foster carers")
    assert run([*cli(db), "import", str(other)]) == 0
    assert rows(db, "SELECT name FROM plan ORDER BY name") == [("bury",), ("oldham",)]


# --- case 13: a busy port stops a second server before it touches anything --------------------


@pytest.fixture
def busy_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_serve_on_a_busy_port_exits_2_naming_it_and_touches_no_database(tmp_path, capsys,
                                                                         busy_port):
    db = tmp_path / "never.db"
    assert run([*cli(db), "serve", "--local", "--port", str(busy_port)]) == 2
    err = capsys.readouterr().err
    assert f"planbot: 127.0.0.1:{busy_port} is already in use" in err and "--port" in err
    assert "Traceback" not in err
    assert not db.exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(port: int) -> dict[str, str]:
    env = {**os.environ, "PLANBOT_PORT": str(port), "PYTHONPATH": str(REPO)}
    env.pop("DATABASE_URL", None)
    return env


def _planbot(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


class Demo:
    """`planbot demo` in its own process, in `folder`, answering /healthz."""

    def __init__(self, folder: Path, port: int, *args: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "demo", *args],
            cwd=folder, env=_environment(port), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 90
        while not self.healthy():
            if self.process.poll() is not None:
                pytest.fail(self.process.stdout.read())
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail("the demo did not answer within 90 s")
            time.sleep(0.3)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> str:
        self.process.terminate()
        return self.process.communicate(timeout=30)[0]


def _add_history(database: Path) -> None:
    """An answer recorded while the demo runs (what a second `make demo` must not wipe)."""
    with sqlite3.connect(database) as connection:
        action_id, = connection.execute("SELECT id FROM action ORDER BY id LIMIT 1").fetchone()
        connection.execute(
            "INSERT INTO statusupdate (action_id, at, source, by_name, rag, rag_text, progress) "
            "VALUES (?, '2026-11-25 09:00:00', 'chat', 'Karen Dolton', 'green', 'green', "
            "'kept')", (action_id,))


async def test_a_second_demo_while_one_runs_stops_cleanly_and_keeps_its_database(tmp_path):
    port = _free_port()
    database = tmp_path / "demo.db"
    demo = await asyncio.to_thread(Demo, tmp_path, port, "--db", str(database))
    try:
        _add_history(database)
        history = rows(database, "SELECT count(*) FROM statusupdate")
        second = await asyncio.to_thread(
            _planbot, "demo", "--db", str(database), cwd=tmp_path, env=_environment(port))
        assert second.returncode == 2, second.stderr
        assert f"planbot: 127.0.0.1:{port} is already in use" in second.stderr
        assert "Traceback" not in second.stderr + second.stdout
        assert rows(database, "SELECT count(*) FROM statusupdate") == history
        assert rows(database, "SELECT count(*) FROM statusupdate WHERE progress = 'kept'") == [
            (1,)]
        assert await asyncio.to_thread(demo.healthy)  # the running demo was left alone
    finally:
        await asyncio.to_thread(demo.stop)


# --- case 14: one database for the demo and the commands; no plan is said, not answered 0 ----


async def test_after_the_demo_the_readmes_commands_read_the_demo_plan(tmp_path):
    port = _free_port()
    demo = await asyncio.to_thread(Demo, tmp_path, port)  # no --db: the default database
    try:
        env = _environment(port)
        asked = await asyncio.to_thread(_planbot, "ask", "what's red?", cwd=tmp_path, env=env)
        listed = await asyncio.to_thread(_planbot, "plans", cwd=tmp_path, env=env)
    finally:
        await asyncio.to_thread(demo.stop)
    assert asked.returncode == 0, asked.stderr
    red = int(asked.stdout.splitlines()[0].removeprefix("Red actions: "))
    assert red > 0 and len(asked.stdout.splitlines()) == red + 1
    assert "Manchester Children's Services Improvement Plan 2015\t93 actions" in listed.stdout
    # a second demo reuses the database: the plan again, nothing lost
    _add_history(tmp_path / "planbot.db")
    history = rows(tmp_path / "planbot.db", "SELECT count(*) FROM statusupdate")
    demo = await asyncio.to_thread(Demo, tmp_path, port)
    await asyncio.to_thread(demo.stop)
    assert rows(tmp_path / "planbot.db", "SELECT count(*) FROM plan") == [(1,)]
    assert rows(tmp_path / "planbot.db", "SELECT count(*) FROM statusupdate") == history


@pytest.mark.parametrize("command", [
    ["ask", "what's red?"], ["ask", "what's red?", "--plan", "Tameside"], ["plans"],
    ["export", "--format", "json"], ["schedule"], ["people"], ["checkin", "--now"],
    ["digest", "--now"],
])
def test_a_command_on_a_database_with_no_plan_says_so_and_exits_2(tmp_path, capsys, command,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "empty.db"
    assert run([*cli(db), *command]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"planbot: there is no plan in the database "
                                   f"sqlite+aiosqlite:///{db} yet: import one with "
                                   "`planbot import FILE`")


# --- case 15: export --out - -----------------------------------------------------------------


def test_export_to_standard_output_writes_the_export_there_and_no_file(tmp_path, capsysbinary,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "plans.db"
    assert run([*cli(db), "import", str(plan_csv(tmp_path / "tracker.csv"))]) == 0
    capsysbinary.readouterr()
    assert run([*cli(db), "export", "--format", "json", "--out", "-"]) == 0
    captured = capsysbinary.readouterr()
    exported = json.loads(captured.out)
    assert exported["plan"]["name"] == "tracker" and len(exported["actions"]) == 12
    assert b"Wrote standard output" in captured.err and b"12 actions" in captured.err
    assert run([*cli(db), "export", "--format", "csv", "--out", "-"]) == 0
    assert capsysbinary.readouterr().out.count(b"\n") >= 13
    assert not (tmp_path / "-").exists()


def test_a_binary_export_to_standard_output_is_the_file_itself(tmp_path):
    db = tmp_path / "plans.db"
    assert run([*cli(db), "import", str(plan_csv(tmp_path / "tracker.csv"))]) == 0
    for fmt, member in (("xlsx", "xl/workbook.xml"), ("docx", "word/document.xml")):
        done = subprocess.run(
            [sys.executable, "-c", "from bot.cli import main; main()", *cli(db), "export",
             "--format", fmt, "--out", "-"], cwd=tmp_path, capture_output=True, timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        assert member in zipfile.ZipFile(io.BytesIO(done.stdout)).namelist()
        assert b"Wrote standard output" in done.stderr
    assert not (tmp_path / "-").exists()


async def test_a_binary_export_is_not_written_to_a_terminal(tmp_path):
    from bot.cli_commands import UserError
    from bot.cli_export import export_cmd
    from bot.config import Settings

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'plans.db'}")
    with pytest.raises(UserError, match="xlsx is a binary format and standard output is a "
                                        "terminal"):
        await export_cmd(settings, plan_name=None, fmt="xlsx", as_of=None,
                         out_path=Path("-"), stdout=Terminal())
