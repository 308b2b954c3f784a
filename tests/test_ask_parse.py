"""The question parser on the four real plans' vocabularies: phrasings, hostile input, speed."""

from __future__ import annotations

import re
import time
from datetime import date
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogs.ask import phrases
from dialogs.ask.parse import Matcher, _matcher, parse
from dialogs.ask.query import Query, Vocabulary
from storage.importers.registry import read_plan_file
from storage.leads import lead_people
from storage.rules import Rag
from tests.truthcheck import PLANS

pytestmark = pytest.mark.skipif(not PLANS.exists(), reason="shared plans not mounted")

TODAY = date(2026, 11, 25)  # a Wednesday
R, A, G, B = Rag.RED, Rag.AMBER, Rag.GREEN, Rag.BLUE
QP, QPC = "Quality of Practice", "Quality of practice and capacity"
LAC = "Looked after children, permanence and leaving care"
VLG, LG = "Vision, Leadership & Governance", "Leadership and Governance"
LW, WIP = "Leadership and Workforce", "Working in Partnership"
EHP, LSCB = "Early Help and Partnership Working", "Local Safeguarding Children's Board"
IPI = "Improving Performance Information and quality assurance"
MANCHESTER = "Manchester Children's Services Improvement Plan 2015"
TAMESIDE = "Tameside Children's Social Care Improvement Plan"
NOTICE = "Rochdale Improvement Notice 2014"
COUNCIL = "Rochdale Children's Services Council Plan 2018-19"
KAREN, JILL = "Karen Dolton", "Heather Johns/Jill Meredith"
COPLEY = ["D Copley", "D.Copley", "D. Copley"]
KERRY = ["Kerry Mehta", "Kerry Mehta for assessment teams. Jancie Schofield for LAC",
         "Kerry Mehta / Janice Schofield"]


def d(month: int, day: int, year: int = 2026) -> date:
    """A date, in 2026 unless told."""
    return date(year, month, day)


L, S, C, N, M, H, U = (partial(dict, intent=intent) for intent in  # expected Query fields
                       "list show changes not_updated summary help unknown".split())
