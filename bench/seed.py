"""A seeded synthetic regional dataset: plans, themes, objectives, actions, leads, people and
two years of status updates, written in bulk (SQLite executemany, PostgreSQL COPY).

Full size (scale 1.0): 150 plans, 10,000 people, 20,000 actions, 1,000,000 status updates
ending at NOW. Plan 1 always has DIGEST_ACTIONS actions (the digest benchmark's plan). Each
action's RAG cache (rag, impact_rag, rating_change, last_update_at) is left exactly as
storage.updates.record_update would leave it after replaying its history in order.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from dialogs.ask import phrases as ph
from storage.db import make_engine, migrate
from storage.plans import slugify
from storage.rules import parse_due, parse_rag, rating_change, ref_key

SEED_VERSION = 1  # bump when the generated data changes, so cached files are rebuilt
TODAY = date(2026, 11, 27)  # a Friday; the benchmark asks its questions on this day
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HISTORY_DAYS = 730
FULL = {"plans": 150, "people": 10_000, "actions": 20_000, "updates": 1_000_000}
DIGEST_ACTIONS = 300
BATCH = 50_000

# Theme names as the real plans write them (../shared/plans).
THEMES = [
    "Vision, Leadership & Governance", "Quality of practice and capacity",
    "Looked after children, permanence and leaving care", "Provision of help",
    "Improving Performance Information and quality assurance", "Leadership and Governance",
    "Quality of Practice", "Local Safeguarding Children's Board",
    "Early Help and Partnership Working", "Improvement support measures",
    "Working in Partnership", "Commissioning and Sufficiency", "Leadership and Workforce",
]
# Plan 1 (the digest plan, the one the benchmark questions are about) has these themes.
PLAN1_THEMES = ["Quality of Practice", "Working in Partnership", "Commissioning and Sufficiency",
                "Leadership and Workforce", "Looked after children, permanence and leaving care"]
ROLES = ["DMT", "AD Children's Social Care", "AD QA and Improvement", "Head of Virtual School",
         "Children's Performance Lead", "AD Education"]
_COUNCILS = """Barnsley Bolton Oldham Rochdale Tameside Stockport Trafford Wigan Salford Bradford
Calderdale Kirklees Wakefield Doncaster Rotherham Sheffield Gateshead Sunderland Newcastle
Middlesbrough Stockton Hartlepool Darlington Redcar Northumberland Cumbria Lancashire Blackpool
Blackburn Knowsley Liverpool Sefton Wirral Halton Warrington Cheshire Derbyshire Derby Nottingham
Nottinghamshire Leicester Leicestershire Rutland Lincolnshire Northamptonshire Birmingham Coventry
Dudley Sandwell Solihull Walsall Wolverhampton Staffordshire Stoke Shropshire Telford
Herefordshire Worcestershire Warwickshire Gloucestershire Bristol Somerset Devon Plymouth Torbay
Cornwall Dorset Bournemouth Wiltshire Swindon Hampshire Southampton Portsmouth Surrey Kent Medway
Brighton Sussex Oxfordshire Buckinghamshire Bracknell Slough Windsor Wokingham Hertfordshire Essex
Southend Thurrock Suffolk Norfolk Cambridgeshire Peterborough Bedford Luton Barnet Camden Croydon
Ealing Enfield Greenwich Hackney Hammersmith Haringey Harrow Havering Hillingdon Hounslow
Islington Kensington Lambeth Lewisham Merton Newham Redbridge Richmond Southwark Wandsworth
Westminster Bexley Bromley Brent York Hull Leeds Manchester Kingston Durham Westmorland Ashford
Basildon Basingstoke Bassetlaw Blaby Bolsover Braintree Breckland Broxtowe Burnley Cannock
Canterbury Charnwood Chelmsford Cheltenham Cherwell Chesterfield Chichester Colchester Copeland
Crawley Dacorum Dartford Daventry Eastbourne Eastleigh Elmbridge Erewash Exeter Fareham Fenland
Gedling Gosport Gravesham Harlow Harrogate Hastings Hertsmere Hinckley Hyndburn Ipswich Kettering
Lichfield Maidstone Maldon Malvern Mansfield Mendip Redditch Reigate Rossendale Runnymede
Rushcliffe Rushmoor Sedgemoor Selby Sevenoaks Spelthorne Stevenage Stroud Swale Tamworth Tandridge
Tendring Tewkesbury Thanet Tonbridge Uttlesford Watford Waverley Wealden Welwyn Woking Worthing
Wychavon""".split()
_FIRST = """Karen Sarah David James John Michael Paul Andrew Peter Helen Claire Emma Rachel Julie
Susan Alison Louise Nicola Joanne Lisa Angela Jane Catherine Elizabeth Anne Mary Fiona Gillian
Amanda Deborah Caroline Hannah Laura Rebecca Victoria Natalie Kelly Michelle Samantha Stephen
Richard Robert Christopher Daniel Matthew Simon Neil Gary Ian Kevin Steven Graham Anthony William
Jonathan Alan Colin Keith Philip Stuart Jason Darren Craig Wayne Carl Adrian Nigel Geoff Gladys
Kerry Tracey Sharon Lorraine Diane Janet Pauline Maureen Bernadette Siobhan Aisha Priya Fatima
Yasmin Imran Asif Tariq Rajesh Sunita Mohammed Nadia Zoe Sophie Chloe Gemma Kate Ruth Eleanor
Harriet Oliver Samuel Joseph Benjamin Rhys Gareth Dylan Bethan Ceri Alistair Moira Hamish Agnes
Lucy Megan Jessica Amy Charlotte Abigail Georgia Holly""".split()
_LAST = """Smith Jones Taylor Williams Davies Evans Johnson Roberts Walker Wright Robinson
Thompson Hughes Edwards Wood Harris Lewis Jackson Clarke Turner Hill Scott Cooper Morris Ward Moore
Watson Baker Harrison Morgan Patel Allen Mitchell Phillips Campbell Parker Bennett Cook Shaw
Richardson Carter Marshall Collins Murphy Bell Dolton Holt Rawlinson Copley Rhodes Schofield
Mehta Ahmed Khan Ali Hussain Begum Singh Kaur Chapman Gray Ellis Price Adams Wilkinson Foster
Chambers Lloyd Webb Barnes Fisher Fletcher Mills Holmes Knight Palmer Mason Hunt Stevens Dixon
Pearson Russell Simpson Butler Bailey Matthews Lawrence Gibson Reynolds Saunders Payne Pearce
Wells Ross Hudson Kennedy Burton Dawson Howard Gordon Ferguson Holland Atkinson Hamilton
Cunningham Burns Hayes Armstrong Barker Newman Brooks Jenkins Lamb Porter Riley Nicholson Spencer
Parkinson Brennan Doyle Quinn Gallagher Byrne Farrell Sharma Choudhury Rahman Okafor Mensah Osei
Nowak Kowalski Fernandes Costa Rossi Duffy Kerr Muir Sinclair Fraser Pritchard Vaughan Griffiths
Powell Howells Bevan Parry Rees Whitworth Ashworth Haworth Kershaw Entwistle Greenwood
Sutcliffe Crossley Ormerod Lomax Hargreaves Pilkington Halliwell Ramsbottom Kenyon
Openshaw""".split()
PROGRESS = [
    "On track; partners met this week.", "Awaiting sign-off at DMT.",
    "Audit completed, findings shared with team managers.", "Recruitment under way.",
    "Delayed: waiting for the new case management system.", "Training delivered to 40 staff.",
    "Draft strategy out for consultation.", "Reported to the Improvement Board.",
    "Data cleansing in progress.", "Pilot running in two localities.", None, None,
]
_ACTION_TEXTS = [
    "Review the number of cases held by all staff, including newly qualified social workers",
    "Implement the revised supervision policy and audit its use",
    "Develop a workforce strategy to recruit and retain experienced social workers",
    "Ensure all children in care have an up to date care plan",
    "Embed the quality assurance framework and report monthly to DMT",
    "Deliver the Family Service Model including the roll out of locality hubs",
    "Improve the timeliness of initial health assessments for children looked after",
    "Strengthen management oversight of child protection plans",
    "Provide sufficient placements close to home for children in care",
    "Review the early help offer with partners and publish the new pathway",
    "Commission an independent review of the front door",
    "Improve pathway plans for care leavers aged 16 and over",
    "Establish a performance clinic chaired by the Director",
    "Increase the number of in-house foster carers",
    "Undertake a multi-agency audit of neglect cases",
    "Refresh the Local Safeguarding Children's Board business plan",
    "Launch the practice model and train all practitioners",
    "Reduce the use of agency social workers",
    "Implement the case management system upgrade",
    "Publish the sufficiency strategy and commissioning plan",
]
_OBJECTIVE_TEXTS = [
    "Children and young people receive a consistently good service",
    "The views, experiences and engagement with children and young people shape services",
    "We have the right resources in the right place to meet the needs of children",
    "Leaders and managers have a clear line of sight on practice",
    "Improve the quality and consistency of social work practice",
    "Provide stable homes for children looked after and care leavers",
    "Strengthen partnership working and the early help offer",
    "Build a stable, skilled and supported workforce",
    "Use performance information to drive improvement",
    "Ensure effective governance and challenge of the improvement plan",
]
# Words a council or a person's name must not be: the parser reads them as something else.
_TAKEN = ph.KEYWORDS | ph.FILLER | ph.GENERIC | {"may", "june", "april", "august"}


def _clean(names: list[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n.lower() not in _TAKEN))


COUNCILS = _clean(_COUNCILS)
FIRST = _clean(_FIRST)
LAST = [n for n in _clean(_LAST) if n not in COUNCILS]
# RAG transitions of one weekly answer: current -> ((next, probability), ...)
_MOVES = {None: (("amber", .5), ("green", .3), ("red", .2)),
          "red": (("red", .8), ("amber", .17), ("green", .03)),
          "amber": (("amber", .75), ("red", .1), ("green", .14), ("blue", .01)),
          "green": (("green", .82), ("amber", .1), ("blue", .05), ("red", .03)),
          "blue": (("blue", .9), ("green", .1))}
COLUMNS = {
    "person": ("id", "display_name", "aliases", "aad_object_id", "email", "created_at"),
    "plan": ("id", "slug", "name", "organisation", "year", "layout", "rag_scheme", "created_at",
             "updated_at"),
    "theme": ("id", "plan_id", "name", "ref", "position"),
    "objective": ("id", "plan_id", "theme_id", "ref", "ref_key", "text", "position"),
    "action": ("id", "plan_id", "objective_id", "theme_id", "ref", "ref_key", "ref_as_written",
               "text", "due_text", "due_date", "position"),
    "actionlead": ("id", "action_id", "name", "role", "person_id", "position"),
    "statusupdate": ("id", "action_id", "at", "source", "by_person_id", "by_name", "rag",
                     "rag_text", "rating_change", "progress"),
}


@dataclass
class Sizes:
    """How many of each a scale gives."""

    plans: int
    people: int
    actions: int
    updates: int

    @classmethod
    def of(cls, scale: float) -> Sizes:
        """Sizes at a scale of the full regional dataset (1.0)."""
        actions = max(30, round(FULL["actions"] * scale))
        return cls(plans=max(3, round(FULL["plans"] * scale)),
                   people=max(20, round(FULL["people"] * scale)), actions=actions,
                   updates=max(actions * 3, round(FULL["updates"] * scale)))


def _pick(rng: random.Random, moves) -> str:
    roll, total = rng.random(), 0.0
    for rag, p in moves:
        total += p
        if roll < total:
            return rag
    return moves[-1][0]


def _due_text(rng: random.Random, style: str) -> str | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.12:
        return "Ongoing"
    day = TODAY + timedelta(days=rng.randint(-420, 365))
    return {"mon-yy": f"{day:%b-%y}", "full": f"{day.day} {day:%B %Y}",
            "mon yy": f"{day:%b} {day:%y}"}[style]


def _refs(style: str, objective: int, action: int, code: str) -> tuple[str, str]:
    if style == "dotted":
        return str(objective), f"{objective}.{action}"
    if style == "letter":
        return str(objective), f"{objective}{chr(96 + action)}"
    return f"{code}{objective:03d}", f"{code}{objective:03d}.{chr(64 + action)}"


def generate(scale: float, seed: int) -> Iterator[tuple[str, tuple, list]]:
    """(table, columns, rows) batches in insertion order; last ("action_state", ..., rows)."""
    rng = random.Random(seed)
    size = Sizes.of(scale)
    start = NOW - timedelta(days=HISTORY_DAYS)
    names = rng.sample([(f, last) for f in FIRST for last in LAST], size.people)
    # Plan sizes: plan 1 has DIGEST_ACTIONS (fewer at tiny scales), the rest share the others.
    first = min(DIGEST_ACTIONS, size.actions // 3)
    weights = [rng.uniform(0.5, 1.5) for _ in range(size.plans - 1)]
    rest = [int((size.actions - first) * w / sum(weights)) for w in weights]
    rest[-1] += size.actions - first - sum(rest)
    counts = [first, *rest]
    shares = [max(2, size.people * n // size.actions) for n in counts]
    shares[-1] = max(2, size.people - sum(shares[:-1]))
    councils = rng.sample(COUNCILS, size.plans)

    people, plans, themes, objectives, actions, leads = [], [], [], [], [], []
    imported: list[datetime] = []
    lead_of: list[tuple[int | None, str]] = []  # per action: (person id, name) who answers
    pid = tid = oid = aid = lid = 0
    for p, (council, n_actions, n_people) in enumerate(zip(councils, counts, shares,
                                                           strict=True), start=1):
        at = start + timedelta(hours=rng.randint(0, 240))
        imported.append(at)
        name = f"{council} Children's Services Improvement Plan {at.year}"
        plans.append((p, slugify(name), name, f"{council} Council", at.year, "synthetic",
                      "red,amber,green,blue", at, at))
        staff = []
        for _ in range(n_people):
            first_name, last_name = names[pid % len(names)]
            pid += 1
            display = f"{first_name} {last_name}"
            people.append((pid, display, "", f"aad-{seed}-{pid:06d}",
                           f"{first_name}.{last_name}{pid}@{council}.gov.uk".lower(), at))
            staff.append((pid, display))
        rng.shuffle(staff)
        chosen = PLAN1_THEMES if p == 1 else rng.sample(THEMES, rng.randint(4, 6))
        theme_ids = []
        for position, theme in enumerate(chosen):
            tid += 1
            themes.append((tid, p, theme, str(position + 1), position))
            theme_ids.append(tid)
        style = "dotted" if p == 1 else rng.choice(["dotted", "dotted", "letter", "code"])
        due_style = rng.choice(["mon-yy", "full", "mon yy"])
        code = f"CS{at.year % 100}"
        roles = rng.sample(ROLES, 2)
        left, number, position = n_actions, 0, 0
        while left > 0:
            number += 1
            theme_id = theme_ids[(number - 1) % len(theme_ids)]
            oref, _ = _refs(style, number, 1, code)
            oid += 1
            objectives.append((oid, p, theme_id, oref, ref_key(oref),
                               rng.choice(_OBJECTIVE_TEXTS), number))
            for k in range(1, min(left, rng.randint(3, 9)) + 1):  # "1.11" would be "11.1"
                aid += 1
                _, aref = _refs(style, number, k, code)
                due = _due_text(rng, due_style)
                actions.append((aid, p, oid, theme_id, aref, ref_key(aref), aref,
                                rng.choice(_ACTION_TEXTS), due, parse_due(due), position))
                position += 1
                left -= 1
                cells = ([staff[position % len(staff)]] if rng.random() < 0.9 else
                         [(None, rng.choice(roles))])
                if rng.random() < 0.2:
                    other = rng.choice(staff)
                    cells += [other] if other[1] != cells[0][1] else []
                for n, (person, cell) in enumerate(cells):
                    lid += 1
                    leads.append((lid, aid, cell, "lead", person, n))
                lead_of.append(cells[0])
    yield "person", COLUMNS["person"], people
    yield "plan", COLUMNS["plan"], plans
    yield "theme", COLUMNS["theme"], themes
    yield "objective", COLUMNS["objective"], objectives
    yield "action", COLUMNS["action"], actions
    yield "actionlead", COLUMNS["actionlead"], leads
    plan_of = [row[1] for row in actions]
    del people, themes, objectives, leads
    yield from _history(rng, size, actions, plan_of, imported, lead_of, start)


def _history(rng, size: Sizes, actions: list, plan_of: list[int], imported: list[datetime],
             lead_of: list, start: datetime) -> Iterator[tuple[str, tuple, list]]:
    """The import update of every action, then weekly answers until NOW; then the RAG cache."""
    n = len(actions)
    rag: list[str | None] = [None] * n
    change: list[str | None] = [None] * n
    last: list[datetime | None] = [None] * n
    # 2 % never started (no RAG, never updated), 15 % answer rarely, the rest most weeks.
    weights = [0.0 if r < 0.02 else 0.2 if r < 0.17 else 1.0 for r in
               (rng.random() for _ in range(n))]
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    uid, batch = 0, []

    def add(a: int, at: datetime, source: str, new: str | None, progress: str | None) -> None:
        nonlocal uid
        uid += 1
        # record_update: the change compares with the previous update's RAG; none: no arrow.
        before = parse_rag(rag[a]) if last[a] is not None else None
        moved = rating_change(before, parse_rag(new))
        person, name = lead_of[a]
        batch.append((uid, a + 1, at, source, person if source != "import" else None,
                      name if source != "import" else "plan import", new,
                      (new or "").upper() or None if source == "import" else new, moved,
                      progress))
        rag[a], change[a], last[a] = new, moved, at

    for a in range(n):
        first = None if weights[a] == 0.0 else _pick(rng, _MOVES[None]) if rng.random() < .9 \
            else None
        add(a, imported[plan_of[a] - 1], "import", first, None)
    first_week = start + timedelta(days=14)
    first_week -= timedelta(days=first_week.weekday(), hours=first_week.hour)
    weeks = (NOW - first_week).days // 7 + 1
    remaining = size.updates - n
    for week in range(weeks):
        begin = first_week + timedelta(weeks=week)
        span = min(7 * 86400, (NOW - begin).total_seconds())
        quota = remaining // (weeks - week)
        remaining -= quota
        picks = rng.choices(range(n), cum_weights=cumulative, k=quota)
        moments = sorted((begin + timedelta(seconds=rng.uniform(0, span)), a) for a in picks)
        for at, a in moments:
            add(a, at, "card" if rng.random() < 0.9 else "chat", _pick(rng, _MOVES[rag[a]]),
                rng.choice(PROGRESS))
        if len(batch) >= BATCH:
            yield "statusupdate", COLUMNS["statusupdate"], batch
            batch = []
    if batch:
        yield "statusupdate", COLUMNS["statusupdate"], batch
    yield "action_state", ("rag", "rating_change", "last_update_at", "id"), [
        (rag[a], change[a], last[a], a + 1) for a in range(n)]


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_sqlite(path: Path, scale: float, seed: int) -> int:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    rows = 0
    try:
        for table, columns, batch in generate(scale, seed):
            connection.execute("BEGIN")
            values = [tuple(map(_sqlite_value, row)) for row in batch]
            if table == "action_state":
                connection.executemany("UPDATE action SET rag = ?, rating_change = ?, "
                                       "last_update_at = ? WHERE id = ?", values)
            else:
                marks = ", ".join("?" * len(columns))
                connection.executemany(f"INSERT INTO {table} ({', '.join(columns)}) "
                                       f"VALUES ({marks})", values)
                rows += len(values)
            connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return rows


async def _write_postgres(url: str, schema: str, scale: float, seed: int) -> int:
    engine = make_engine(url, schema=schema)
    rows = 0
    try:
        async with engine.begin() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            for table, columns, batch in generate(scale, seed):
                if table == "action_state":
                    await raw.execute("CREATE TEMP TABLE state (rag text, rating_change text, "
                                      "last_update_at timestamptz, id int)")
                    await raw.copy_records_to_table("state", records=batch, columns=columns)
                    await raw.execute("UPDATE action SET rag = s.rag, rating_change = "
                                      "s.rating_change, last_update_at = s.last_update_at "
                                      "FROM state s WHERE action.id = s.id")
                    await raw.execute("DROP TABLE state")
                    continue
                await raw.copy_records_to_table(table, records=batch, columns=columns,
                                                schema_name=schema)
                rows += len(batch)
            for table in COLUMNS:
                await raw.execute(f"SELECT setval(pg_get_serial_sequence('{schema}.{table}', "
                                  f"'id'), (SELECT max(id) FROM {schema}.{table}))")
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in COLUMNS:  # what autovacuum does after a bulk load
                await connection.execute(text(f"VACUUM ANALYZE {schema}.{table}"))
    finally:
        await engine.dispose()
    return rows


@dataclass
class Seeded:
    """Where the dataset is and how long seeding took (0 when a cached file was reused)."""

    url: str
    schema: str | None
    rows: int
    seconds: float
    cached: bool


def cache_path(folder: Path, scale: float, seed: int) -> Path:
    """The cached SQLite file for a scale and seed."""
    return folder / f"query-v{SEED_VERSION}-s{scale:g}-r{seed}.db"


def _fresh(folder: Path, path: Path) -> Path:
    """The file to build into (an unfinished earlier one removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in building.parent.glob(building.name + "*"):
        stale.unlink()
    return building


async def seed_sqlite(folder: Path, scale: float, seed: int) -> Seeded:
    """A migrated SQLite file holding the dataset; reused when already built for scale+seed."""
    path = cache_path(folder, scale, seed)
    url = f"sqlite+aiosqlite:///{path}"
    if await asyncio.to_thread(path.exists):
        engine = make_engine(url)
        await migrate(engine)  # a file seeded before a newer migration (an index) gets it
        await engine.dispose()
        return Seeded(url, None, 0, 0.0, True)
    started = time.perf_counter()
    building = await asyncio.to_thread(_fresh, folder, path)
    engine = make_engine(f"sqlite+aiosqlite:///{building}")
    await migrate(engine)
    await engine.dispose()
    rows = await asyncio.to_thread(_write_sqlite, building, scale, seed)
    await asyncio.to_thread(building.rename, path)  # only a complete file is ever reused
    return Seeded(url, None, rows, time.perf_counter() - started, False)


async def seed_postgres(url: str, schema: str, scale: float, seed: int) -> Seeded:
    """A fresh schema holding the dataset (dropped first if it exists)."""
    started = time.perf_counter()
    admin = make_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    engine = make_engine(url, schema=schema)
    await migrate(engine)
    await engine.dispose()
    rows = await _write_postgres(url, schema, scale, seed)
    return Seeded(url, schema, rows, time.perf_counter() - started, False)


async def drop_schema(url: str, schema: str) -> None:
    """Remove a benchmark schema."""
    admin = make_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await admin.dispose()


def main() -> None:
    """Seed one database (the benchmark runs this in a child process, to keep its RSS apart)."""
    import argparse
    import json
    import resource

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--schema", default="bench_query")
    parser.add_argument("--folder", type=Path, default=Path(__file__).parent / ".data")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.database_url and not args.database_url.startswith("sqlite"):
        seeded = asyncio.run(seed_postgres(args.database_url, args.schema, args.scale, args.seed))
    else:
        seeded = asyncio.run(seed_sqlite(args.folder, args.scale, args.seed))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({**seeded.__dict__, "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
