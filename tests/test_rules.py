"""Domain rules: RAG in any case, due dates as written, refs, leads, overdue."""

from datetime import date

import pytest

from storage.rules import (
    Rag,
    clean_text,
    is_overdue,
    long_date,
    parse_due,
    parse_rag,
    parse_rating_change,
    parse_start,
    rating_change,
    ref_key,
    short_date,
    split_lead_names,
)


@pytest.mark.parametrize(("written", "meaning"), [
    ("Feb-15", date(2015, 2, 28)),
    ("Mar 24", date(2024, 3, 31)),
    ("March 2019", date(2019, 3, 31)),
    ("Feb 2016", date(2016, 2, 29)),  # leap year: last day of the month
    ("Dec-14", date(2014, 12, 31)),
    ("31 December 2018", date(2018, 12, 31)),
    ("30 December 2018", date(2018, 12, 30)),
    ("07 April 2019", date(2019, 4, 7)),
    ("1st Jan 2025", date(2025, 1, 1)),
    ("31.03.15", date(2015, 3, 31)),
    ("31/03/2024", date(2024, 3, 31)),
    ("2024-03-31", date(2024, 3, 31)),
    ("by June 2019, reviewed yearly", date(2019, 6, 30)),
    ("December 2014 (phase2) Completed", date(2014, 12, 31)),
    ("Completed 31 May 2015 then March 2016", date(2015, 5, 31)),
    ("Ongoing", None),
    ("Immediate / Ongoing", None),
    ("Completed", None),
    ("", None),
    (None, None),
    ("31 February 2019", date(2019, 2, 28)),  # not a day: read as the month it names
    ("99/99/9999", None),
])
def test_due_dates(written, meaning):
    assert parse_due(written) == meaning


def test_start_dates_take_the_first_day_of_a_month():
    assert parse_start("Sep 23") == date(2023, 9, 1)
    assert parse_start("12 Sep 2023") == date(2023, 9, 12)


@pytest.mark.parametrize(("written", "rag"), [
    ("RED", Rag.RED), ("red", Rag.RED), ("R", Rag.RED), (" Amber ", Rag.AMBER),
    ("AMBER", Rag.AMBER), ("a", Rag.AMBER), ("Green", Rag.GREEN), ("g", Rag.GREEN),
    ("Blue", Rag.BLUE), ("BLUE", Rag.BLUE), ("", None), (None, None), ("↔", None),
    ("purple", None),
])
def test_rag_any_case(written, rag):
    assert parse_rag(written) == rag


@pytest.mark.parametrize(("a", "b"), [
    ("1.d", "1d"), ("CS18001.A", "cs18001a"), ("2 .4", "2.4"), ("3A", "3a"),
])
def test_refs_compare_without_case_space_or_punctuation(a, b):
    assert ref_key(a) == ref_key(b)


def test_refs_keep_numbers_apart():
    assert ref_key("1.10") != ref_key("1.1")


@pytest.mark.parametrize(("due", "rag", "overdue"), [
    (date(2026, 11, 24), Rag.RED, True),
    (date(2026, 11, 24), None, True),
    (date(2026, 11, 24), Rag.BLUE, False),  # Blue is complete: never overdue
    (date(2026, 11, 25), Rag.RED, False),  # due today is not overdue yet
    (None, Rag.RED, False),  # "Ongoing": no due date
])
def test_overdue(due, rag, overdue):
    assert is_overdue(due, rag, date(2026, 11, 25)) is overdue


def test_rating_change_compares_severity():
    assert rating_change(Rag.AMBER, Rag.RED) == "down"
    assert rating_change(Rag.RED, Rag.GREEN) == "up"
    assert rating_change(Rag.GREEN, Rag.BLUE) == "up"
    assert rating_change(Rag.AMBER, Rag.AMBER) == "same"
    assert rating_change(None, Rag.AMBER) is None
    assert [parse_rating_change(v) for v in ("↔", "↑", "↓", "", "up")] == [
        "same", "up", "down", None, "up"]


def test_lead_cells_and_html():
    assert split_lead_names("S. Rawlinson/S Jackson") == ["S. Rawlinson", "S Jackson"]
    assert split_lead_names("DL / MP") == ["DL", "MP"]
    assert split_lead_names("AD People and Workforce Development") == [
        "AD People and Workforce Development"]
    assert clean_text("<p>a &amp; b</p>\n<p>c</p>") == "a & b c"


def test_days_are_written_in_english_without_a_leading_zero():
    assert short_date(date(2024, 3, 1)) == "1 Mar 2024"
    assert long_date(date(2015, 9, 30)) == "30 September 2015"
    for month in range(1, 13):  # the same as strftime in the C locale, month by month
        day = date(2026, month, 9)
        assert short_date(day) == f"9 {day:%b} 2026"
        assert long_date(day) == f"9 {day:%B} 2026"