WEEK_AGO, MONDAY, NEXT_MARCH = d(11, 18), d(11, 23), d(3, 31, 2027)
NOV, DEC = {"due_from": d(11, 1), "due_to": d(11, 30)}, {"due_from": d(12, 1), "due_to": d(12, 31)}
CASES: list[tuple[str, dict]] = [
    # RAG
    ("what's red", L(rags=[R])), ("reds", L(rags=[R])), ("any reds?", L(rags=[R])),
    ("RED actions", L(rags=[R])), ("amber or red", L(rags=[R, A])),
    ("red/amber actions", L(rags=[R, A])), ("which actions are blue", L(rags=[B])),
    ("which actions are complete", L(rags=[B])), ("completed actions", L(rags=[B])),
    ("what has been achieved?", L(rags=[B])), ("greens", L(rags=[G])),
    ("what's on track", L(rags=[G])), ("what is at risk?", L(rags=[R, A])),
    ("what needs attention", L(rags=[R, A])), ("gren actions", L(rags=[G])),
    ("amber reds greens", L(rags=[R, A, G])), ("which actions have not started", L(no_rag=True)),
    ("actions with no RAG", L(no_rag=True)), ("what's not been rated yet?", L(no_rag=True)),
    ("what's outstanding", L(open_only=True)), ("open actions", L(open_only=True)),
    ("which are not complete", L(open_only=True)), ("what isn't done yet", L(open_only=True)),
    # Themes: loose, abbreviated, misspelt, partial; every theme that matches well
    ("what's in Quality of Practice?", L(themes=[QPC, QP])), ("QoP", L(themes=[QPC, QP])),
    ("Quallity of practise", L(themes=[QPC, QP])),
    ("quality of practice and capacity", L(themes=[QPC])), ("LAC actions", L(themes=[LAC])),
    ("children looked after", L(themes=[LAC])), ("leaving care", L(themes=[LAC])),
    ("permanence", L(themes=[LAC])), ("Vision, Leadership & Governance", L(themes=[VLG])),
    ("vision leadership and governance", L(themes=[VLG])), ("leadership", L(themes=[VLG, LG, LW])),
    ("leadership and governance", L(themes=[VLG, LG])), ("Leadership & Workforce", L(themes=[LW])),
    ("LSCB", L(themes=[LSCB])), ("local safeguarding childrens board", L(themes=[LSCB])),
    ("early help", L(themes=[EHP])), ("provision of help", L(themes=["Provision of help"])),
    ("improving performance information and QA", L(themes=[IPI])),
    ("commissioning", L(themes=["Commissioning and Sufficiency"])),
    ("actions in working in partnership", L(themes=[WIP])),
    ("whats overdeu in partnrship", L(overdue=True, themes=[EHP, WIP])),
    # Leads: names, first names, surnames, initials, roles, shared cells, typos
    ("Karen Dolton's actions", L(leads=[KAREN])), ("Karen's actions", L(leads=[KAREN])),
    ("Karen Doltan", L(leads=[KAREN])), ("KD", L(leads=[KAREN])),
    ("what is SH responsible for?", L(leads=["Lana Shannon/ Sarah Henry"])),
    ("actions for D Copley", L(leads=COPLEY)), ("David Copley", L(leads=COPLEY)),
    ("Copley's actions", L(leads=COPLEY)), ("S Jackson", L(leads=["S. Rawlinson/S Jackson"])),
    ("Rawlinson", L(leads=["SUPT RAWLINSON", "S. Rawlinson/S Jackson"])),
    ("owned by Head of Commissioning", L(leads=["Head of Commissioning"])),
    ("virtual school", L(leads=["Head of Virtual School"])),
    ("what does the DCS own", L(leads=["DCS"])), ("led by DMT", L(leads=["DMT"])),
    ("Lead Member", L(leads=["Lead Member"])),
    ("AD Quality Assurance and Improvement", L(leads=[
        "AD QA and Improvement", "AD Quality Assurance and Improvement"])),
    ("Assistant Director of People and Workforce Development", L(leads=[
        "Assistant Director of People and Workforce Development",
        "AD People and Workforce Development"])),
    ("what's red for AD Children's Social Care", L(rags=[R], leads=["AD Children's Social Care"])),
    ("Kerry's actions", L(leads=KERRY)), ("Jill's actions", L(leads=[JILL])),
    ("Gladys White", L(leads=["Gladys Rhodes White"])),
    ("green actions for Heather Johns", L(rags=[G], leads=["Heather Johns", JILL])),
    ("my actions", L(mine=True)), ("what am I responsible for", L(mine=True)),
    ("anything assigned to me that's red", L(mine=True, rags=[R])),
    ("my overdue actions", L(mine=True, overdue=True)),
    ("actions for Bob Smith", L(leads=["Bob Smith"])),
    # Refs: by ref_key, several at once, inside other questions, objectives, missing ones
    ("show 2.4", S(refs=["2.4"])), ("status of CS18003.C", S(refs=["CS18003.C"])),
    ("tell me about 3a", S(refs=["3a"])), ("1.d", S(refs=["1d"])),
    ("show 2.4 and 2.5", S(refs=["2.4", "2.5"])), ("show 3a 3b and 3c", S(refs=["3a", "3b", "3c"])),
    ("show 1.10", S(refs=["1.10"])), ("show 5 b", S(refs=["5b"])),
    ("is 3a overdue?", S(refs=["3a"], overdue=True)),
    ("who is responsible for 2.4", S(refs=["2.4"])),
    ("what's the status of 1.d and CS18001.A", S(refs=["1d", "CS18001.A"])),
    ("show 27a", S(refs=["27a"])), ("what about Q3 reds", L(rags=[R])),
    ("CS18003", L(refs=[f"CS18003.{x}" for x in "ABCDE"])),
    ("actions under rec 4", L(refs=[*(f"4{x}" for x in "abcdef"),
                                    *(f"4.{n}" for n in range(1, 13))])),
    ("red or amber in CS18007", L(rags=[R, A], refs=[f"CS18007.{x}" for x in "ABCDEFGH"])),
    # Dates relative to Wednesday 25 November 2026; "31 March" and "3 weeks" are never refs
    ("due before 31 March", L(due_to=NEXT_MARCH)), ("due before June", L(due_to=d(5, 31, 2027))),
    ("due by end of June", L(due_to=d(6, 30, 2027))),
    ("what's due by the end of the month", L(due_to=d(11, 30))),
    ("what was due by the end of Nov 23", L(due_to=d(11, 30, 2023))),
    ("due in December 2026", L(**DEC)), ("what's due for December", L(**DEC)),
    ("due in March", L(due_from=d(3, 1, 2027), due_to=NEXT_MARCH)),
    ("due between 1 Jan and 31 Mar 2027", L(due_from=d(1, 1, 2027), due_to=NEXT_MARCH)),
    ("due from 1 Dec to 31 Jan", L(due_from=d(12, 1), due_to=d(1, 31, 2027))),
    ("due in the next 30 days", L(due_from=TODAY, due_to=d(12, 25))),
    ("due within 2 weeks", L(due_from=TODAY, due_to=d(12, 9))), ("due this month", L(**NOV)),
    ("due next month", L(**DEC)), ("due this week", L(due_from=MONDAY, due_to=d(11, 29))),
    ("due next week", L(due_from=d(11, 30), due_to=d(12, 6))),
    ("what was due last week", L(due_from=d(11, 16), due_to=d(11, 22))),
    ("anything due tomorrow", L(due_from=d(11, 26), due_to=d(11, 26))),
    ("due by Friday", L(due_to=d(11, 27))), ("due by 31/03/2027", L(due_to=NEXT_MARCH)),
    ("due on 2027-01-15", L(due_from=d(1, 15, 2027), due_to=d(1, 15, 2027))),
    ("actions due after 1 January", L(due_from=d(1, 2, 2027))),
    ("due in 2027", L(due_from=d(1, 1, 2027), due_to=d(12, 31, 2027))),
    ("overdue", L(overdue=True)), ("what's late?", L(overdue=True)),
    ("past due actions", L(overdue=True)),
    ("what still needs doing that was due by end of March 2015?",
     L(open_only=True, due_to=d(3, 31, 2015))),
    # Changes
    ("what changed this week", C(changed_since=MONDAY)),
    ("changes since last week", C(changed_since=WEEK_AGO)),
    ("what changed in the last 14 days", C(changed_since=d(11, 11))),
    ("since 1 November", C(changed_since=d(11, 1))),
    ("what has been updated since Monday", C(changed_since=MONDAY)),
    ("what changed yesterday", C(changed_since=d(11, 24))),
    ("what's new", C(changed_since=WEEK_AGO)),
    ("what went red since last week", C(changed_since=WEEK_AGO, went_to=[R])),
    ("what turned amber or red this week", C(changed_since=MONDAY, went_to=[R, A])),
    ("which actions moved to blue this month", C(changed_since=d(11, 1), went_to=[B])),
    ("what got worse", C(changed_since=WEEK_AGO, worse=True)),
    ("what slipped in QoP", C(changed_since=WEEK_AGO, worse=True, themes=[QPC, QP])),
    ("what improved", C(changed_since=WEEK_AGO, better=True)),
    ("what got better since 1 October", C(changed_since=d(10, 1), better=True)),
    ("reds since last week", C(changed_since=WEEK_AGO, rags=[R])),
    # Not updated
    ("who hasn't updated?", N(stale_days=7)),
    ("which actions have no update for 3 weeks?", N(stale_days=21)),
    ("not updated in a month", N(stale_days=30)),
    ("not updated in the past month", N(stale_days=30)),
    ("what hasn't been updated for two weeks", N(stale_days=14)),
    ("no update since 1 October", N(stale_days=55)),
    ("stale actions in LAC", N(stale_days=7, themes=[LAC])),
    ("who hasn't responded to the check-in", N(stale_days=7)),
    # Summary, help, plans, and what is not understood
    ("summary", M()), ("how are we doing?", M()), ("how's it going", M()), ("overview", M()),
    ("RAG counts by theme", M()), ("show me the dashboard", M()),
    ("summary of quality of practice", M(themes=[QPC, QP])),
    ("how is the Manchester plan doing", M(plan=MANCHESTER)),
    ("in the Tameside plan", M(plan=TAMESIDE)), ("Rochdale improvement notice", M(plan=NOTICE)),
    ("Rochdale council plan", M(plan=COUNCIL)), ("help", H()), ("what can you ask", H()),
    ("examples", H()), ("how do I use this?", H()), ("?", H()),
    ("help me find red actions", L(rags=[R])), ("show all actions", L()),
    ("book me a meeting room for tuesday", U()),
    ("what's the weather like in Manchester?", U(plan=MANCHESTER)), ("thank you", U()), ("", U()),
    # Everything at once
    ("red actions in Quality of Practice due this month for Karen Dolton",
     L(rags=[R], themes=[QPC, QP], leads=[KAREN], **NOV)),
    ("red or amber actions in QoP for Karen Dolton and D Copley due before 31 March",
     L(rags=[R, A], themes=[QPC, QP], leads=[KAREN, *COPLEY], due_to=NEXT_MARCH)),
    ("what's red in the Tameside plan due next month", L(plan=TAMESIDE, rags=[R], **DEC)),
    ("overdue actions for Head of Commissioning", L(overdue=True, leads=["Head of Commissioning"])),
    ("what's outstanding for Karen in LAC", L(open_only=True, leads=[KAREN], themes=[LAC])),
]


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    """Plans, themes, lead cells (as written), refs and objectives of the four real plans."""
    plans, themes, leads, refs, objectives = [], [], [], [], {}
    for path in sorted(PLANS.glob("*.txt")):
        draft = read_plan_file(path)
        plans.append(draft.name)
        themes += [theme.name for theme in draft.themes]
        refs += [action.ref for _, action in draft.all_actions()]
        leads += [lead.name for _, action in draft.all_actions() for lead in action.leads]
        objectives |= {objective.ref: objective.text for objective in draft.objectives}
    return Vocabulary(plans=plans, themes=list(dict.fromkeys(themes)), objectives=objectives,
                      leads=list(dict.fromkeys(leads)), refs=list(dict.fromkeys(refs)))


