"""GET /exports/{token}/{filename}: an export made in chat, at a signed link (no botbuilder)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from dialogs.context import Clock
from storage.db import session_factory
from storage.export.links import DownloadLinks, find_export

FORBIDDEN = "This download link is not valid or has expired. Ask planbot for the file again."


def download_handler(engine: AsyncEngine, links: DownloadLinks, clock: Clock):
    """The route handler: 403 for anything but a valid, unexpired link to an existing file."""
    sessions = session_factory(engine)

    async def download(request: web.Request) -> web.StreamResponse:
        token, filename = request.match_info["token"], request.match_info["filename"]
        now = clock()
        if not links.valid(token, filename, request.query.get("expires", ""),
                           request.query.get("sig", ""), now):
            raise web.HTTPForbidden(text=FORBIDDEN)
        async with sessions() as session:
            row = await find_export(session=session, token=token, filename=filename, now=now)
        if row is None:
            raise web.HTTPForbidden(text=FORBIDDEN)
        ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
        textual = row.media_type.startswith(("text/", "application/json"))
        headers = {"Content-Disposition": f'attachment; filename="{ascii_name}"',
                   "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                   "Referrer-Policy": "no-referrer"}
        return web.Response(body=row.content, content_type=row.media_type.split(";")[0],
                            charset="utf-8" if textual else None, headers=headers)

    return download
