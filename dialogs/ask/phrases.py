"""Word tables, text normalisation and the date phrase reader behind the question parser."""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from storage.rules import Rag

MAX_CHARS = 1000
DEFAULT_DAYS = 7  # "what changed?" and "who hasn't updated?" look back one week
_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")
_QUOTES = re.compile(r"[\u2018\u2019\u201b\u02bc`\u00b4]")
_POSSESSIVE = re.compile(r"(?<=\w)'s\b", re.IGNORECASE)
_TOKEN = re.compile(r"\d+(?:[./-]\d+){2}|[a-z]*\d[a-z0-9]*(?:\.[a-z0-9]+)*|[a-z]+", re.IGNORECASE)
# Abbreviations read as the words they stand for, in questions and in plan names alike.
EXPAND = {short: tuple(long.split()) for short, long in (
    ("qa", "quality assurance"), ("lac", "looked after children"), ("childrens", "children"),
    ("cla", "looked after children"), ("qop", "quality of practice"), ("gov", "governance"),
    ("lscb", "local safeguarding children board"), ("practise", "practice"))}
_SWAP = {"assistant director": "AD", "director of children services": "DCS",
         "children looked after": "looked after children"}
_SWAPS = re.compile(rf"\b(?:{'|'.join(_SWAP)})\b", re.IGNORECASE)


def clean(text: object) -> str:
    """The question as read: at most 1,000 characters, no control characters, single spaces."""
    raw = _BAD.sub(" ", unicodedata.normalize("NFKC", str(text or "")[:MAX_CHARS]))
    return " ".join(raw.split())[:MAX_CHARS]


def _words_of(text: str) -> str:
    text = _POSSESSIVE.sub("", _QUOTES.sub("'", text)).replace("'", "").replace("&", " and ")
    return _SWAPS.sub(lambda m: _SWAP[" ".join(m[0].lower().split())], text)


def tokens(text: str) -> list[tuple[str, int]]:
    """Lower-case words, each with how many capitals it was written with ("QoP" 2, "Karen" 1)."""
    return [(part, sum(c.isupper() for c in m[0])) for m in _TOKEN.finditer(_words_of(text))
            for part in EXPAND.get(m[0].lower(), (m[0].lower(),))]


def words(text: str) -> list[str]:
    """The lower-case words of tokens(), without counting capitals (for long texts)."""
    return [part for word in _TOKEN.findall(_words_of(text))
            for part in EXPAND.get(word.lower(), (word.lower(),))]


GLUE = frozenset("of and the for in on to a an at with by".split())
FILLER = GLUE | frozenset("""
what whats which who whos whose where when how why is are was were be been being do does did
have has had can could would should will shall might must please pls thanks thank you me i we us
our they them their it its this that these those there here show list give get find display see
tell let know all any every each some many much more most or about into under within over per as
so just only still yet currently current now right status state actions action items item tasks
task ones one things thing due deadline deadlines dated date dates theme themes priority
priorities area areas plan plans rag rags rating ratings rated lead leads led owned owner owners
owns own responsible responsibility assigned belong belongs belonging leading person whom ok okay
bot planbot number numbers also both either if then than from anything everything something got
moment being look looking need needs needed want wants like query question ask asked later
little white long best young yes well check checkin ref reference""".split())
RAG_WORDS = {word: rag for rag, words in (
    (Rag.RED, "red reds"), (Rag.AMBER, "amber ambers yellow"), (Rag.GREEN, "green greens"),
    (Rag.BLUE, "blue blues complete completed achieved done finished closed delivered evidenced"),
) for word in words.split()}
# Words too common to name a theme on their own ("help" is a question, not "Provision of help").
GENERIC = frozenset("""help care children child young people practice quality information support
    services service local early board working improvement improving performance measures
    provision leaving looked after social council plan""".split())
ROLE_HEADS = frozenset("ad head heads chair director assistant deputy lead manager chief".split())
_RAGS = r"red|amber|green|blue|complete|completed|achieved"
IMPLIED = {"at_risk": (Rag.RED, Rag.AMBER), "on_track": (Rag.GREEN,)}  # RAGs a phrase means


