"""Plan leads as written: split cells into people, tell job titles from names, suggest a person.

Pure functions, no I/O. A lead is compared with a roster of (id, display name, email, aliases).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz import fuzz

from storage.rules import split_lead_names

Roster = list[tuple[int, str, str | None, str]]  # (person id, display name, email, aliases)

TITLES = frozenset(
    "mr mrs ms miss mx dr prof professor cllr councillor sir dame rev revd lord lady supt "
    "superintendent chief ch insp inspector sgt sergeant det detective dci dsupt pc".split())
ROLE_WORDS = frozenset(
    "ad dcs dmt slt smt ceo cx director directors directorate head heads chair member members "
    "manager managers officer officers lead leader board team teams service services of and "
    "assistant deputy executive childrens children adults education care social send "
    "performance commissioning improvement audit school schools workforce development quality "
    "assurance qa safeguarding partnership hr finance legal principal senior panel committee "
    "unit virtual department council cabinet portfolio holder group lac cin cp mash iro lado "
    "yos yot cse sen ehcp camhs ofsted nhs ccg icb lscb lscp".split())
_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018`")
_SENTENCE = re.compile(r"(?<=[A-Za-z]{2})\.\s+(?=[A-Z])")
_QUALIFIER = re.compile(r"\s+(?:for|-|\u2013)\s+.*$", re.IGNORECASE | re.DOTALL)


def normalise(name: str) -> str:
    """Compare names without case, accents, punctuation or extra spaces: "D.Copley" = "d copley"."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower().translate(_APOSTROPHES)).split())


def is_role(lead: str) -> bool:
    """True when a lead is a job title or body ("AD Children's Social Care", "DMT")."""
    return any(word in ROLE_WORDS for word in normalise(lead).split())


def _looks_like_a_name(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 3 and all(w[:1].isupper() for w in words) and not is_role(text)


def lead_people(cell: str) -> list[str]:
    """The individual leads in one lead cell ("Kerry Mehta for X. Jancie Schofield for Y")."""
    found: dict[str, str] = {}
    for part in split_lead_names(cell):
        pieces: list[str] = []
        for piece in _SENTENCE.split(part):
            if pieces and normalise(pieces[-1]) in TITLES:
                piece = f"{pieces.pop()}. {piece}"
            pieces.append(piece)
        for piece in pieces:
            piece = _QUALIFIER.sub("", re.sub(r"\([^)]*\)", " ", piece)).strip(" .,;:")
            names = re.split(r"\s+and\s+", piece)
            if len(names) < 2 or not all(_looks_like_a_name(name) for name in names):
                names = [piece]
            for name in names:
                found.setdefault(normalise(name), " ".join(name.split()))
    return [name for key, name in found.items() if key]


@dataclass(frozen=True)
class Suggestion:
    """The best person for a lead; `matches` holds everyone who scored as well."""

    lead: str
    person_id: int
    display_name: str
    confidence: int  # 0-100
    exact: bool  # name, email or alias equal, ignoring case, punctuation and spacing
    how: str
    matches: tuple[int, ...]

    @property
    def ambiguous(self) -> bool:
        """More than one person matches equally well."""
        return len(self.matches) > 1

    @property
    def auto_linkable(self) -> bool:
        """Exact and unambiguous: safe to link without asking."""
        return self.exact and not self.ambiguous


def _name_tokens(display_name: str) -> list[str]:
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", display_name or "")
    if text.count(",") == 1:  # "Rawlinson, Steve" as directories write it
        surname, given = text.split(",")
        text = f"{given} {surname}"
    tokens = normalise(text).split()
    return [t for t in tokens if t not in TITLES] if len(tokens) > 1 else tokens


def _person_names(name: str, email: str | None) -> list[list[str]]:
    names = [_name_tokens(name)]
    local = (email or "").partition("@")[0]
    if re.search(r"[._]", local):
        names.append(normalise(re.sub(r"\d+", "", local)).split())
    return [tokens for tokens in names if tokens]


def _score_name(lead: str, tokens: list[str], person: list[str]) -> tuple[int, str]:
    if tokens == person:
        return 100, "name"
    raw = lead.strip()
    if len(tokens) == 1 and raw.isalpha() and raw.isupper() and 2 <= len(raw) <= 4:
        initials = {"".join(t[0] for t in person), person[0][0] + person[-1][0]}
        return (75, "initials") if tokens[0] in initials else (0, "")
    count = next((i for i, t in enumerate(tokens) if len(t) > 1), len(tokens))
    initials, rest = tokens[:count], tokens[count:]
    if rest and len(person) > len(rest):
        head, tail = person[:-len(rest)], person[-len(rest):]
        if not initials and tail == rest:
            return 70, "surname"
        if initials and len(initials) <= len(head) and all(
                word[0] == letter for word, letter in zip(head, initials, strict=False)):
            if tail == rest:
                return 90, "initial and surname"
            if fuzz.ratio(" ".join(tail), " ".join(rest)) >= 80:
                return 80, "initial and surname"
    if len(tokens) >= 2 and len(person) >= 2 and not initials:
        whole = fuzz.token_sort_ratio(" ".join(tokens), " ".join(person))
        if fuzz.ratio(tokens[-1], person[-1]) >= 80 and whole >= 85:
            return int(whole) - 5, "similar name"
        if tokens[0] == person[0] and tokens[-1] == person[-1] and set(tokens) <= set(person):
            return 85, "part of name"
    return 0, ""


def _score(lead: str, key: str, name: str, email: str | None, aliases: str) -> tuple[int, str]:
    if key in {normalise(alias) for alias in aliases.split("|") if alias.strip()}:
        return 100, "alias"
    if email and key == normalise(email):
        return 100, "email"
    if key == normalise(name):
        return 100, "name"
    if is_role(lead):
        return 0, ""
    tokens = [t for t in key.split() if t not in TITLES] or key.split()
    best = (0, "")
    for number, person in enumerate(_person_names(name, email)):
        score, how = _score_name(lead, tokens, person)
        if score == 100 and (number or tokens != key.split()):
            score, how = 95, ("name without title" if number == 0 else "email name")
        best = max(best, (score, how))
    return best


def suggest(lead: str, people: Roster, *, threshold: int = 60) -> Suggestion | None:
    """The person a lead most likely means, with a confidence 0-100; None below the threshold."""
    key = normalise(lead)
    if not key:
        return None
    scored = [(*_score(lead, key, name, email, aliases), pid, name)
              for pid, name, email, aliases in people]
    best = max((row[0] for row in scored), default=0)
    if best < threshold:
        return None
    top = [row for row in scored if row[0] == best]
    score, how, person_id, name = top[0]
    return Suggestion(lead=lead, person_id=person_id, display_name=name, confidence=score,
                      exact=score == 100, how=how, matches=tuple(row[2] for row in top))
