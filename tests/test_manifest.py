"""The Teams app package: schema-valid manifest, icons of the right size, clear errors."""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zipfile

import pytest

from bot.cli import run
from bot.manifest import APPMANIFEST, ManifestError, manifest
from tests.cardcheck import _validate

APP_ID = "0b4a3f6e-8d3c-4e1f-9a55-6c1d2e3f4a5b"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_package_validates_against_the_teams_schema_offline(tmp_path, capsys):
    out = tmp_path / "planbot.zip"
    assert run(["manifest", "--app-id", APP_ID, "--domain", "planbot.council.example",
                "--out", str(out)]) == 0
    assert "manifest 1.30" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        archive.extractall(tmp_path / "pkg")
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        status = _validate.validate_manifest(str(tmp_path / "pkg" / "manifest.json"))
    assert status == 0, report.getvalue()
    assert "WARN" not in report.getvalue(), report.getvalue()  # icons found, right sizes
    content = json.loads((tmp_path / "pkg" / "manifest.json").read_text())
    assert content["bots"][0]["botId"] == content["id"] == APP_ID
    assert content["validDomains"] == ["planbot.council.example"]
    assert content["developer"]["privacyUrl"] == "https://planbot.council.example/privacy"
    assert set(content["bots"][0]["scopes"]) == {"personal", "team", "groupChat"}


def test_icons_are_the_sizes_teams_requires():
    assert png_size((APPMANIFEST / "color.png").read_bytes()) == (192, 192)
    assert png_size((APPMANIFEST / "outline.png").read_bytes()) == (32, 32)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"app_id": "not-a-guid", "domain": "x.example"}, "GUID"),
    ({"app_id": APP_ID, "domain": "https://x.example/bot"}, "host name"),
    ({"app_id": APP_ID, "domain": "x.example", "version": "1"}, "1.2.3"),
    ({"app_id": APP_ID, "domain": "x.example", "name": "x" * 31}, "30 characters"),
])
def test_bad_values_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(ManifestError, match=message):
        manifest(**kwargs)


def test_an_unwritable_path_exits_2_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "missing-folder" / "planbot.zip"
    assert run(["manifest", "--app-id", APP_ID, "--domain", "x.example",
                "--out", str(out)]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert not out.parent.exists()


def test_the_package_data_ships_every_manifest_file():
    """`pip install planbot` (not only an editable install) must carry the template and icons."""
    import fnmatch
    import tomllib

    from bot.manifest import APPMANIFEST

    config = tomllib.loads((APPMANIFEST.parent / "pyproject.toml").read_text())["tool"]
    assert "appmanifest" in config["setuptools"]["packages"]["find"]["include"]
    patterns = config["setuptools"]["package-data"]["appmanifest"]
    needed = {"manifest.json", "color.png", "outline.png"}
    assert needed <= {p.name for p in APPMANIFEST.iterdir()}
    for name in needed:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
