"""Refs in plan cells: the leading ref of an action ("1a.", "1.dAppoint", "CS18001.A"), the
objective a ref belongs to ("3a" -> "3"), and cells that hold several actions ("12a… 12b…").
"""

from __future__ import annotations

import html
import re

from storage.rules import clean_text, ref_key

_LEADING = re.compile(
    r"""
    (?:[■•▪●◦*\-–]\s*)?
    (?P<ref>
        [A-Z]{1,6}\d{2,}(?:\.[A-Za-z0-9]{1,3}(?![a-z0-9]))*     # CS18001.A
      | [A-Z]{1,6}\d(?:\.[A-Za-z0-9]{1,3}(?![a-z0-9]))+         # A1.2
      | \d{1,3}(?:\.\d{1,3})+(?![0-9])(?:[a-z](?![a-z]))?      # 1.1, 1.10, 1.2a
      | \d{1,3}\.?[a-z](?![a-z])                               # 1a, 1.d, 24b
      | \d{1,3}(?=[.)])                                        # 1. 1)
      | \(?[a-z]\)                                             # a) (a)
      | [a-z](?=\.\s)                                          # a.
    )
    (?P<sep>[.):]*)
    """,
    re.VERBOSE,
)
_OBJECTIVE = re.compile(
    r"(?P<ref>[A-Z]{1,6}\d+(?:\.\d+)*|\d{1,3}(?:\.\d{1,3})*)(?P<sep>[.):]+\s*|\s+)(?P<rest>\S.*)",
    re.DOTALL,
)
_BLOCK_TAG = re.compile(r"(?i)<\s*/?\s*(p|br|div|li|ul|ol|tr)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")


def _plain(cell: object) -> str:
    """Cell text with HTML removed but line breaks kept, so cell structure still shows."""
    text = _BLOCK_TAG.sub("\n", str(cell or ""))
    return html.unescape(_TAG.sub(" ", text)).replace("\xa0", " ").replace("\r", "\n")


def normalise_ref(raw: str) -> str:
    """A ref for display: "1.d" -> "1d", "(a)" -> "a", "3.1." -> "3.1"; others as written."""
    ref = raw.strip().strip("().:")
    match = re.fullmatch(r"(\d+)\.([A-Za-z])", ref)
    return match[1] + match[2] if match else ref


def leading_ref(text: object) -> tuple[str, str] | None:
    """(ref as written, rest of the text) when the text starts with a ref, else None."""
    plain = _plain(text).lstrip()
    match = _LEADING.match(plain)
    if not match:
        return None
    rest = plain[match.end():]
    if rest[:1].islower() and not match["sep"] and not rest[:1].isspace():
        return None
    return match["ref"], rest


def objective_of(ref: str | None) -> str | None:
    """The objective ref an action ref sits under: "3a" -> "3", "CS18001.A" -> "CS18001"."""
    if not ref:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)*)\.?([A-Za-z])", ref)
    if match:
        return match[1]
    match = re.fullmatch(r"(.+)\.([A-Za-z0-9]+)", ref)
    return match[1] if match else None


def _is_boundary(before: str) -> bool:
    """True when a ref after this text starts a new action rather than being cited in prose."""
    if not before.strip():
        return True
    if before.endswith(("  ", "\t")) or before.rstrip(" \t").endswith("\n"):
        return True
    return before.rstrip()[-1:] in ".;:!?)"


def split_actions(cell: object) -> list[tuple[str, str, str]]:
    """The actions in one cell as (ref as written, ref, text); one ("", "", text) if no ref."""
    plain = _plain(cell).strip()
    if not plain:
        return []
    first = leading_ref(plain)
    if first is None:
        return [("", "", clean_text(plain))]
    written, _ = first
    ref = normalise_ref(written)
    starts = [(0, written)]
    parts = re.fullmatch(r"(\d{1,3})\.?([a-z])", ref)
    if parts:
        number, last = parts[1], parts[2]
        for match in re.finditer(rf"(?<![\w.]){number}\.?([a-z])(?![a-z])", plain):
            if match.start() > 0 and match[1] > last and _is_boundary(plain[: match.start()]):
                starts.append((match.start(), match[0]))
                last = match[1]
    actions: list[tuple[str, str, str]] = []
    for position, (start, token) in enumerate(starts):
        end = starts[position + 1][0] if position + 1 < len(starts) else len(plain)
        chunk = plain[start:end].lstrip()
        found = leading_ref(chunk)
        rest = found[1] if found else chunk[len(token):]
        actions.append((token, normalise_ref(token), clean_text(rest)))
    return actions


def parse_objective(cell: object, hint: str | None = None) -> tuple[str | None, str]:
    """(ref, text) of an objective cell such as "3. Review…", "CS18001 Deliver…" or plain text.

    A bare leading number ("3 Review…") counts as a ref only when it matches the hint (the
    objective the row's action ref points to), so text that starts with a number stays text.
    """
    text = clean_text(cell)
    bare = re.fullmatch(r"([A-Z]{1,6}\d+(?:\.\d+)*|\d{1,3}(?:\.\d{1,3})*)[.):]*", text)
    if bare:
        return bare[1], ""
    match = _OBJECTIVE.fullmatch(text)
    if match:
        ref, sep = match["ref"], match["sep"].strip()
        coded = ref[0].isalpha() and sum(ch.isdigit() for ch in ref) >= 2
        if sep or "." in ref or coded or (hint and ref_key(ref) == ref_key(hint)):
            return ref, match["rest"].strip()
    return None, text
