"""Read a plain-English question into a Query, matched against the plans' own words."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import date
from functools import lru_cache, partial
from typing import Any

from rapidfuzz import fuzz, process

from dialogs.ask import phrases as ph
from dialogs.ask.query import Query, Titles, Vocabulary, Words
from storage.leads import TITLES, is_role, lead_people
from storage.rules import Rag, ref_key

_REF = re.compile(r"[a-z]{1,5}\d+(?:\.[a-z0-9]+)*|\d+(?:\.[a-z0-9]+)+|\d+(?!st|nd|rd|th)[a-z]{1,2}")
_OBJECTIVE = re.compile(r"([a-z]*\d+)[.\s-]?(?:[a-z]{1,2}|\d{1,3})")
_OBJECTIVE_WORD = re.compile(r"objectives?|recommendations?|recs?|requirements?|priority|section")
_FIELDS = ("plans", "themes", "leads", "refs", "objectives")
_NOT_NAMES = ph.FILLER | ph.KEYWORDS  # "for December" names a month, not a person
_LEAD_CONTEXT = frozenset("for by to owns owner led lead leads".split())
Found = tuple[int, str, frozenset[int], str | None]  # rank, kind, indexes, note


def _key(text: str) -> tuple[str, ...]:  # the words of a name that matter ("of" does not)
    return tuple(word for word, _ in ph.tokens(text) if word not in ph.GLUE)


def _shape(ref: str) -> str:  # "27a" looks like "26a" (9a), "h8" like no Manchester ref (a9)
    return re.sub(r"[a-z]+", "a", re.sub(r"\d+", "9", ref.strip().lower()))


def refs_under(refs: Iterable[str], objectives: Iterable[str]) -> dict[str, list[str]]:
    """Each objective's action refs (CS18005: .A-.D; 23: not 2.3; objective 1.1 holds action
    1.1, not 1.10), in one pass over the refs: every prefix of a ref that is an objective's ref
    and is not followed by a digit files the ref under that objective. Time grows with refs +
    objectives, not refs x objectives."""
    heads = {objective.strip().lower() for objective in objectives}
    found: dict[str, list[str]] = {}
    latest = {ref.strip().lower(): ref for ref in refs}  # as _under's dict: the last spelling
    for low, ref in latest.items():
        for end in range(1, len(low) + 1):
            if (end == len(low) or not low[end].isdigit()) and low[:end] in heads:
                found.setdefault(low[:end], []).append(ref)
    return found


def _runs(key: tuple[str, ...]) -> Iterable[tuple[str, ...]]:  # runs of up to 8 words
    return (key[i:j] for i in range(len(key)) for j in range(i + 1, min(len(key), i + 8) + 1))


class Matcher:
    """One Vocabulary prepared for fast matching; parse() reads a question."""

    def __init__(self, vocab: Vocabulary) -> None:
        self._refs, self._objectives = {}, {}  # ref key -> refs; objective key -> its refs
        for ref in dict.fromkeys(vocab.refs):
            self._refs.setdefault(ref_key(ref), []).append(ref)
            if found := _OBJECTIVE.fullmatch(ref.strip().lower()):
                self._objectives.setdefault(ref_key(found[1]), []).append(ref)
        self._shapes = {_shape(ref) for ref in vocab.refs}
        self._themes, self._leads, self._plans = (
            list(dict.fromkeys(names)) for names in (vocab.themes, vocab.leads, vocab.plans))
        self._raw: dict[tuple[str, ...], dict[tuple[str, int], set[int]]] = {}
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
        self._index: dict[tuple[str, ...], list[Found]] = {key: [
            (rank, kind, frozenset(ns), None) for (kind, rank), ns in found.items()]
            for key, found in self._raw.items()}
        self._known = frozenset(w for key in self._index for w in key) | ph.KEYWORDS
        self._choices: dict[str, list[str]] = {}  # by first letter: typos keep the first letter
        for word in sorted(w for w in self._known if len(w) >= 4 and w.isalpha()):
            self._choices.setdefault(word[0], []).append(word)
        under = refs_under(vocab.refs, vocab.objectives)
        self._titles = Titles(vocab.objectives, lambda objective: under.get(
            objective.strip().lower(), []))
        self._known |= ph.FILLER | self._titles.words
        self._fixes: dict[str, str] = {}

    def _add(self, key: tuple[str, ...], rank: int, kind: str, n: int) -> None:
        self._raw.setdefault(key, {}).setdefault((kind, rank), set()).add(n)

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
            first = given[0] if given and len(given[0]) > 1 else ""  # not "D" of "D Copley"
            for word_key in (("last", key[-1]), ("first", first), ("initials", "".join(
                    w[0] for w in given) + key[-1][0] if given else "")):
                self._by_word.setdefault(word_key, set()).add(key)

    def _correct(self, word: str) -> str:
        """A misspelt word as the plan word or keyword it is closest to ("Quallity" -> quality)."""
        if len(word) < 4 or not word.isalpha() or word in self._known:
            return word
        if word not in self._fixes:
            best = process.extractOne(word, self._choices.get(word[0], []), scorer=fuzz.ratio,
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
        word, get = key[0], self._by_word.get
        if key in self._index or len(key) > 2 or len(key) == 1 and (
                word in ph.FILLER or word in ph.KEYWORDS or word.isdigit()):
            return self._index.get(key, [])
        if len(key) == 2:  # "David Copley" is D Copley; "S Jackson" is not Sarah Henry
            people = {p for p in get(("last", key[1]), ()) if p[0] in TITLES or (
                p[0][0] == word[0] and (len(word) == 1 or len(p[0]) == 1 or p[0] == word))}
            return self._people_found(people, " ".join(key))
        if upper:  # "SH" is Sarah Henry, "LSCB" the Local Safeguarding Children's Board
            return self._index.get((f"^{word}",), []) + self._people_found(
                get(("initials", word), set()), word)
        return self._people_found(get(("first", word), set()) | get(("last", word), set()), word)

    def _refs_in(self, words: Words) -> tuple[list[str], list[str], list[str]]:
        """Refs named ("2.4", "5 b"), refs of objectives named ("rec 4"), refs not in the plans."""
        named, scoped, missing = [], [], []
        for i, word in enumerate(words.words):
            if words.used[i] or not any(c.isdigit() for c in word):
                continue
            after = words.words[i + 1] if i + 1 < len(words.words) else ""
            if word.isdigit() and len(after) == 1 and ref_key(word + after) in self._refs:
                word = word + after  # "show 5 b"
            key, rec = ref_key(word), i > 0 and bool(_OBJECTIVE_WORD.fullmatch(words.words[i - 1]))
            hits = [r for r in self._refs.get(key, []) if not key.isdigit() or r.strip() == word]
            scope = self._objectives.get(key, []) if not hits and (rec or not key.isdigit()) else []
            if hits or scope or rec or _REF.fullmatch(word) and _shape(word) in self._shapes:
                (named if hits else scoped if scope else missing).extend(hits or scope or [word])
                words.take(i - rec, i + (word != words.words[i]))
        return list(dict.fromkeys(named)), list(dict.fromkeys(scoped)), missing

    def _entities(self, words: Words, upper: list[bool], notes: list[str]) -> dict[str, Any]:
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

    def _plan(self, votes: Counter[int], words: Words, notes: list[str]) -> str | None:
        rest = set(words.left())  # "Rochdale council plan": "council" tells the two apart
        score = {n: (count, len(rest & self._plan_words[n])) for n, count in votes.items()}
        winners = sorted(n for n, value in score.items() if value == max(score.values()))
        if len(winners) != 1:
            notes += [f"which plan: {', '.join(self._plans[n] for n in winners)}?"] * bool(winners)
            return None
        for i, word in enumerate(words.words):
            words.used[i] = words.used[i] or word in self._plan_words[winners[0]]
        return self._plans[winners[0]]

    def parse(self, text: str, *, today: date) -> Query:
        """The Query a question asks; intent 'unknown' with a note when nothing could be read."""
        try:
            return self._parse(text, today)
        except Exception:  # a question must never break the bot
            return Query(intent="unknown", note="I could not read that question.")

    def _parse(self, text: str, today: date) -> Query:
        cleaned = ph.clean(text)
        toks = ph.tokens(cleaned)[:400]
        words, caps = Words([self._correct(word) for word, _ in toks]), [c for _, c in toks]
        facts: list[ph.TimeFact] = words.scan(partial(ph.read_time, today=today))
        flags, rags, went, notes = set[str](), set[Rag](), set[Rag](), list[str]()

        def read(table: list[tuple[str, re.Pattern[str]]], anything: re.Pattern[str]) -> None:
            if not words.finds(anything):  # no phrase of the table in the question
                return
            for name, pattern in table:
                for m in words.scan(pattern):
                    flags.add(name)
                    said = (m.groupdict().get("rags") or "").split()
                    (went if name == "went" else rags).update(
                        ph.RAG_WORDS[w] for w in said if w in ph.RAG_WORDS)
                    rags.update(ph.IMPLIED.get(name, ()))
        read(ph.PRE_PHRASES, ph.PRE_ANY)
        named, scoped, missing = self._refs_in(words)
        found = self._entities(words, [c >= 2 for c in caps], notes)
        read(ph.POST_PHRASES, ph.POST_ANY)
        if not (named or scoped or missing or found["themes"]):  # themes first: "workforce"
            scoped = self._titles.scope(words.words, words.used)  # "workforce stability"
        if strangers := _strangers(words, caps, re.findall(r"(\w+)['\u2019]s\b", cleaned.lower())):
            found["leads"] += strangers
            notes.append(f"no lead called {', '.join(strangers)} in the plans")
        fields, left = ph.date_fields(facts, flags, today), words.left()
        listing = bool(rags or flags & LISTING_FLAGS or scoped or found["leads"]
                       or found["themes"] or not left and (fields["due_from"] or fields["due_to"]))
        if named or missing:
            intent = "show"
        elif fields["stale_days"] or fields["changed_since"]:
            intent = "not_updated" if fields["stale_days"] else "changes"
        elif "summary" in flags or listing:
            intent = "summary" if "summary" in flags else "list"
        elif "help" in flags or (not toks and "?" in cleaned):
            intent = "help"
        else:  # "all actions"; "in the Tameside plan" (its summary); not "the weather in Leeds"
            everything = {"all", "everything", "list", "actions"} & set(words.words)
            intent = "unknown" if left else "list" if everything else "summary" if found["plan"] \
                else "unknown"
        notes.extend([f"no action {', '.join(missing[:5])} in the plans"] if missing else [])
        if left:
            notes.append(("not understood: " if intent == "unknown" else "ignored: ") +
                         " ".join(word[:30] for word in left[:8]))
        elif intent == "unknown" and not notes:
            notes.append("nothing in it to look for" if cleaned else "no question found")
        return Query(
            intent=intent, text=cleaned, refs=named + missing if intent == "show" else scoped,
            rags=[r for r in Rag if r in rags], went_to=[r for r in Rag if r in went],
            no_rag="no_rag" in flags, no_due="no_due" in flags, open_only="open" in flags,
            overdue="overdue" in flags,
            mine="mine" in flags, worse="worse" in flags, better="better" in flags,
            note="; ".join(notes) or None, **found, **fields)


LISTING_FLAGS = frozenset({"mine", "overdue", "open", "no_rag", "no_due"})


def _strangers(words: Words, caps: list[int], possessive: list[str]) -> list[str]:
    """Capitalised names where a lead goes that the plans do not have ("Bob Smith's actions")."""
    names, run = [], []
    for i, word in enumerate([*words.words, ""]):
        if word and not words.used[i] and caps[i] and word.isalpha() and word not in _NOT_NAMES:
            run.append(i)
            continue
        if run and len(run) <= 3 and (run[0] > 0 and words.words[run[0] - 1] in _LEAD_CONTEXT or
                                      words.words[run[-1]] in possessive):
            names.append(" ".join(words.words[j].title() for j in run))
            words.take(run[0], run[-1])
        run = []
    return names


@lru_cache(maxsize=8)  # a Matcher per vocabulary, built once
def _matcher(key: tuple[tuple[Any, ...], ...]) -> Matcher:
    return Matcher(Vocabulary(**{field: (dict if field == "objectives" else list)(value)
                                 for field, value in zip(_FIELDS, key, strict=True)}))


def parse(text: str, vocab: Vocabulary, *, today: date) -> Query:
    """The Query a question asks, matched against the vocabulary, dates relative to `today`."""
    key = tuple(tuple(getattr(vocab, f)) for f in _FIELDS[:-1]) + (tuple(vocab.objectives.items()),)
    return _matcher(key).parse(text, today=today)
