"""CSV answers of the lists a person opens in a spreadsheet (API.md: `?format=csv`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from starlette.responses import Response

# a cell a spreadsheet would run as a formula ("=HYPERLINK(...)") is written as text
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(_FORMULA) and not _number(v):
        return "'" + v
    return v


def _number(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
                 ) -> Response:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    for row in rows:
        w.writerow([_cell(v) for v in row])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
