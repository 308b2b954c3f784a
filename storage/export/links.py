"""Download links for exports made in chat: a random token, an expiry and an HMAC signature.

A link works for one file only, until it expires (24 hours); a tampered, expired or unknown link
gets 403, and there is no listing. The signing key is shared by every replica (settings)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ExportFile

TTL = timedelta(hours=24)


@dataclass(frozen=True)
class DownloadLinks:
    """Signs and checks /exports/{token}/{filename}?expires=...&sig=... links."""

    key: bytes = field(repr=False)  # never in a log line (Deps and its repr hold this object)
    base_url: str  # the bot's public address, e.g. https://planbot.council.gov.uk
    ttl: timedelta = TTL

    def _signature(self, token: str, filename: str, expires: int) -> str:
        message = f"{token}\n{filename}\n{expires}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def url(self, token: str, filename: str, expires_at: datetime) -> str:
        expires = int(expires_at.timestamp())
        return (f"{self.base_url.rstrip('/')}/exports/{token}/{quote(filename)}"
                f"?expires={expires}&sig={self._signature(token, filename, expires)}")

    def valid(self, token: str, filename: str, expires: str, signature: str,
              now: datetime) -> bool:
        """True when the signature is ours for exactly this file and the link has not expired."""
        try:
            when = int(expires)
        except (TypeError, ValueError):
            return False
        expected = self._signature(token, filename, when)
        return hmac.compare_digest(expected, signature or "") and now.timestamp() < when


async def save_export(*, session: AsyncSession, plan_id: int, fmt: str, filename: str,
                      media_type: str, content: bytes, as_of: date, by: str | None,
                      now: datetime, ttl: timedelta = TTL) -> ExportFile:
    """Keep an export for download until it expires; expired ones are removed on the way."""
    await session.execute(delete(ExportFile).where(ExportFile.expires_at <= now))
    row = ExportFile(token=secrets.token_urlsafe(24), plan_id=plan_id, format=fmt,
                     filename=filename, media_type=media_type, content=content, as_of=as_of,
                     created_by=by, created_at=now, expires_at=now + ttl)
    session.add(row)
    await session.flush()
    return row


async def find_export(*, session: AsyncSession, token: str, filename: str,
                      now: datetime) -> ExportFile | None:
    """The stored export with this token and file name, if it has not expired."""
    row = (await session.execute(select(ExportFile).where(ExportFile.token == token))).scalar()
    if row is None or row.filename != filename or row.expires_at <= now:
        return None
    return row
