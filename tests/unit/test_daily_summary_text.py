"""The daily summary's template (pure): what an admin reads on a quiet day, a busy one, and
the check that keeps a reworded summary to the template's numbers."""

from __future__ import annotations

from datetime import date

import pytest

from server.domain.daily_summary import Department, Figures, compose, same_numbers

DAY = date(2026, 3, 10)


def test_a_day_without_tokens_says_so() -> None:
    assert compose(Figures(day=DAY, hospital="City")) == (
        "Tuesday 10 March 2026, City: no tokens were issued. No live alerts were raised.")


def test_singulars_and_optional_sentences() -> None:
    text = compose(Figures(day=DAY, hospital="City", issued=1, seen=1, no_show=1,
                           busiest=Department("ENT", 1, None), alerts={"DOCTOR_IDLE": 1}))
    assert text == ("Tuesday 10 March 2026, City: 1 token issued, 1 seen, 1 no-show, "
                    "0 cancelled. Busiest: ENT (1 token). 1 live alert (1 idle doctor).")


def test_alerts_most_frequent_first() -> None:
    text = compose(Figures(day=DAY, hospital="C", issued=3, alerts={
        "BOTTLENECK": 1, "MESSAGES_FAILING": 4, "LONG_WAIT": 4}))
    assert text.endswith("9 live alerts (4 long waits, 4 failing-messages alerts, "
                         "1 bottleneck).")


@pytest.mark.parametrize(("reworded", "ok"), [
    ("9 of 13 seen; 2 no-shows against 1.2 expected.", True),
    ("Nine of thirteen seen.", True),
    ("9 of 13 seen and 14 no-shows.", False),
    ("1.3 expected", False),
])
def test_rewording_may_not_invent_numbers(reworded: str, ok: bool) -> None:
    template = "13 tokens issued, 9 seen, 2 no-shows against 1.2 expected."
    assert same_numbers(template, reworded) is ok