# Phrases read before names and themes (several words, unambiguous), in this order.
PRE_PHRASES = [(name, re.compile(rf"\b(?:{body})\b")) for name, body in (
    ("not_updated", r"(?:hasnt|havent|hadnt|didnt|dont|doesnt|not|never|no|without|missing|"
     r"awaiting|outstanding|overdue|late|chase|chasing)(?: (?:been|yet|got|given|sent|done|made|"
     r"had|any|an|a|recent|progress|weekly|status|their|the|check in))* (?:updated?|updates|"
     r"responded|replied|answered|submitted|returned|reported|responses?|replies|answers|"
     r"returns|check ins?|checkins?)|stale|not heard from|silent|non responders?|chase"),
    ("went", rf"(?:went|gone|go|goes|turned|turn|became|become|becoming|moved|move|changed|"
     rf"dropped|slipped|fell|rose|raised|upgraded|downgraded|switched)(?: (?:to|into))?(?: from "
     rf"(?:{_RAGS}) to)? (?P<rags>(?:{_RAGS})(?: (?:or|and) (?:{_RAGS}))*)"),
    ("no_rag", r"not (?:yet )?started|no rags?(?: rating| status)?|no ratings?|not (?:yet |been "
     r"|got a |had a )*(?:rag )?rated|unrated|without (?:a |any )?rags?|blank rags?|missing rags?|"
     r"no status"),
    ("open", r"(?:not|isnt|arent|wasnt|werent|never|yet to be)(?: yet| been)* (?:complete|"
     r"completed|done|finished|achieved|closed|blue|delivered)|outstanding|open|incomplete|"
     r"unfinished|uncompleted|(?:still |left )?(?:to do|needs? doing)|remaining|in progress|"
     r"pending|live|ongoing"),
    ("at_risk", r"at risk|off track|off target|need(?:s|ing)? attention|attention|concerns?|"
     r"concerning|worrying|problems?|struggling"),
    ("no_due", r"no (?:end |due |target |finish )?dates?|no deadlines?|no timescales?|"
     r"without (?:an? |any )?(?:end |due )?(?:dates?|deadlines?)|undated|not dated"),
    ("on_track", r"on track|on target"),
    ("overdue", r"overdue|late|past (?:their |the |its )?(?:due(?: dates?)?|deadlines?)|"
     r"behind schedule|missed (?:their |the |its )?(?:deadlines?|due dates?)|out of date"),
    ("mine", r"my|mine|myself|(?:assigned to|owned by|led by|for|on|with) me|"
     r"i (?:own|lead|am|m|have|got)|im (?:responsible|leading|the lead)|"
     r"(?:do|am|have|did) i(?! use| ask)"),
)]
# Phrases read after names and themes have taken their words.
POST_PHRASES = [(name, re.compile(rf"\b(?:{body})\b")) for name, body in (
    ("worse", r"(?:(?:got|gotten|getting|gone|went|become|became) )?(?:worse|worsened|worsening|"
     r"deteriorated|deteriorating|declined|declining|slipped|slipping|regressed|downgraded|"
     r"gone down|went down|dropped|going backwards?)"),
    ("better", r"(?:(?:got|gotten|getting|gone|become|became) )?(?:better|improved|improving|"
     r"upgraded|gone up|went up|moved up|progressed)"),
    ("summary", r"summary|summarise|summarize|sum up|overview|dashboard|how (?:(?:are|is|s|am) )?"
     r"(?:\w+ ){0,2}(?:doing|going|getting on|looking)|how are we|rag counts?|counts?|count by|"
     r"breakdown|by theme|per theme|totals?|overall|headlines?|big picture|status report|"
     r"highlights|scorecard"),
    ("help", r"help|examples?|commands?|what can (?:you|i) (?:ask|do|say)|what can you|how do i "
     r"(?:use|ask)|how does (?:this|it) work|usage|hi|hello|hey|menu|options|"
     r"what do you (?:do|understand|know)"),
    ("rag", rf"(?P<rags>{'|'.join(RAG_WORDS)})"),  # one word, after "Jane Green" had its chance
    ("changes", r"what(?: has| have)? changed|changed|changes|change|updated|updates|update|new|"
     r"latest|recent|recently|lately|happened|happening|movement|moved|progress(?: made)?"),
)]