@pytest.fixture(scope="module")
def matcher(vocab: Vocabulary) -> Matcher:
    """The prepared vocabulary."""
    return Matcher(vocab)


@pytest.mark.parametrize(("question", "expected"), CASES, ids=[q or "<empty>" for q, _ in CASES])
def test_phrasing(matcher: Matcher, question: str, expected: dict) -> None:
    """Every field of the Query is exactly as expected (the note is checked elsewhere)."""
    got = matcher.parse(question, today=TODAY)
    assert got == Query(text=question, note=got.note, **expected)


@pytest.mark.parametrize(("question", "objective"), [
    ("actions for the youth service objective", "CS18005"), ("SEND reforms actions", "CS18006"),
    ("what's in the ofsted action plan objective?", "CS18008"), ("adoption panel", "24"),
    ("whats overdue in school readiness", "CS18007"), ("MASS team audit", "2.2"),
    ("domestic violance notifications", "23"), ("emergency duty service", "9"),
    ("what's overdue?", None), ("show the plan", None), ("actions for Karen", None),
    ("what's happening with the weather", None), ("send me the reds", None),
    ("strategy actions", None), ("school actions", None), ("care leavers", None),
    ("social workers actions", None), ("workforce stability actions", None),  # a theme first
])
def test_objective_titles(vocab: Vocabulary, matcher: Matcher, question: str,
                          objective: str | None) -> None:
    """An objective named by its topic scopes the list to its actions; generic words never do."""
    got, plain = (m.parse(question, today=TODAY) for m in (
        matcher, Matcher(vocab.model_copy(update={"objectives": {}}))))
    if objective is None:  # exactly as if the plans had no objectives
        assert got == plain
    else:
        assert (got.intent, got.refs) == ("list", [r for r in vocab.refs if r == objective or (
            r.startswith(objective) and not r[len(objective)].isdigit())])


