"""The translation catalogues: every language has every key, and every placeholder survives.

Two catalogues, one JSON per language each: the pages' (static/i18n/<code>.json) and the
patient messages' (server/notifications/messages/<code>.json). A missing key or a dropped
{cabin} would show a patient English, or a blank where the cabin should be.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from server.languages import LANGUAGES
from server.notifications import templates

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "static" / "i18n"
MESSAGES = templates.CATALOGUE_DIR
# keys a patient or a waiting room reads (patient page, slip, board): in all nine languages;
# staff pages (desk, doctor, admin) are in STAFF_LANGUAGES and fall back to English elsewhere
PUBLIC = re.compile(r"^(app|lang|error|time|live|board|slip|patient|status)\.")
STAFF_LANGUAGES = ("en", "hi")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load(folder: Path, code: str) -> dict[str, str]:
    return json.loads((folder / f"{code}.json").read_text(encoding="utf-8"))


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


def test_each_catalogue_has_exactly_the_supported_languages() -> None:
    assert sorted(p.stem for p in PAGES.glob("*.json")) == sorted(LANGUAGES)
    assert sorted(p.stem for p in MESSAGES.glob("*.json")) == sorted(LANGUAGES)
    js = (ROOT / "static" / "js" / "i18n.js").read_text(encoding="utf-8")
    listed = re.search(r"export const LANGUAGES = \[(.*?)\]", js).group(1)
    assert re.findall(r"'(\w+)'", listed) == list(LANGUAGES)


@pytest.mark.parametrize("code", LANGUAGES)
def test_page_catalogue_is_complete(code: str) -> None:
    english, table = load(PAGES, "en"), load(PAGES, code)
    wanted = [k for k in english if code in STAFF_LANGUAGES or PUBLIC.match(k)]
    missing = [k for k in wanted if not table.get(k, "").strip()]
    assert not missing, f"{code} lacks {missing}"
    assert not set(table) - set(english), f"{code} has keys English does not"
    changed = {k: (placeholders(english[k]), placeholders(table[k]))
               for k in table if placeholders(english[k]) != placeholders(table[k])}
    assert not changed, f"{code}: placeholders differ {changed}"


@pytest.mark.parametrize("code", LANGUAGES)
def test_message_catalogue_is_complete(code: str) -> None:
    english, table = load(MESSAGES, "en"), load(MESSAGES, code)
    assert set(table) == set(english), set(english) ^ set(table)
    changed = {k: (placeholders(english[k]), placeholders(v))
               for k, v in table.items() if placeholders(english[k]) != placeholders(v)}
    assert not changed, f"{code}: placeholders differ {changed}"
    assert all(event in table for event in templates.EVENTS)


def test_the_check_would_catch_a_dropped_placeholder() -> None:
    assert placeholders("Go to cabin {cabin} now") != placeholders("अभी केबिन में जाएँ")