# --- Dates --------------------------------------------------------------------------------------

_MONTHS = {name.lower(): n for n in range(1, 13)
           for name in (calendar.month_name[n], calendar.month_abbr[n])} | {"sept": 9}
_DAYS = {name.lower(): n for n, name in enumerate(calendar.day_name)}
MONTH_NAMES, DAY_NAMES = tuple(_MONTHS), tuple(_DAYS)  # as the date phrases write them
_NUMBERS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())} | {
    "a": 1, "an": 1, "few": 3, "couple": 2, "fourteen": 14, "twenty": 20, "thirty": 30,
    "sixty": 60, "ninety": 90}


def any_of(table: list[tuple[str, re.Pattern[str]]]) -> re.Pattern[str]:
    """One pattern that finds something wherever a phrase of the table would: when it finds
    nothing, no phrase of the table matches, and the parser skips the table's scans."""
    bodies = (re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern) for _, pattern in table)
    return re.compile("|".join(f"(?:{body})" for body in bodies))


PRE_ANY, POST_ANY = any_of(PRE_PHRASES), any_of(POST_PHRASES)

_M = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WD = "|".join(_DAYS)
_N = "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r"|\d{1,3}"
_TH = "(?:st|nd|rd|th)?"
_POINT = (rf"(?:the )?end of (?:the )?(?:this |next )?(?:month|week|year|quarter|(?:{_M})"
          rf"(?: \d{{4}}| \d\d)?)|\d{{1,2}}{_TH} (?:of )?(?:{_M})(?: \d{{4}})?|(?:{_M}) "
          rf"\d{{1,2}}{_TH}\b(?: \d{{4}})?|\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./-]\d{{1,2}}[./-]"
          rf"(?:\d{{4}}|\d\d)|today|tomorrow|yesterday|{_WD}|(?:{_M})(?: \d{{4}})?|20\d\d")
_TIME = re.compile(
    rf"\b(?:(?:between|from) (?P<a>{_POINT}) (?:and|to|until|till) (?P<b>{_POINT})"
    rf"|(?P<win>(?:the )?(?:(?P<dir>next|coming|last|past|previous) )?(?:a )?(?P<n>{_N})"
    rf"(?: of)? (?P<unit>day|week|fortnight|month|year)s?(?P<ago> ago)?)"
    rf"|(?P<which>this|next|last|past|previous|coming) (?P<per>week|month|year|quarter)"
    rf"|(?P<soon>soon|upcoming|coming up)|(?P<point>{_POINT}))\b")
_PARTS = re.compile(
    rf"(?P<end>end of (?:the )?(?P<rel>this |next )?)?(?:(?P<d1>\d{{1,2}}){_TH} (?:of )?"
    rf"(?P<m1>{_M})|(?P<m2>{_M})(?: (?P<d2>\d{{1,2}}){_TH}\b)?|(?P<ey>20\d\d)$"
    rf"|(?P<per>month|week|year|quarter))(?: (?P<y>\d{{4}}))?"
    rf"|(?P<iso>\d{{4}})-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}})"
    rf"|(?P<nd>\d{{1,2}})[./-](?P<nm>\d{{1,2}})[./-](?P<ny>\d{{4}}|\d{{2}})"
    rf"|(?P<rel2>today|tomorrow|yesterday)|(?P<wd>{_WD})")
_SOURCES = " ".join(p.pattern for _, p in PRE_PHRASES + POST_PHRASES) + _TIME.pattern
# Words the parser understands: never "corrected" into a name or theme word.
KEYWORDS = frozenset(RAG_WORDS) | frozenset(_NUMBERS) | frozenset(
    re.findall(r"[a-z]{3,}", re.sub(r"\?P<\w+>|\?:", " ", _SOURCES))) | {"weeks", "days"}