@pytest.mark.parametrize(("question", "note"), [
    ("sarah's actions",
     "'sarah' could be more than one lead (Sarah Jackson, Lana Shannon/ Sarah Henry)"),
    ("what's late for Jane", "'jane' could be more than one lead (Jane Johnson, Jane Johnston)"),
    ("show 27a", "no action 27a in the plans"),
    ("red actions for Bob Smith", "no lead called Bob Smith in the plans"),
    ("overview of Rochdale", f"which plan: {COUNCIL}, {NOTICE}?"),
    ("'; DROP TABLE actions; --", "not understood: drop table"),
    ("red actions in Narnia", "ignored: narnia"),
    ("what's the weather like in Manchester?", "not understood: weather"),
    ("🔥🔥🔥", "nothing in it to look for"),
    ("", "no question found"),
    ("reds", None),
])
def test_notes(matcher: Matcher, question: str, note: str | None) -> None:
    """The note says what was ambiguous, missing or not understood."""
    assert matcher.parse(question, today=TODAY).note == note


def test_people_vocabulary(vocab: Vocabulary) -> None:
    """A vocabulary of individual people (as answer.py builds it) works the same way."""
    split = vocab.model_copy(update={"leads": sorted({"SH"} | {
        person for cell in vocab.leads for person in lead_people(cell)})})
    assert parse("S Jackson's actions", split, today=TODAY).leads == ["S Jackson"]
    assert parse("what is SH responsible for?", split, today=TODAY).leads == ["SH"]
    assert parse("Sarah Henry", split, today=TODAY).leads == ["Sarah Henry"]
    assert parse("Jancie's actions", split, today=TODAY).leads == ["Jancie Schofield"]


