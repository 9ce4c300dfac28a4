"""Finding a patient by name as a receptionist types it: case- and accent-insensitive, any
script, a prefix of any word ("sha" finds "Rahul Sharma", "शर्" finds "राहुल शर्मा").

Accents are folded only on Latin letters: in Indic scripts the combining marks are vowels
and viramas, part of the word's spelling, and dropping them would make different names
match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LATIN_END = 0x0250  # Basic Latin to Latin Extended-B
_SEPARATORS = re.compile(r"[\s\-.,'’_/()]+")


def fold(text: str) -> str:
    """Lower-case, Latin accents removed, NFC; other scripts kept as written."""
    out: list[str] = []
    base_latin = False
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            if base_latin:
                continue
        else:
            base_latin = ord(ch) < _LATIN_END
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).casefold()


def words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(fold(text)) if w]


def search_key(name: str) -> str:
    """The stored form of a name: its folded words, each after a space, so that
    `LIKE '% ' || word || '%'` matches the prefix of any word."""
    return "".join(" " + w for w in words(name))


def like_patterns(query: str) -> list[str]:
    """One LIKE pattern per typed word (all must match), wildcards in the input escaped."""
    return ["% " + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            for w in words(query)]


# "CARD-045", "card 45", "card45" (a code with digits needs its dash: "ENT2-004")
_TOKEN_NUMBER = re.compile(
    r"^(?:([A-Za-z][A-Za-z0-9]{1,9})\s*-|([A-Za-z]{2,10})\s*)\s*0*(\d{1,4})$")
_PHONE_CHARS = set("+ -()")


@dataclass(frozen=True)
class SearchTerms:
    """What a desk's search box text can mean; a row matching any of them is found."""

    name_patterns: list[str]
    phone_digits: str | None = None   # 4+ digits: contained in the phone
    number: str | None = None         # a token number, "CARD-045" (typed "card 45" too)
    seq: int | None = None            # a bare short number: the token's place in its day


def parse_search(q: str) -> SearchTerms:
    q = q.strip()
    if m := _TOKEN_NUMBER.match(q):
        code = (m.group(1) or m.group(2)).upper()
        return SearchTerms(like_patterns(q), number=f"{code}-{int(m.group(3)):03d}")
    digits = "".join(ch for ch in q if ch.isascii() and ch.isdigit())
    if q and all((ch.isascii() and ch.isdigit()) or ch in _PHONE_CHARS for ch in q):
        if len(digits) <= 3:
            return SearchTerms([], seq=int(digits)) if digits else SearchTerms([])
        return SearchTerms([], phone_digits=digits)
    return SearchTerms(like_patterns(q), phone_digits=digits if len(digits) >= 4 else None)
