"""The card that hands over an export: what it is, and a download button (a signed link)."""

from __future__ import annotations

from cards.common import card, heading, text

FORMAT_NAMES = {"docx": "Board report (Word)", "xlsx": "Plan tracker (Excel)",
                "csv": "Plan tracker (CSV)", "json": "Plan data (JSON)"}


def export_card(*, plan_name: str, fmt: str, filename: str, url: str, as_of: str,
                actions: int, size: int, expires: str) -> dict:
    """Download card: the button opens the signed link in the user's browser."""
    body = [heading(FORMAT_NAMES.get(fmt, fmt)),
            text(f"{plan_name} · as of {as_of}", isSubtle=True, spacing="None"),
            {"type": "FactSet", "spacing": "Medium", "facts": [
                {"title": "File", "value": filename},
                {"title": "Actions", "value": str(actions)},
                {"title": "Size", "value": f"{max(1, round(size / 1024))} KB"},
                {"title": "Link works until", "value": expires}]},
            text("Only people with this link can download the file; it stops working after "
                 "24 hours. Ask again for a fresh copy.", isSubtle=True, size="Small")]
    return card(body, actions=[{"type": "Action.OpenUrl", "title": "Download", "url": url}])
