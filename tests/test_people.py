"""People and leads: suggestions from real plan leads, upsert, link/unlink, whose actions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from storage.importers.registry import read_plan_file
from storage.models import Action, ActionLead, Person
from storage.people import (
    actions_for_person,
    auto_link,
    lead_people,
    lead_report,
    link_lead,
    linked_people,
    normalise,
    suggest,
    unlink_lead,
    upsert_person,
)
from storage.plans import save_draft
from tests.truthcheck import PLANS

MANCHESTER = "manchester-improvement-plan-2015-rag.txt"
TAMESIDE = "tameside-improvement-plan-2023.txt"
TODAY = date(2026, 11, 25)

ROSTER = [
    (1, "Karen Dolton", "karen.dolton@manchester.gov.uk", ""),
    (2, "Gladys Rhodes White", None, ""),
    (3, "David Copley", "david.copley@manchester.gov.uk", ""),
    (4, "Steve Rawlinson", "steve.rawlinson@gmp.police.uk", ""),
    (5, "Sarah Jackson", None, ""),
    (6, "Janice Schofield", None, ""),
    (7, "Kerry Mehta", None, ""),
    (8, "Ian Williamson", None, ""),
    (9, "Anna Berry", None, ""),
    (10, "Sarah Holt", None, ""),
    (11, "Heather Johns", None, "Head of SEND"),
    (12, "Geoffrey Little", "geoff.little@manchester.gov.uk", ""),
    (13, "Jane Johnson", None, ""),
    (14, "Shannon, Lana (Children's Services)", None, ""),
    (15, "Dr John Edwards", None, ""),
]
NAMES = {pid: name for pid, name, _, _ in ROSTER}


@pytest.mark.parametrize(("lead", "person", "confidence", "exact"), [
    # names written in full, in any case and punctuation
    ("Karen Dolton", 1, 100, True),
    ("karen  DOLTON.", 1, 100, True),
    ("karen.dolton@manchester.gov.uk", 1, 100, True),
    ("Gladys Rhodes White", 2, 100, True),
    ("Gladys Rhodes-White", 2, 100, True),
    ("Sarah Jackson", 5, 100, True),
    ("Janice Schofield", 6, 100, True),
    ("Kerry Mehta", 7, 100, True),
    ("Ian Williamson", 8, 100, True),
    ("Anna Berry", 9, 100, True),
    ("Lana Shannon", 14, 100, True),  # "Surname, First (team)" as directories write it
    ("John Edwards", 15, 100, True),
    ("Head of SEND", 11, 100, True),  # a job title an alias says who holds
    # initials, surnames, titles, typos
    ("D Copley", 3, 90, False),
    ("D. Copley", 3, 90, False),
    ("D.Copley", 3, 90, False),
    ("D Copely", 3, 80, False),
    ("S. Rawlinson", 4, 90, False),
    ("Supt S Rawlinson", 4, 90, False),
    ("S Jackson", 5, 90, False),
    ("SUPT RAWLINSON", 4, 70, False),
    ("Rawlinson", 4, 70, False),
    ("SH", 10, 75, False),
    ("GRW", 2, 75, False),
    ("KD", 1, 75, False),
    ("Gladys White", 2, 85, False),
    ("Rhodes White", 2, 70, False),
    ("Jancie Schofield", 6, 88, False),
    ("Jane Johnston", 13, 91, False),
    ("Cllr Karen Dolton", 1, 95, False),
    ("Dr Sarah Holt", 10, 95, False),
    ("Geoff Little", 12, 95, False),  # from the email address
])
def test_suggestions_for_real_plan_leads(lead, person, confidence, exact):
    found = suggest(lead, ROSTER)
    assert found is not None, lead
    assert (NAMES[found.person_id], found.confidence, found.exact) == (
        NAMES[person], confidence, exact)
    assert not found.ambiguous and found.auto_linkable == exact


@pytest.mark.parametrize("lead", [
    # job titles and bodies never match a name without an alias
    "AD Children's Social Care", "AD Education", "AD QA and Improvement", "DMT", "DCS", "SLT",
    "Head of Commissioning", "Head of Audit", "Lead Member", "Chair of Safeguarding Board",
    "Assistant Director of People and Workforce Development", "Children's Performance Lead",
    # people not on the roster, or too little to go on
    "Julie Heslop", "Sarah Henry", "Karen", "", "   ", "Jill Meredith",
])
def test_no_suggestion(lead):
    assert suggest(lead, ROSTER) is None


def test_every_real_lead_cell_gets_a_verdict():
    cells = {lead.name for file in (MANCHESTER, TAMESIDE)
             for _, action in read_plan_file(PLANS / file).all_actions() for lead in action.leads}
    people = {name for cell in cells for name in lead_people(cell)}
    assert len(people) >= 40
    suggested = {name for name in people if suggest(name, ROSTER)}
    assert {"D Copley", "S Jackson", "S. Rawlinson", "SUPT RAWLINSON", "Jancie Schofield",
            "Karen Dolton"} <= suggested
    titles = {name for name in suggested if name.startswith(("AD ", "Head of", "DMT", "DCS"))}
    assert titles == {"Head of SEND"}  # the one an alias names


def test_ambiguous_names_are_never_exact_enough():
    roster = [*ROSTER, (20, "Simon Jackson", None, ""), (21, "Sarah Henry", None, ""),
              (22, "Sarah Jackson", "sarah.jackson2@tameside.gov.uk", "")]
    two = suggest("S Jackson", roster)
    assert two.ambiguous and set(two.matches) == {5, 20, 22} and not two.auto_linkable
    same = suggest("Sarah Jackson", roster)
    assert same.exact and same.matches == (5, 22) and not same.auto_linkable
    initials = suggest("SH", roster)
    assert set(initials.matches) == {10, 21} and not initials.auto_linkable
    assert suggest("sarah.jackson2@tameside.gov.uk", roster).auto_linkable


@pytest.mark.parametrize(("cell", "people"), [
    ("S. Rawlinson/S Jackson", ["S. Rawlinson", "S Jackson"]),
    ("Kerry Mehta for assessment teams. Jancie Schofield for LAC",
     ["Kerry Mehta", "Jancie Schofield"]),
    ("Kerry Mehta / Janice Schofield", ["Kerry Mehta", "Janice Schofield"]),
    ("Lana Shannon/ Sarah Henry", ["Lana Shannon", "Sarah Henry"]),
    ("Heather Johns and Jill Meredith", ["Heather Johns", "Jill Meredith"]),
    ("D Copley, Karen Dolton & Ian Williamson", ["D Copley", "Karen Dolton", "Ian Williamson"]),
    ("Karen Dolton (Strategic Director)", ["Karen Dolton"]),
    ("Mrs. Smith. Mr. Jones for audit", ["Mrs. Smith", "Mr. Jones"]),
    ("Kerry Mehta for LAC. Jancie Schofield", ["Kerry Mehta", "Jancie Schofield"]),
    ("Supt. Rawlinson", ["Supt. Rawlinson"]),
    ("Karen Dolton/karen dolton", ["Karen Dolton"]),
    ("AD People and Workforce Development", ["AD People and Workforce Development"]),
    ("Lead Member for Children", ["Lead Member"]),
    ("SUPT RAWLINSON", ["SUPT RAWLINSON"]),
    ("D.Copley", ["D.Copley"]),
    ("", []),
])
def test_lead_people_splits_cells(cell, people):
    assert lead_people(cell) == people


def test_normalise_ignores_case_punctuation_and_spaces():
    assert normalise(" D.Copley ") == normalise("d  copley") == "d copley"
    assert normalise("Children\u2019s  Social-Care") == "childrens social care"
    assert normalise("Zo\u00eb Brontë") == "zoe bronte"


# --- Database -----------------------------------------------------------------------------------


async def _import(sessions, now, *files: str) -> list[int]:
    ids = []
    async with sessions() as session, session.begin():
        for file in files:
            report = await save_draft(session=session, draft=read_plan_file(PLANS / file), now=now)
            ids.append(report.plan.id)
    return ids


async def _roster(session, now, roster=ROSTER) -> dict[str, Person]:
    people = {}
    for _, name, email, aliases in roster:
        person = Person(display_name=name, email=email, aliases=aliases, created_at=now)
        session.add(person)
        people[name] = person
    await session.flush()
    return people


async def test_upsert_person_never_duplicates(sessions, now):
    async with sessions() as session, session.begin():
        first = await upsert_person(session=session, display_name="Sarah Holt",
                                    teams_user_id=None, aad_object_id=None,
                                    email="Sarah.Holt@Council.gov.uk", now=now)
        by_email = await upsert_person(session=session, display_name="Holt, Sarah",
                                       teams_user_id="29:abc", aad_object_id="aad-1",
                                       email="sarah.holt@council.gov.uk", now=now)
        by_teams = await upsert_person(session=session, display_name="Sarah Holt (Children)",
                                       teams_user_id="29:abc", aad_object_id=None, email=None,
                                       now=now)
        by_aad = await upsert_person(session=session, display_name="Sarah Holt",
                                     teams_user_id="29:new", aad_object_id="aad-1", email=None,
                                     now=now)
        other = await upsert_person(session=session, display_name="Sarah Henry",
                                    teams_user_id="29:def", aad_object_id="aad-2", email=None,
                                    now=now)
    assert first.id == by_email.id == by_teams.id == by_aad.id != other.id
    async with sessions() as session:
        people = (await session.execute(select(Person).order_by(Person.id))).scalars().all()
    assert len(people) == 2
    holt = people[0]
    assert (holt.display_name, holt.teams_user_id, holt.aad_object_id, holt.email) == (
        "Sarah Holt", "29:new", "aad-1", "sarah.holt@council.gov.uk")
    assert holt.created_at == now


async def test_upsert_person_moves_a_teams_id_off_a_stale_row(sessions, now):
    async with sessions() as session, session.begin():
        stale = await upsert_person(session=session, display_name="Old account",
                                    teams_user_id="29:abc", aad_object_id=None, email=None, now=now)
        fresh = await upsert_person(session=session, display_name="Sarah Holt",
                                    teams_user_id=None, aad_object_id="aad-1", email=None, now=now)
        again = await upsert_person(session=session, display_name="Sarah Holt",
                                    teams_user_id="29:abc", aad_object_id="aad-1", email=None,
                                    now=now)
        assert again.id == fresh.id != stale.id
        assert stale.teams_user_id is None and again.teams_user_id == "29:abc"


async def _lead_rows(session, plan_id: int) -> list[tuple[int, str, int | None]]:
    rows = await session.execute(
        select(ActionLead.action_id, ActionLead.name, ActionLead.person_id)
        .join(Action, Action.id == ActionLead.action_id).where(Action.plan_id == plan_id))
    return [tuple(row) for row in rows.all()]


async def test_link_and_unlink_on_the_manchester_plan(sessions, now):
    [plan_id] = await _import(sessions, now, MANCHESTER)
    async with sessions() as session, session.begin():
        people = await _roster(session, now)
        copley, steve, sarah = (people[n] for n in
                                ("David Copley", "Steve Rawlinson", "Sarah Jackson"))
        janice = people["Janice Schofield"]
        assert await link_lead(session=session, lead="d copley", person=copley) == 7
        assert await link_lead(session=session, lead="S Jackson", person=sarah) == 3
        assert await link_lead(session=session, lead="S. Rawlinson", person=steve) == 3
        assert await link_lead(session=session, lead="Jancie Schofield", person=janice) == 4
        assert await link_lead(session=session, lead="Janice Schofield", person=janice) == 9
        assert await link_lead(session=session, lead="Nobody Here", person=janice) == 0
        assert copley.aliases == "d copley" and janice.aliases.split("|") == [
            "Jancie Schofield", "Janice Schofield"]
        ids = (copley.id, steve.id, sarah.id, janice.id)
    async with sessions() as session:
        rows = await _lead_rows(session, plan_id)
        links = await linked_people(session=session, plan_id=plan_id)
    copley_id, steve_id, sarah_id, janice_id = ids
    by_cell = {}
    for action_id, cell, person_id in rows:
        by_cell.setdefault(normalise(cell), set()).add(person_id)
        if cell == "S. Rawlinson/S Jackson":
            assert links[action_id] == [copley_id, steve_id, sarah_id]  # both cells
    assert by_cell["d copley"] == {copley_id}
    assert by_cell["s rawlinson s jackson"] == {steve_id}  # the first person of the cell
    assert by_cell["kerry mehta janice schofield"] == {janice_id}  # Kerry is not linked yet
    assert by_cell["karen dolton"] == {None}

    async with sessions() as session, session.begin():
        assert await unlink_lead(session=session, lead="S.Rawlinson") == 3
        assert await unlink_lead(session=session, lead="S.Rawlinson") == 0
        assert await unlink_lead(session=session, lead="Jancie Schofield") == 4
        assert await unlink_lead(session=session, lead="Never Linked") == 0
        steve = await session.get(Person, steve_id)
        assert steve.aliases == ""
    async with sessions() as session:
        rows = await _lead_rows(session, plan_id)
    assert {pid for _, cell, pid in rows if cell == "S. Rawlinson/S Jackson"} == {sarah_id}
    assert {pid for _, cell, pid in rows if cell.startswith("Kerry Mehta for")} == {None}


async def test_link_moves_a_lead_from_one_person_to_another(sessions, now):
    await _import(sessions, now, MANCHESTER)
    async with sessions() as session, session.begin():
        people = await _roster(session, now)
        await link_lead(session=session, lead="SUPT RAWLINSON", person=people["Sarah Holt"])
        assert await link_lead(session=session, lead="Supt Rawlinson",
                               person=people["Steve Rawlinson"]) == 4
        assert people["Sarah Holt"].aliases == ""
        assert people["Steve Rawlinson"].aliases == "Supt Rawlinson"


async def test_lead_report_lists_every_lead_and_the_unmatched_job_titles(sessions, now):
    manchester, tameside = await _import(sessions, now, MANCHESTER, TAMESIDE)
    async with sessions() as session, session.begin():
        people = await _roster(session, now)
        await link_lead(session=session, lead="D Copley", person=people["David Copley"])
        report = await lead_report(session=session, plan_id=tameside)
        everything = await lead_report(session=session)
        local = await lead_report(session=session, plan_id=manchester)
    titles = {entry.lead for entry in report.unmatched}
    assert {"AD Children's Social Care", "DMT", "Head of Commissioning", "DCS", "SLT",
            "Lead Member"} <= titles
    send = next(e for e in report.entries if e.lead == "Head of SEND")  # linked by an alias
    assert send.person_id is not None and send.suggestion is None  # linked: nothing to suggest
    assert [e.lead for e in report.entries if e.suggestion] == []
    assert all(entry.role for entry in report.unmatched)
    ad = next(entry for entry in report.entries if entry.lead == "AD Children's Social Care")
    assert ad.actions == 12 and ad.person_id is None

    async with sessions() as session:
        cells = (await session.execute(select(ActionLead.name).distinct())).scalars().all()
    wanted = {normalise(name) for cell in cells for name in lead_people(cell)}
    assert {normalise(entry.lead) for entry in everything.entries} == wanted  # nothing dropped
    assert len(everything.entries) == len(local.entries) + len(report.entries)

    entries = {entry.lead: entry for entry in local.entries}
    copley = entries["D Copley"]
    assert set(copley.spellings) == {"D Copley", "D. Copley", "D.Copley"}
    assert copley.actions == 7
    assert copley.person_name == "David Copley"
    assert entries["Jancie Schofield"].suggestion.display_name == "Janice Schofield"
    assert entries["Julie Heslop"] in local.unmatched
    assert entries["SUPT RAWLINSON"] in local.suggested
    lines = local.describe_unlinked()
    assert "Jancie Schofield (4 actions): Janice Schofield? (88%, similar name)" in lines
    assert not any(line.startswith("D Copley") for line in lines)
    assert any(line.startswith("DMT (2 actions): a job title") for line in
               report.describe_unlinked())


async def test_auto_link_links_only_exact_unambiguous_matches(sessions, now):
    await _import(sessions, now, MANCHESTER, TAMESIDE)
    roster = [*ROSTER, (20, "Sarah Jackson", "sarah.jackson@other.gov.uk", "")]
    async with sessions() as session, session.begin():
        await _roster(session, now, roster)
        made = dict(await auto_link(session=session))
        again = await auto_link(session=session)
    assert {"Karen Dolton", "Gladys Rhodes White", "Kerry Mehta", "Janice Schofield",
            "Anna Berry", "Ian Williamson", "Jane Johnson", "Heather Johns", "Lana Shannon",
            "John Edwards"} == set(made)
    assert again == []
    async with sessions() as session:
        report = await lead_report(session=session)
        send = await session.execute(select(Person.display_name).join(
            ActionLead, ActionLead.person_id == Person.id).where(
            ActionLead.name == "Head of SEND"))
    assert send.scalars().all() == ["Heather Johns"]  # linked by its alias already
    unlinked = {entry.lead for entry in report.entries if entry.person_id is None}
    assert {"Sarah Jackson", "S Jackson", "D Copley", "Jancie Schofield", "SUPT RAWLINSON",
            "Jane Johnston", "DMT"} <= unlinked


async def test_actions_for_person_with_a_delegate(sessions, now):
    [plan_id] = await _import(sessions, now, MANCHESTER)
    async with sessions() as session, session.begin():
        people = await _roster(session, now)
        karen, sarah, holt = people["Karen Dolton"], people["Sarah Jackson"], people["Sarah Holt"]
        await link_lead(session=session, lead="Karen Dolton", person=karen)
        await link_lead(session=session, lead="S Jackson", person=sarah)
        await link_lead(session=session, lead="Sarah Jackson", person=sarah)
        await link_lead(session=session, lead="S. Rawlinson", person=people["Steve Rawlinson"])
        actions = (await session.execute(select(Action).where(
            Action.plan_id == plan_id))).scalars().all()
        by_ref = {action.ref: action for action in actions}
        karen_refs = set(await _refs_led_by(session, "Karen Dolton"))
        by_ref["3a"].rag = "blue"  # achieved: no longer asked about
        own = await actions_for_person(session=session, person=karen, today=TODAY)
        assert "3a" in karen_refs and len(karen_refs) == 39
        assert {a.ref for a in own} == karen_refs - {"3a"} and len(own) == len(karen_refs) - 1
        jackson = await actions_for_person(session=session, person=sarah, today=TODAY)
        assert {a.ref for a in jackson} == {"10e", "10f", "10g", "23a", "23b"}

        karen.delegate_id = holt.id
        karen.away_until = TODAY
        delegated = await actions_for_person(session=session, person=holt, today=TODAY)
        assert {a.ref for a in delegated} == {a.ref for a in own}
        assert await actions_for_person(session=session, person=holt, today=TODAY,
                                        include_delegated=False) == []
        back = await actions_for_person(session=session, person=holt,
                                        today=TODAY + timedelta(days=1))
        assert back == []
        assert [a.position for a in own] == sorted(a.position for a in own)
        count = await session.scalar(select(func.count(Person.id)))
        assert count == len(ROSTER)


async def _refs_led_by(session, name: str) -> list[str]:
    rows = await session.execute(select(Action.ref).join(
        ActionLead, ActionLead.action_id == Action.id).where(ActionLead.name == name))
    return list(rows.scalars())
