"""Model versions of the no-show risk (API.md "No-show prevention"): every version with its
hold-out metrics, and what switching from one to another would change.

Staff only. The comparison re-scores each upcoming booking's latest stored feature vector
(risk_assessments.features) with both versions' formulas: no inputs are read again, so it
answers in one query, and it is exactly "the same visit, the other model".
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.routing import Route

from server.auth.principal import staff
from server.errors import NotFound
from server.models.common import parse_query
from server.presenters import jsonable
from server.responses import JSONResponse
from server.risk import model as M
from server.routes import render

VERSION = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


class CompareQuery(BaseModel):
    a: str = VERSION
    b: str = VERSION


async def list_models(request: Request) -> JSONResponse:
    who = await staff(request)
    rows = await render.service(request).pool.fetch(
        """SELECT id, version, kind, active, trained_at, auc, brier, calibration_error AS ece,
                  n_train, n_holdout AS n_test, params->'base_rate' AS base_rate
           FROM risk_models WHERE hospital_id = $1 ORDER BY trained_at DESC, version""",
        who.hospital_id)
    return JSONResponse({"items": [jsonable(dict(r)) for r in rows]})


def tiers(params: M.ModelParams, vectors: list[dict[str, float]]) -> list[int]:
    """Each stored vector's tier under `params` (a name it lacks counts 0)."""
    if not vectors:
        return []
    x = np.array([[v.get(n, 0.0) for n in params.feature_names] for v in vectors])
    return [M.tier_of(float(p)) for p in M.predict_matrix(params, x)]


async def compare(request: Request) -> JSONResponse:
    who = await staff(request)
    q = parse_query(request, CompareQuery)
    pool = render.service(request).pool
    models = {r["version"]: M.ModelParams.from_json(r["params"]) for r in await pool.fetch(
        "SELECT version, params FROM risk_models WHERE hospital_id = $1 AND version = ANY($2)",
        who.hospital_id, [q.a, q.b])}
    for v in (q.a, q.b):
        if v not in models:
            raise NotFound(f"no model version {v}")
    rows = await pool.fetch(
        """SELECT DISTINCT ON (a.token_id) a.features->'vector' AS vector
           FROM risk_assessments a JOIN tokens t ON t.id = a.token_id
           JOIN hospitals h ON h.id = t.hospital_id
           WHERE a.hospital_id = $1 AND t.status = 'BOOKED'
             AND t.service_date >= (now() AT TIME ZONE h.timezone)::date
           ORDER BY a.token_id, a.created_at DESC, a.id DESC""", who.hospital_id)
    vectors = [r["vector"] or {} for r in rows]
    ta, tb = tiers(models[q.a], vectors), tiers(models[q.b], vectors)
    moves: dict[str, int] = {}
    for x, y in zip(ta, tb, strict=True):
        if x != y:
            moves[f"{x}->{y}"] = moves.get(f"{x}->{y}", 0) + 1
    out: dict[str, Any] = {
        "a": q.a, "b": q.b, "bookings": len(vectors), "changed": sum(moves.values()),
        "up": sum(1 for x, y in zip(ta, tb, strict=True) if y > x),
        "down": sum(1 for x, y in zip(ta, tb, strict=True) if y < x),
        "moves": dict(sorted(moves.items()))}
    return JSONResponse(out)


routes = [
    Route("/api/v1/risk/models", list_models, methods=["GET"]),
    Route("/api/v1/risk/models/compare", compare, methods=["GET"]),
]
