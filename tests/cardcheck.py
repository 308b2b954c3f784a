"""Validate Adaptive Cards against the official 1.5 schema with ../shared/tools/validate.py."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import tempfile
from pathlib import Path

from tests.truthcheck import SHARED

_VALIDATOR = SHARED / "tools" / "validate.py"


def _module():
    spec = importlib.util.spec_from_file_location("shared_validate", _VALIDATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_validate = _module()


def assert_valid_card(card: dict) -> None:
    """Fail with the validator's report unless the card is valid Adaptive Card 1.5 for Teams."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "card.json"
        path.write_text(json.dumps(card), encoding="utf-8")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            status = _validate.validate_card(str(path))
    report = output.getvalue()
    assert status == 0, report
    assert "WARN  card alone is over 80 KB" not in report, report
