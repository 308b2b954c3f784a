"""The Teams app package: appmanifest/manifest.json with its placeholders filled, and the icons."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import appmanifest

# A package (appmanifest/__init__.py) so that a wheel install carries the template and icons.
APPMANIFEST = Path(appmanifest.__file__).resolve().parent
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_HOST = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
                   re.I)
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class ManifestError(ValueError):
    """A value that cannot go into the manifest; the message says which and why."""


def manifest(*, app_id: str, domain: str, name: str = "planbot", version: str = "0.1.0",
             developer_name: str | None = None, developer_url: str | None = None,
             privacy_url: str | None = None, terms_url: str | None = None) -> dict:
    """The manifest with every placeholder filled, checked before it is written."""
    if not _GUID.match(app_id or ""):
        raise ManifestError(f"--app-id must be the bot's Microsoft App ID (a GUID), "
                            f"not {app_id!r}")
    if not _HOST.match(domain or ""):
        raise ManifestError(f"--domain must be a host name such as planbot.council.gov.uk "
                            f"(no https://, no path), not {domain!r}")
    if not _VERSION.match(version):
        raise ManifestError(f"--version must look like 1.2.3, not {version!r}")
    if not 1 <= len(name) <= 30:
        raise ManifestError("--name must be 1 to 30 characters (Teams' short-name limit)")
    site = f"https://{domain}"
    values = {
        "APP_ID": app_id.lower(), "DOMAIN": domain, "APP_NAME": name, "VERSION": version,
        "DEVELOPER_NAME": developer_name or name, "DEVELOPER_URL": developer_url or site,
        "PRIVACY_URL": privacy_url or f"{site}/privacy", "TERMS_URL": terms_url or f"{site}/terms",
    }
    text = (APPMANIFEST / "manifest.json").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("${{" + key + "}}", json.dumps(value)[1:-1])
    if "${{" in text:
        raise ManifestError("appmanifest/manifest.json has a placeholder nothing fills")
    return json.loads(text)


def package(content: dict) -> bytes:
    """The .zip Teams admins upload: manifest.json, color.png and outline.png at its root."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(content, indent=2, ensure_ascii=False))
        for icon in ("color.png", "outline.png"):
            archive.write(APPMANIFEST / icon, icon)
    return buffer.getvalue()