@pytest.mark.parametrize(("today", "question", "fields"), [
    (d(12, 31), "due in January", {"due_from": d(1, 1, 2027), "due_to": d(1, 31, 2027)}),
    (d(1, 5, 2027), "since 1 December", {"changed_since": d(12, 1)}),
    (d(1, 5, 2027), "due before 31 March", {"due_to": d(3, 31, 2027)}),
    (d(3, 31, 2027), "due before 31 March", {"due_to": d(3, 31, 2027)}),
    (d(4, 1, 2027), "due before 31 March", {"due_to": d(3, 31, 2028)}),
    (d(11, 23), "what changed this week", {"changed_since": d(11, 23)}),
    (d(11, 29), "due this week", {"due_from": d(11, 23), "due_to": d(11, 29)}),
    (d(2, 29, 2028), "due between 1 Dec and 29 Feb", {"due_from": d(12, 1, 2027),
                                                      "due_to": d(2, 29, 2028)}),
])
def test_relative_to_today(matcher: Matcher, today: date, question: str, fields: dict) -> None:
    """Dates without a year are the nearest ahead (due) or behind (since) the day asked."""
    got = matcher.parse(question, today=today)
    assert {key: getattr(got, key) for key in fields} == fields


HOSTILE = [  # and two that are not even text
    "x" * 1_000_000, "red " * 5000, "🔥" * 3000, "\x00\x01\x02\x1b[31mred\x1b[0m", "\u202eder",
    "'; DROP TABLE actions; --", "<script>alert('red')</script>", "<b>red</b> &amp; amber",
    "\ud800\udfff", "../../etc/passwd", "${jndi:ldap://x}", "1.1.1.1.1.1.1", "31/02/2027 99.99.99",
    "between 30 Feb and 31 Apr", "due 2027-13-45", "999999999999999999999 days", "\t\n\r",
    "a" * 2000 + " 2.4", "%s%n%x", "null", "NaN", "-1", "0.0", "ｒｅｄ", "R\u0415D", None, 24,
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_never_raises(matcher: Matcher, text: str | None) -> None:
    """Any text gives a Query; the text kept is cleaned and at most 1,000 characters."""
    got = matcher.parse(text, today=TODAY)  # type: ignore[arg-type]
    assert isinstance(got, Query) and len(got.text) <= 1000
    assert not any(ord(c) < 32 for c in got.text)


def test_cached_matcher(vocab: Vocabulary) -> None:
    """parse() builds the Matcher once per vocabulary and answers like Matcher.parse."""
    parse("reds", vocab, today=TODAY)
    hits = _matcher.cache_info().hits
    parse("ambers", vocab.model_copy(), today=TODAY)
    assert _matcher.cache_info().hits == hits + 1
    assert parse("reds in QoP", vocab, today=TODAY) == Matcher(vocab).parse("reds in QoP",
                                                                            today=TODAY)


def test_speed(vocab: Vocabulary) -> None:
    """1,000 of the 120+ phrasings against 300 leads, 20 themes and 2,000 refs in under 2 s."""
    assert len(CASES) >= 120 and len({q for q, _ in CASES}) == len(CASES)
    first = "Al Bea Cy Di Ed Flo Gus Hal Ian Jo Kit Lu Max Ned Oz Pip Rex Sue Tom Una"
    last = "Smith Jones Taylor Brown Wilson Evans Thomas Roberts Walker Wright Hall Wood Lee Khan"
    leads = (vocab.leads + [f"{a} {b}" for a in first.split() for b in last.split()])[:300]
    themes = (vocab.themes + [f"Theme {n} about {w}" for n, w in enumerate(
        "housing health finance youth justice adoption fostering".split())])[:20]
    refs = (vocab.refs + [f"R{n}.{m}" for n in range(1, 300) for m in range(1, 10)])[:2000]
    assert (len(leads), len(themes), len(refs)) == (300, 20, 2000)
    matcher = Matcher(Vocabulary(plans=vocab.plans, themes=themes, leads=leads, refs=refs,
                                 objectives=vocab.objectives))
    questions = [q for q, _ in CASES] + ["Ned Hall's reds", "R17.3", "Quallity practise Al Wood"]
    started = time.perf_counter()
    for n in range(1000):
        matcher.parse(questions[n % len(questions)], today=TODAY)
    assert time.perf_counter() - started < 2.0


def test_table_precheck_changes_no_answer(vocab: Vocabulary, monkeypatch) -> None:
    """The parser skips a table of phrases when its one combined pattern finds nothing: every
    phrasing parses the same as when each phrase is scanned."""
    questions = [q for q, _ in CASES] + ["who hasn't updated since the end of March?",
                                         "red or amber and got worse this month in QoP"]
    quick = [Matcher(vocab).parse(q, today=TODAY) for q in questions]
    always = re.compile("")
    monkeypatch.setattr(phrases, "PRE_ANY", always)
    monkeypatch.setattr(phrases, "POST_ANY", always)
    assert [Matcher(vocab).parse(q, today=TODAY) for q in questions] == quick


_PHRASE_WORDS = sorted(set(re.findall(r"[a-z]+", " ".join(
    p.pattern for _, p in phrases.PRE_PHRASES + phrases.POST_PHRASES))))


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.sampled_from(_PHRASE_WORDS + ["red", "x", "2"]), max_size=12))
def test_table_precheck_finds_whatever_a_phrase_finds(words: list[str]) -> None:
    text = " ".join(words)
    for table, anything in ((phrases.PRE_PHRASES, phrases.PRE_ANY),
                            (phrases.POST_PHRASES, phrases.POST_ANY)):
        assert (anything.search(text) is not None) == any(
            pattern.search(text) for _, pattern in table)
