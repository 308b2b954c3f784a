"""The structured form of a question (what parse.py produces and answer.py runs), the vocabulary
it is read against, and the word bookkeeping and objective-title index the parser uses."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from itertools import accumulate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz, process

from dialogs.ask import phrases as ph
from storage.rules import Rag

Intent = Literal[
    "list",  # actions matching the filters ("what's red in Quality of Practice?")
    "show",  # one or more actions in full, with history ("show 2.4")
    "changes",  # what changed / went red / got worse since a date
    "summary",  # RAG counts by theme ("how are we doing?")
    "not_updated",  # who hasn't updated / no update for N weeks
    "help",
    "unknown",
]


class Vocabulary(BaseModel):
    """What the parser may match words against: the plans' own names, themes, leads and refs."""

    plans: list[str] = []
    themes: list[str] = []  # theme names as stored
    leads: list[str] = []  # individual lead names as written ("Karen Dolton", "SH", "DMT")
    refs: list[str] = []  # action refs as stored ("3a", "CS18001.A", "2.4")
    objectives: dict[str, str] = {}  # objective ref -> its text ("CS18011": "Improve workforce…")


class Query(BaseModel):
    """A question as filters and an intent. Empty filters mean 'any'."""

    model_config = ConfigDict(extra="forbid")

    intent: Intent
    text: str = ""
    plan: str | None = None  # plan name as stored
    rags: list[Rag] = Field(default_factory=list)  # any of these current RAGs
    no_rag: bool = False  # actions with no RAG yet
    no_due: bool = False  # actions with no due date ("Ongoing", blank)
    themes: list[str] = Field(default_factory=list)  # theme names as stored
    leads: list[str] = Field(default_factory=list)  # lead names as in the Vocabulary
    mine: bool = False  # the asker's own actions
    refs: list[str] = Field(default_factory=list)  # refs as stored
    overdue: bool = False  # due before today and not Blue
    due_from: date | None = None  # due on or after
    due_to: date | None = None  # due on or before
    changed_since: date | None = None  # an update on or after this day
    went_to: list[Rag] = Field(default_factory=list)  # changed to one of these since
    worse: bool = False  # rating change "down" since changed_since
    better: bool = False  # rating change "up" since changed_since
    stale_days: int | None = None  # no update for at least this many days
    open_only: bool = False  # not Blue ("what's outstanding")
    note: str | None = None  # what the parser could not use, for a helpful reply


# Words that say what an objective does, not what it is about ("Implement the Ofsted Action Plan").
_VERBS = frozenset("""implement implementation implementing implemented develop development
    developing improve improvement improving deliver ensure continue continued continuing embed
    review provide promote increase undertake strengthen make objective objectives recommendation
    recommendations requirement requirements""".split())
_NOT_TOPIC = ph.FILLER | ph.KEYWORDS | _VERBS


def _stem(word: str) -> str:  # "services" is "service", "reforms" "reform"; not "readiness"
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def _content(words: Iterable[str]) -> frozenset[str]:  # what a text is about, as stems
    return frozenset(_stem(w) for w in words if len(w) > 2 and w.isalpha() and w not in _NOT_TOPIC)


_WEAK = frozenset(map(_stem, ph.GENERIC))  # "service" is never enough on its own


class Titles:
    """A Vocabulary's objectives by the content words of their text ("youth service objective")."""

    def __init__(self, objectives: dict[str, str], actions: Callable[[str], list[str]]) -> None:
        self.refs: dict[frozenset[str], list[str]] = {}  # title words -> action refs under it
        for ref, text in objectives.items():  # (Manchester has one text twice)
            self.refs.setdefault(_content(ph.words(text)), []).extend(actions(ref))
        self.sets = [title for title, refs in self.refs.items() if title and refs]
        seen = Counter(word for title in self.sets for word in title)
        self.rare = {word for word, n in seen.items() if n <= 2 and word not in _WEAK}
        self.words, self._hits = frozenset(seen), dict[str, frozenset[str]]()
        self._sorted = sorted(seen)

    def hits(self, word: str) -> frozenset[str]:
        """The title words a question word is: itself, or what it misspells if long enough."""
        if word not in self._hits:
            self._hits = self._hits if len(self._hits) < 20_000 else {}
            close = process.extract(word, self._sorted, scorer=fuzz.ratio, score_cutoff=84,
                                    limit=3) if len(word) >= 7 else []
            self._hits[word] = frozenset([hit for hit, *_ in close] + [word] * (word in self.words))
        return self._hits[word]

    def scope(self, words: list[str], used: list[bool]) -> list[str]:
        """The action refs of the one objective the unused words name; marks those words used."""
        asked = _content(w for w, done in zip(words, used, strict=True) if not done)
        found = []
        for title in self.sets:
            said = {w for w in asked if self.hits(w) & title}
            rare = self.rare & title & {hit for w in said for hit in self.hits(w)}
            if rare and 2 * len(said) >= len(asked) and (  # "ofsted" alone names a short title
                    len(said) > 1 or 2 * len(rare) >= len(title)):
                found.append((len(said), title, said))
        found.sort(key=lambda item: -item[0])
        if not found or len(found) > 1 and found[1][0] == found[0][0]:
            return []  # nothing, or two objectives as good as each other
        for i, word in enumerate(words):
            used[i] = used[i] or _stem(word) in found[0][2] or word in _VERBS  # "objective"
        return list(dict.fromkeys(self.refs[found[0][1]]))


class Words:
    """The question's words and which of them a rule has already used."""

    def __init__(self, words: list[str]) -> None:
        self.words, self.used = words, [False] * len(words)
        self._free: tuple[tuple[bool, ...], list[int], list[int], str] | None = None

    def _unused(self) -> tuple[list[int], list[int], str]:
        """The unused words' indexes, where each starts in their joined text, and that text
        (kept while no word is used: most phrases of a table match nothing)."""
        key = tuple(self.used)
        if self._free is None or self._free[0] != key:
            free = [i for i, used in enumerate(self.used) if not used]
            starts = list(accumulate((len(self.words[i]) + 1 for i in free), initial=0))
            self._free = (key, free, starts, " ".join(self.words[i] for i in free))
        return self._free[1:]

    def finds(self, pattern: re.Pattern[str]) -> bool:
        """True when the pattern matches the words not yet used, joined (none are marked)."""
        return pattern.search(self._unused()[2]) is not None

    def scan(self, find: re.Pattern[str] | Callable[[str], list[ph.TimeFact]]) -> list[Any]:
        """Matches (or date phrases) in the words not yet used, joined; marks their words used."""
        free, starts, text = self._unused()
        found = []
        for item, start, end in ([(m, m.start(), m.end()) for m in find.finditer(text)] if
                                 isinstance(find, re.Pattern) else
                                 [(f, f.start, f.end) for f in find(text)]):
            for i in free[bisect_right(starts, start) - 1: bisect_left(starts, end)]:
                self.used[i] = True
            found.append(item)
        return found

    def take(self, first: int, last: int) -> None:  # mark words first..last used
        self.used[first: last + 1] = [True] * (last + 1 - first)

    def left(self) -> list[str]:  # words no rule used, apart from filler
        return [w for w, used in zip(self.words, self.used, strict=True) if not used and
                w not in ph.FILLER]
