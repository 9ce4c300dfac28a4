"""The browser pages: static HTML shells and the /static mount (no build step).

Each page is one HTML file that loads its ES modules from /static; all data comes from the
JSON API and the websockets, so these routes only hand out files. Path parameters such as the
board's department id or the patient's code are read by the page's script from location.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

# shells change with each deploy while the URL stays: the browser must ask again each time
# (an ETag makes that cheap); the modules under /static are revalidated the same way
NO_CACHE = {"Cache-Control": "no-cache"}


def _shell(url: str, name: str) -> Route:
    """GET `url` answers static/<name>/index.html."""
    path = STATIC_DIR / name / "index.html"

    async def serve(request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8", headers=NO_CACHE)

    serve.__name__ = f"page_{name}"
    return Route(url, serve, methods=["GET", "HEAD"])


class _RevalidatedStatic(StaticFiles):
    """StaticFiles whose answers say "revalidate": a deploy is picked up on the next load."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


routes = [
    _shell("/", "home"),
    _shell("/doctor", "doctor"),
    _shell("/reception", "reception"),
    _shell("/admin", "admin"),
    _shell("/board/{department_id}", "board"),
    _shell("/t/{code}", "patient"),
    _shell("/w/{code}", "waitlist"),
    Mount("/static", app=_RevalidatedStatic(directory=STATIC_DIR, check_dir=False),
          name="static"),
]
