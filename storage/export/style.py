"""How a RAG looks in every export (tracker cells, the board report's tables and chart)."""

from __future__ import annotations

from storage.rules import parse_rag

# rag -> (word, fill, text colour) as RRGGBB; "none" = not rated. The word is always written
# beside or on the colour (colour-blind readers, black-and-white printing).
RAG_LOOK = {
    "red": ("Red", "C00000", "FFFFFF"),
    "amber": ("Amber", "FFC000", "000000"),
    "green": ("Green", "00B050", "000000"),
    "blue": ("Blue", "0070C0", "FFFFFF"),
    "none": ("Not rated", "D9D9D9", "000000"),
}


def rag_key(rag: str | None) -> str:
    """The RAG_LOOK key of a rating: red / amber / green / blue, or "none" for no (or an
    unknown) rating."""
    parsed = parse_rag(rag)
    return parsed.value if parsed else "none"
