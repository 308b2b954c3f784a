"""Read a plain-English question into a Query, matched against the plans' own words."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from rapidfuzz import fuzz, process

from dialogs.ask import phrases as ph
from dialogs.ask.query import Query, Vocabulary
from storage.leads import TITLES, is_role, lead_people
from storage.rules import Rag, ref_key

_REFISH = re.compile(
    r"[a-z]{1,5}\d+(?:\.[a-z0-9]+)*|\d+(?:\.[a-z0-9]+)+|\d+(?!st|nd|rd|th)[a-z]{1,2}")
_OBJECTIVE = re.compile(r"([a-z]*\d+)[.\s-]?(?:[a-z]{1,2}|\d{1,3})")
_OBJECTIVE_WORDS = frozenset("objective recommendation requirement priority section".split())
Found = tuple[int, str, frozenset[int], str | None]  # rank, kind, indexes, note
Finder = Callable[[str], Iterable[tuple[Any, int, int]]]


def _key(text: str) -> tuple[str, ...]:
    """The words of a name that matter for matching (no glue words such as "of", "and")."""
    return tuple(word for word, _ in ph.tokens(text) if word not in ph.GLUE)


def _runs(key: tuple[str, ...]) -> Iterable[tuple[str, ...]]:
    """Every run of up to 8 consecutive words of a name."""
    return (key[i:j] for i in range(len(key)) for j in range(i + 1, min(len(key), i + 8) + 1))


def _matches(pattern: re.Pattern[str]) -> Finder:
    return lambda text: ((m, m.start(), m.end()) for m in pattern.finditer(text))


class _Words:
    """The question's words and which of them a rule has already used."""

    def __init__(self, words: list[str]) -> None:
        self.words, self.used = words, [False] * len(words)

    def scan(self, find: Finder) -> list[Any]:
        """What `find` sees in the words not yet used (joined by spaces); marks its words used."""
        free = [i for i, used in enumerate(self.used) if not used]
        starts, pos = [], 0
        for i in free:
            starts.append(pos)
            pos += len(self.words[i]) + 1
        found = []
        for item, start, end in find(" ".join(self.words[i] for i in free)):
            for i in free[bisect_right(starts, start) - 1: bisect_left(starts, end)]:
                self.used[i] = True
            found.append(item)
        return found

    def take(self, first: int, last: int) -> None:
        """Mark words first..last used."""
        self.used[first: last + 1] = [True] * (last + 1 - first)

    def left(self) -> list[str]:
        """Words no rule used, apart from filler."""
        return [w for w, used in zip(self.words, self.used, strict=True) if not used and
                w not in ph.FILLER]


