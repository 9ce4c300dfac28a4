"""The API's JSON response: encoded with orjson (a queue of tokens encodes several times
faster than with the standard library), the same JSON otherwise."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSON


class JSONResponse(_StarletteJSON):
    def render(self, content: Any) -> bytes:
        # NaN and infinities become null here where the standard library would refuse them
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
