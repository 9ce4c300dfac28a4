"""Training: on generated history the model beats the prior and is calibrated; a hospital's
model is stored with its hold-out metrics; thin history falls back to the prior."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg
import numpy as np
import pytest

from server.demo import DEMO_CODE, load_demo
from server.risk import features as F
from server.risk import model as M
from server.risk.from_synthetic import rows_from_history
from server.synthetic import generate_history
from tests.queue.conftest import build_world
from workers import risk as jobs

TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def history_rows() -> list[M.TrainingRow]:
    h = generate_history(seed=3, n_patients=1500, start=date(2025, 9, 1), days=120,
                         visits_per_day=150)
    return [r for _, r in rows_from_history(h)]


def test_model_beats_the_prior_and_is_calibrated(history_rows: list[M.TrainingRow]) -> None:
    booked = M.booked_rows(history_rows)
    early, late = M.temporal_split(booked)
    model = M.fit(early, "test")
    prior = M.evaluate_prior(early, "prior").params
    y = np.array([r.no_show for r in late])
    m_auc, m_brier, m_ece = M.evaluate(M.predict_rows(model, late), y)
    p_auc, p_brier, _ = M.evaluate(M.predict_rows(prior, late), y)
    assert m_auc is not None and p_auc is not None
    assert m_auc > p_auc and m_brier < p_brier
    assert m_ece <= 0.04
    assert m_brier < float(np.mean((y.mean() - y) ** 2))   # beats always saying the base rate


def test_params_score_without_sklearn_and_round_trip(history_rows: list[M.TrainingRow]) -> None:
    trained = M.train(history_rows, "lr-1")
    params = M.ModelParams.from_json(json.loads(json.dumps(trained.params.to_json())))
    assert params == trained.params
    v = history_rows[-1].inputs
    s = M.score_visit(params, v)
    assert s.score == round(100 * s.p_no_show) and 0 <= s.score <= 100
    assert s.badge == M.badge_of(s.p_no_show) and s.tier == M.tier_of(s.p_no_show)
    assert s.model_version == "lr-1" and 1 <= len(s.factors) <= 3
    assert all(f.phrase == F.phrase(f.group, v) for f in s.factors)
    # the factors' effects add up to the logit, relative to the typical visit
    assert trained.metrics.auc and trained.metrics.n_holdout > 0


@pytest.mark.parametrize(("p", "badge", "tier"), [
    (0.02, "Low", 1), (0.10, "Low", 2), (0.20, "Medium", 3), (0.35, "High", 4), (0.6, "High", 5),
])
def test_badges_and_tiers(p: float, badge: str, tier: int) -> None:
    assert (M.badge_of(p), M.tier_of(p)) == (badge, tier)


def test_prior_is_transparent() -> None:
    prior = M.prior_model("prior-x", base_rate=0.2)
    typical = F.VisitInputs(service_date=date(2026, 3, 3), booked_on=date(2026, 2, 24),
                            slot=None, history=F.History(dept_visits=1))
    assert M.score_visit(prior, typical).p_no_show == pytest.approx(0.2, abs=1e-6)
    far = F.VisitInputs(service_date=date(2026, 3, 3), booked_on=date(2026, 2, 1), slot=None)
    s = M.score_visit(prior, far)
    assert s.p_no_show > 0.3
    assert [f.phrase for f in s.factors][:2] == ["booked 30 days ahead",
                                                 "first visit to this department"]


async def _models(pool: asyncpg.Pool, hid: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch(
        "SELECT * FROM risk_models WHERE hospital_id = $1 ORDER BY trained_at", hid)]


async def test_hospital_with_history_gets_its_own_model(pool: asyncpg.Pool,
                                                        schema_ready: str) -> None:
    assert await load_demo(schema_ready, seed=7, today=TODAY)
    hid = await pool.fetchval("SELECT id FROM hospitals WHERE code = $1", DEMO_CODE)
    ctx = {"pool": pool}
    out = await jobs.train_risk_models(ctx)
    assert [o["kind"] for o in out] == ["logistic"]
    (m,) = await _models(pool, hid)
    assert m["active"] and m["kind"] == "logistic" and m["version"].startswith("logistic-")
    assert 0.5 < m["auc"] < 1 and 0 < m["brier"] < 0.25 and 0 <= m["calibration_error"] < 0.1
    assert m["n_train"] > M.MIN_OUTCOMES and m["n_holdout"] > 0
    params = m["params"]
    assert params["feature_names"] == list(F.MODEL_FEATURES)
    assert len(params["coef"]) == len(F.MODEL_FEATURES) and "calibration" in params
    # nightly again: a new version becomes the one active model
    await jobs.train_risk_models(ctx)
    models = await _models(pool, hid)
    assert len(models) == 2 and [x["active"] for x in models] == [False, True]
    # start-up top-up leaves a hospital that has a model alone
    assert await jobs.ensure_risk_models(ctx) == []


async def test_thin_history_falls_back_to_the_prior(pool: asyncpg.Pool) -> None:
    w = await build_world(pool, n_patients=2)
    out = await jobs.ensure_risk_models({"pool": pool})
    assert [o["kind"] for o in out] == ["prior"]
    (m,) = await _models(pool, w.hospital_id)
    assert m["kind"] == "prior" and m["active"] and m["auc"] is None
    names = m["params"]["feature_names"]
    assert m["params"]["coef"][names.index("lead_days")] == M.PRIOR_COEFS["lead_days"]


# ------------------------------------------------------------------ prior, blend, drift
def test_prior_says_same_day_bookings_are_kept() -> None:
    """The published effect: same-day bookings miss far less (about -1.5 to -2 logit)."""
    prior = M.prior_model("prior-x", base_rate=0.2)
    day = date(2026, 3, 3)
    same = M.score_visit(prior, F.VisitInputs(service_date=day, booked_on=day, slot=None))
    week = M.score_visit(prior, F.VisitInputs(service_date=day, booked_on=date(2026, 2, 24),
                                              slot=None))
    gap = np.log(week.p_no_show / (1 - week.p_no_show)) - np.log(
        same.p_no_show / (1 - same.p_no_show))
    assert 1.5 <= gap <= 2.2
    assert same.factors[0].phrase == "booked the same day" and same.factors[0].effect < -1


@pytest.mark.parametrize(("n", "w"), [
    (0, 0.0), (299, 0.0), (300, 0.0), (1300, 0.5), (9300, 0.9), (99_300, 0.99)])
def test_blend_weight_schedule(n: int, w: float) -> None:
    assert M.blend_weight(n) == pytest.approx(w)


def test_blend_weight_grows_with_outcomes() -> None:
    ws = [M.blend_weight(n) for n in range(0, 50_000, 250)]
    assert ws == sorted(ws) and ws[0] >= 0 and ws[-1] < 1


def test_blend_is_the_weighted_logit(history_rows: list[M.TrainingRow]) -> None:
    rows = M.booked_rows(history_rows)[:2000]
    prior = M.hospital_prior(rows, "v")
    fitted = M.fit(rows, "v", prior.prior)
    x = M.matrix([r.inputs for r in rows[:50]], prior.prior)
    def logit(p: np.ndarray) -> np.ndarray:
        return np.log(p / (1 - p))
    for w in (0.0, 0.3, 1.0):
        mixed = M.blend(prior, fitted, w)
        want = w * logit(M.predict_matrix(fitted, x)) + (1 - w) * logit(M.predict_matrix(prior, x))
        assert np.allclose(logit(M.predict_matrix(mixed, x)), want)


def test_intercept_shift_finds_the_drift() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(-1.5, 0.8, 20_000)
    y = rng.random(len(z)) < 1 / (1 + np.exp(-(z + 0.4)))      # the base rate rose: +0.4
    assert M.intercept_shift(z, y) == pytest.approx(0.4, abs=0.05)
    assert M.intercept_shift(z, np.zeros(0)) == 0.0             # nothing seen: no shift
    few = M.intercept_shift(z[:20], np.ones(20, dtype=bool))    # 20 misses in a row
    assert 0 < few < M.intercept_shift(z[:2000], np.ones(2000, dtype=bool))


def test_recalibration_follows_a_drifting_base_rate(history_rows: list[M.TrainingRow]) -> None:
    """The latest weeks miss more than the model's history says: the recalibrated model's
    mean prediction moves towards the recent rate."""
    rows = M.booked_rows(history_rows)
    params = M.procedure(rows, "v")
    last = M.recent(rows)
    bumped = [M.TrainingRow(r.patient, r.inputs, True) if i % 4 == 0 else r
              for i, r in enumerate(last)]
    before = float(M.predict_rows(params, last).mean())
    after = float(M.predict_rows(M.recalibrated(params, bumped), last).mean())
    rate = float(np.mean([r.no_show for r in bumped]))
    assert before < after <= rate + 0.01