_BOUNDS = frozenset("before by until till than after from since".split())
_PREFIX = _BOUNDS | {"in", "during", "due", "of", "end", "on", "this", "last", "next"}
_UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 91, "year": 365}


@dataclass
class TimeFact:
    """One date phrase read three ways: a due window, a 'changed since' day, an age in days."""

    start: int
    end: int
    lo: date | None = None
    hi: date | None = None
    since: date | None = None
    days: int | None = None
    due_kw: bool = False  # "due" or "deadline" just before it
    past: bool = False  # "since ...", "in the last ...", "... ago": about changes, not deadlines
    said: str = ""  # the phrase as asked, with its "by" or "since" ("before march 2015")


def _add_months(day: date, months: int) -> date:
    return date((index := day.year * 12 + day.month - 1 + months) // 12, index % 12 + 1, 1)


def _period(per: str, today: date, shift: int) -> tuple[date, date]:
    """This (shift 0), next (1) or last (-1) week, month, quarter or year."""
    if per == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=shift)
        return monday, monday + timedelta(days=6)
    if per == "year":
        return date(today.year + shift, 1, 1), date(today.year + shift, 12, 31)
    size = 3 if per == "quarter" else 1
    first = _add_months(date(today.year, (today.month - 1) // size * size + 1, 1), shift * size)
    return first, _add_months(first, size) - timedelta(days=1)


def _point(text: str, today: date) -> tuple[date, date, date] | None:
    """(first day, last day, past-inferred first day) a date phrase names; None if invalid."""
    m, now = _PARTS.search(text), (today.month, today.day)
    try:
        if not m:
            return None
        if m["iso"] or m["nd"]:
            year = int(m["iso"] or m["ny"]) + (2000 if len(m["iso"] or m["ny"]) == 2 else 0)
            day = date(year, int(m["im"] or m["nm"]), int(m["id"] or m["nd"]))
        elif m["rel2"]:
            day = today + timedelta(days={"today": 0, "tomorrow": 1, "yesterday": -1}[m["rel2"]])
        elif m["wd"]:
            gap = (_DAYS[m["wd"]] - today.weekday()) % 7
            ahead = today + timedelta(days=gap)
            return ahead, ahead, today - timedelta(days=(7 - gap) % 7)
        elif m["ey"]:
            return date(int(m["ey"]), 1, 1), date(int(m["ey"]), 12, 31), date(int(m["ey"]), 1, 1)
        elif m["per"]:
            first, last = _period(m["per"], today, 1 if m["rel"] == "next " else 0)
            return last, last, first
        else:
            month, day_text, year = _MONTHS[m["m1"] or m["m2"]], m["d1"] or m["d2"], m["y"]
            if m["end"] and m["d2"] and not year:  # "end of Nov 23": a month and a year
                day_text, year = None, f"20{int(m['d2']):02d}"
            ahead, back = (month, int(day_text or 32)), (month, int(day_text or 0))  # vs today
            y1, y2 = (int(year),) * 2 if year else (
                today.year + (ahead < now), today.year - (back > now))
            if day_text:
                return date(y1, *ahead), date(y1, *ahead), date(y2, *ahead)
            last = date(y1, month, calendar.monthrange(y1, month)[1])
            return (last if m["end"] else date(y1, month, 1)), last, date(y2, month, 1)
        return day, day, day
    except ValueError:
        return None


def _fact(m: re.Match[str], today: date, prev: str) -> TimeFact | None:
    """The window, period, range or day one match of _TIME names (before any 'by'/'since')."""
    if m["win"]:
        count = int(m["n"]) if m["n"].isdigit() else _NUMBERS[m["n"]]
        days = min(count, 3650) * _UNIT_DAYS[m["unit"]]
        since = today - timedelta(days=days)
        if m["ago"] or m["dir"] in ("last", "past", "previous"):
            return TimeFact(m.start(), m.end(), since, since if m["ago"] else today, since, days,
                            past=True)
        return TimeFact(m.start(), m.end(), today, today + timedelta(days=days), since, days)
    if m["soon"]:
        return TimeFact(m.start(), m.end(), today, today + timedelta(days=14))
    if m["which"]:
        shift = {"this": 0, "next": 1, "coming": 1}.get(m["which"], -1)
        lo, hi = _period(m["per"], today, shift)
        since = {0: lo, 1: None}.get(shift, today - timedelta(days=_UNIT_DAYS[m["per"]]))
        return TimeFact(m.start(), m.end(), lo, hi, since, past=shift < 0)
    if m["a"]:
        a, b = _point(m["a"], today), _point(m["b"], today)
        if not a or not b:
            return None
        lo = a[0]
        if lo > b[1] and not re.search(r"\d{4}", m["a"]) and (lo.month, lo.day) != (2, 29):
            lo = lo.replace(year=lo.year - 1)
        return TimeFact(m.start(), m.end(), lo, b[1], min(a[2], lo))
    spec = m["point"]
    if re.fullmatch(rf"(?:{_M})|20\d\d|{_WD}", spec) and prev not in _PREFIX and not (
            prev == "for" and spec in _MONTHS and len(spec) > 3):  # "for Jan" may be a person
        return None  # "may", "2015" or "monday" alone: a word or a plan's year, not a date
    if not (found := _point(spec, today)):
        return None
    ending = spec.startswith(("end", "the end"))
    return TimeFact(m.start(), m.end(), None if ending else found[0], found[1], found[2])


def read_time(text: str, today: date) -> list[TimeFact]:
    """Every date phrase in normalised text, with the 'by', 'after' or 'since' before it."""
    facts: list[TimeFact] = []
    for m in _TIME.finditer(text):
        before = text[: m.start()].split()[-3:]
        prev = before[-1] if before else ""
        if (fact := _fact(m, today, prev)) is None:
            continue
        if prev in _BOUNDS:
            fact.start -= len(prev) + 1 + (9 if before[-3:-1] == ["no", "later"] else 0)
            first, last = fact.lo or fact.hi, fact.hi or fact.lo
            if prev in ("after", "since", "from") and first and last:
                fact.lo = {"after": last + timedelta(days=1), "since": fact.since or first}.get(
                    prev, first)
                fact.hi, fact.past = None, fact.past or prev == "since"
            elif first and last:  # "before 31 March" keeps that day; "before June" ends in May
                fact.lo = None
                fact.hi = first - timedelta(days=1) if prev == "before" and first != last else last
        fact.start = max(fact.start, 0)
        fact.said = text[fact.start: fact.end]
        fact.due_kw = "due" in before or "deadline" in before
        if fact.since is not None and fact.days is None:
            fact.days = max((today - fact.since).days, 1)
        facts.append(fact)
    return facts


def date_fields(facts: list[TimeFact], flags: set[str], today: date) -> dict[str, object]:
    """Date phrases as due windows, a 'changed since' day or an age, as the question asks."""
    stale, changes = "not_updated" in flags, bool(flags & {"changes", "went", "worse", "better"})
    changes = changes or any(fact.past and not fact.due_kw for fact in facts)
    out: dict[str, object] = dict.fromkeys(("due_from", "due_to", "changed_since", "stale_days"))
    for fact in facts:
        if fact.due_kw or not (stale or changes):
            out["due_from"], out["due_to"] = out["due_from"] or fact.lo, out["due_to"] or fact.hi
        elif stale:
            out["stale_days"] = out["stale_days"] or fact.days
        else:
            out["changed_since"] = out["changed_since"] or fact.since
    if stale:
        out["stale_days"] = out["stale_days"] or DEFAULT_DAYS
    elif changes:
        out["changed_since"] = out["changed_since"] or today - timedelta(days=DEFAULT_DAYS)
    return out