class Matcher:
    """One Vocabulary prepared for fast matching; parse() reads a question."""

    def __init__(self, vocab: Vocabulary) -> None:
        self._refs, self._objectives = {}, {}  # ref key -> refs; objective key -> its refs
        for ref in dict.fromkeys(vocab.refs):
            self._refs.setdefault(ref_key(ref), []).append(ref)
            if found := _OBJECTIVE.fullmatch(ref.strip().lower()):
                self._objectives.setdefault(ref_key(found[1]), []).append(ref)
        self._themes, self._leads, self._plans = (
            list(dict.fromkeys(names)) for names in (vocab.themes, vocab.leads, vocab.plans))
        self._index: dict[tuple[str, ...], list[Found]] = {}
        self._people: dict[tuple[str, ...], set[int]] = {}
        self._by_word: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        common = ph.GENERIC | ph.FILLER | ph.KEYWORDS
        for n, name in enumerate(self._themes):
            for part in _runs(key := _key(name)):
                if len(part) > 1 or part == key or (len(part[0]) >= 5 and part[0] not in common):
                    self._add(part, 2 if part == key else 1, "theme", n)
            for piece in (name, *name.split(",")):  # initials: "LSCB", "VLG", "QoP"
                words = [word for word, _ in ph.tokens(piece)]
                for letters in {"".join(w[0] for w in words),
                                "".join(w[0] for w in words if w not in ph.GLUE)} - {""}:
                    self._add((f"^{letters}",), 1, "theme", n) if len(letters) > 2 else None
        for n, cell in enumerate(self._leads):
            self._index_lead(n, cell)
        self._plan_words = [set(_key(plan)) for plan in self._plans]
        for n, plan in enumerate(self._plans):
            for part in _runs(_key(plan)):
                if set(part) - common:  # "Tameside", "Rochdale notice"; never "children" alone
                    self._add(part, 1, "plan", n)
        known = {word for key in self._index for word in key} | set().union(*self._plan_words)
        self._known = frozenset(known)
        self._choices = sorted(w for w in known | ph.KEYWORDS if len(w) >= 4 and w.isalpha())
        self._fixes: dict[str, str] = {}

    def _add(self, key: tuple[str, ...], rank: int, kind: str, n: int) -> None:
        entries = self._index.setdefault(key, [])
        for i, (old_rank, old_kind, indexes, _) in enumerate(entries):
            if (old_kind, old_rank) == (kind, rank):
                entries[i] = (rank, kind, indexes | {n}, None)
                return
        entries.append((rank, kind, frozenset({n}), None))

    def _index_lead(self, n: int, cell: str) -> None:
        self._add(_key(cell), 3, "lead", n)
        for name in lead_people(cell):  # "S. Rawlinson/S Jackson": each person on their own
            if not (key := _key(name)):
                continue
            self._add(key, 3, "lead", n)
            if len(key) > 2 and key[0] in ph.ROLE_HEADS and is_role(name):
                self._add(key[1:], 0, "lead", n)  # "virtual school": Head of Virtual School
            if len(key) < 2 or is_role(name):
                continue
            self._people.setdefault(key, set()).add(n)
            given = [word for word in key[:-1] if word not in TITLES]
            keys = [("last", key[-1])]
            keys += [("first", given[0])] if given and len(given[0]) > 1 else []
            keys += [("initials", "".join(w[0] for w in given) + key[-1][0])] if given else []
            for word_key in keys:
                self._by_word.setdefault(word_key, set()).add(key)

    def _correct(self, word: str) -> str:
        """A misspelt word as the plan word or keyword it is closest to ("Quallity" -> quality)."""
        if len(word) < 4 or not word.isalpha() or word in ph.FILLER or word in ph.KEYWORDS or \
                word in self._known:
            return word
        if word not in self._fixes:
            best = process.extractOne(word, self._choices, scorer=fuzz.ratio,
                                      score_cutoff=88 if len(word) < 6 else 83)
            self._fixes = self._fixes if len(self._fixes) < 20_000 else {}
            self._fixes[word] = best[0] if best else word
        return self._fixes[word]

    def _people_found(self, people: set[tuple[str, ...]], said: str) -> list[Found]:
        cells = frozenset(n for person in people for n in self._people[person])
        firsts = {person[0][0] for person in people if person[0] not in TITLES}
        names = ", ".join(self._leads[n] for n in sorted(cells))
        note = f"'{said}' could be more than one lead ({names})" if len(
            {person[-1] for person in people}) > 1 or len(firsts) > 1 else None
        return [(0, "lead", cells, note)] if cells else []

    def _lookup(self, key: tuple[str, ...], upper: bool) -> list[Found]:
        """What a run of question words names: leads, themes or plans."""
        if key in self._index:
            return self._index[key]
        if len(key) == 2:  # "David Copley" is D Copley; "S Jackson" is not Sarah Henry
            first = key[0]
            people = {p for p in self._by_word.get(("last", key[1]), ()) if p[0] in TITLES or (
                p[0][0] == first[0] and (len(first) == 1 or len(p[0]) == 1 or p[0] == first))}
            return self._people_found(people, " ".join(key))
        word = key[0]
        if len(key) > 2 or word in ph.FILLER or word in ph.KEYWORDS or word.isdigit():
            return []
        if upper:
            return self._index.get((f"^{word}",), []) + self._people_found(
                self._by_word.get(("initials", word), set()), word)
        return self._people_found(self._by_word.get(("first", word), set()) |
                                  self._by_word.get(("last", word), set()), word)

    def _refs_in(self, words: _Words) -> tuple[list[str], list[str]]:
        found, missing = [], []
        for i, word in enumerate(words.words):
            if words.used[i] or not any(c.isdigit() for c in word):
                continue
            key, named = ref_key(word), i > 0 and words.words[i - 1] in _OBJECTIVE_WORDS
            hits = self._refs.get(key)
            if hits is None and (named or not key.isdigit()):  # "CS18003", "recommendation 3"
                hits = self._objectives.get(key)
            if hits or _REFISH.fullmatch(word):
                found.extend(hits or [])
                missing.extend([] if hits else [word])
                words.take(i - named, i)
        return list(dict.fromkeys(found)), missing

    def _entities(self, words: _Words, upper: list[bool], notes: list[str]) -> dict[str, Any]:
        pos = [i for i, w in enumerate(words.words) if not words.used[i] and w not in ph.GLUE]
        seq = [words.words[i] for i in pos]
        candidates = []
        for j in range(len(seq)):
            for size in range(min(8, len(seq) - j), 0, -1):
                if found := self._lookup(tuple(seq[j: j + size]), upper[pos[j]]):
                    first, last = pos[j], pos[j + size - 1]
                    candidates.extend((last - first, rank, first, last, kind, indexes, note)
                                      for rank, kind, indexes, note in found)
                    break
        candidates.sort(key=lambda c: (-c[0], -c[1], c[2]))  # widest, then best, then first
        taken: list[tuple[int, int]] = []
        picked: dict[str, set[int]] = {"lead": set(), "theme": set()}
        votes: Counter[int] = Counter()
        for *_, first, last, kind, indexes, note in candidates:
            if any(t != (first, last) and first <= t[1] and t[0] <= last for t in taken):
                continue
            taken.append((first, last))
            words.take(first, last)
            votes.update(indexes) if kind == "plan" else picked[kind].update(indexes)
            notes.extend([note] if note else [])
        return {"leads": [self._leads[n] for n in sorted(picked["lead"])],
                "themes": [self._themes[n] for n in sorted(picked["theme"])],
                "plan": self._plan(votes, words, notes)}

    def _plan(self, votes: Counter[int], words: _Words, notes: list[str]) -> str | None:
        if not votes:
            return None
        rest = set(words.left())  # "Rochdale council plan": "council" tells the two apart
        score = {n: (count, len(rest & self._plan_words[n])) for n, count in votes.items()}
        best = max(score.values())
        winners = sorted(n for n, value in score.items() if value == best)
        if len(winners) > 1:
            notes.append(f"which plan: {', '.join(self._plans[n] for n in winners)}?")
            return None
        for i, word in enumerate(words.words):
            words.used[i] = words.used[i] or word in self._plan_words[winners[0]]
        return self._plans[winners[0]]

    def parse(self, text: str, *, today: date) -> Query:
        """The Query a question asks; intent 'unknown' with a note when nothing could be read."""
        try:
            return self._parse(text, today)
        except Exception:  # a question must never break the bot
            return Query(intent="unknown", text=ph.clean(text) if isinstance(text, str) else "",
                         note="I could not read that question.")

    def _parse(self, text: str, today: date) -> Query:
        cleaned = ph.clean(text)
        toks = ph.tokens(cleaned)[:400]
        words = _Words([self._correct(word) for word, _ in toks])
        facts: list[ph.TimeFact] = words.scan(
            lambda s: ((f, f.start, f.end) for f in ph.read_time(s, today)))
        flags, rags, went = set[str](), set[Rag](), set[Rag]()
        for name, pattern in ph.PRE_PHRASES:
            for m in words.scan(_matches(pattern)):
                flags.add(name)
                went.update(ph.RAG_WORDS[w] for w in (m["rags"] if name == "went" else "")
                            .split() if w in ph.RAG_WORDS)
        refs, missing = self._refs_in(words)
        notes: list[str] = []
        found = self._entities(words, [upper for _, upper in toks], notes)
        for name, pattern in ph.POST_PHRASES:
            flags.update(name for _ in words.scan(_matches(pattern)))
        for i, word in enumerate(words.words):
            if not words.used[i] and word in ph.RAG_WORDS:
                rags.add(ph.RAG_WORDS[word])
                words.used[i] = True
        rags |= {Rag.RED, Rag.AMBER} if "at_risk" in flags else set()
        rags |= {Rag.GREEN} if "on_track" in flags else set()
        fields = ph.date_fields(facts, flags, today)
        listing = bool(rags or flags & {"mine", "overdue", "open", "no_rag"} or found["leads"] or
                       found["themes"] or fields["due_from"] or fields["due_to"])
        if refs or missing:
            intent = "show" if refs else "unknown"
        elif fields["stale_days"] or fields["changed_since"]:
            intent = "not_updated" if fields["stale_days"] else "changes"
        elif "summary" in flags or listing:
            intent = "summary" if "summary" in flags else "list"
        elif "help" in flags or (not toks and "?" in cleaned):
            intent = "help"
        else:
            intent = "summary" if found["plan"] else "unknown"
        notes.extend([f"no action with ref {', '.join(missing[:5])}"] if missing else [])
        if left := [word[:30] for word in words.left()]:
            notes.append(("not understood: " if intent == "unknown" else "ignored: ") +
                         " ".join(left[:8]))
        elif intent == "unknown" and not notes:
            notes.append("nothing in it to look for" if cleaned else "no question found")
        return Query(
            intent=intent, text=cleaned, refs=refs, rags=[r for r in Rag if r in rags],
            went_to=[r for r in Rag if r in went], no_rag="no_rag" in flags,
            open_only="open" in flags, overdue="overdue" in flags, mine="mine" in flags,
            worse="worse" in flags, better="better" in flags, note="; ".join(notes) or None,
            **found, **fields)


_MATCHERS: dict[tuple[tuple[str, ...], ...], Matcher] = {}


def matcher_for(vocab: Vocabulary) -> Matcher:
    """The Matcher for a vocabulary, built once and kept (a few vocabularies at most)."""
    key = (tuple(vocab.plans), tuple(vocab.themes), tuple(vocab.leads), tuple(vocab.refs))
    if key not in _MATCHERS:
        _MATCHERS.clear() if len(_MATCHERS) >= 8 else None
        _MATCHERS[key] = Matcher(vocab)
    return _MATCHERS[key]


def parse(text: str, vocab: Vocabulary, *, today: date) -> Query:
    """The Query a question asks, matched against the vocabulary, dates relative to `today`."""
    return matcher_for(vocab).parse(text, today=today)
