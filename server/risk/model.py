"""The no-show model: a calibrated logistic regression per hospital, or a transparent prior.

Both kinds are one formula, stored as plain JSON (risk_models.params) and scored without
scikit-learn or pickles:

    z = intercept + sum(coef[i] * x[i])          (x = features.vectorize(...))
    p_no_show = 1 / (1 + exp(-(cal_a * z + cal_b)))

`cal_a, cal_b` is Platt scaling fitted on out-of-fold predictions, so p is calibrated; since
it is linear in z, each feature's contribution to the final logit is
`cal_a * coef[i] * (x[i] - reference[i])` relative to the training mean: that sum, grouped by
features.GROUPS, gives the top factors in words.

While a hospital has fewer than MIN_OUTCOMES booked visits with an outcome it uses the PRIOR
model: effects of the size published studies report (PRIOR_COEFS, sources in docs/risk.md)
around the hospital's own rate. From then on its own fit is blended in on the logit with a
weight that grows with its outcomes (`blend_weight`), and every model's intercept is
recalibrated on the latest RECENT_DAYS of outcomes (`intercept_shift`): the base rate drifts.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from server.risk import features as F

MIN_OUTCOMES = 300
"""Booked visits with an outcome a hospital needs before its own model replaces the prior:
fewer leave ~60 no-shows, too few to fit 23 coefficients and a calibration honestly."""

HOLDOUT_SHARE = 0.2      # the latest 20% of visit days are the temporal hold-out
CV_FOLDS = 5             # out-of-fold predictions for the Platt calibration
L2_C = 1.0               # inverse L2 strength; features are on natural, small scales
ECE_BINS = 10

TIER_EDGES = (0.08, 0.15, 0.30, 0.45)
"""p_no_show cut points of tiers 1..5: under 8%, 8-15%, 15-30%, 30-45%, 45% and over."""
BADGE_EDGES = (0.15, 0.30)
"""Low under 15% (tiers 1-2, below a typical OPD's ~18-20%), Medium 15-30% (tier 3, around
it), High from 30% (tiers 4-5, half again the typical rate: worth an extra reminder)."""

DEFAULT_BASE_RATE = 0.18
WALK_IN_RATE = 0.02      # walk-ins are at the desk when issued: they almost always stay

PRIOR_COEFS: dict[str, float] = {
    "history_logit": 1.0,     # the patient's smoothed own rate (empirical Bayes) as it is
    "recent_no_show": 0.3,    # a miss in the last 90 days: recent history weighs more
    "cancellations_log": 0.1,
    "lead_days": 0.02,        # per day of lead (capped at 30): about +0.5 from 1 to 25 days
    "same_day": -1.6,         # booked today for today: the largest single effect
    "age_18_35": 0.2,         # young adults miss more, older patients less
    "age_51_64": -0.15,
    "age_65_plus": -0.3,
    "distance_log": 0.1,
    "monday_morning": 0.1,
    "late_afternoon": 0.1,
    "first_visit": 0.15,
    "rain": 0.1,
}
"""The prior's logit effects, rounded from published studies (docs/risk.md, "Prior"): the
numbers are approximate and deliberately modest except where the evidence is strong and
consistent (same-day booking, the patient's own past no-shows, lead time)."""
PRIOR_REFERENCE: dict[str, float] = {"lead_days": 7.0}
"""The typical visit the prior's base rate describes (7 days' lead); others are 0."""

BLEND_START = MIN_OUTCOMES
BLEND_HALF = 1000
"""The hospital's own fit weighs (n - 300) / (n - 300 + 1000) against the prior, n its booked
outcomes: 0 at 300, 1/2 at 1,300, 0.9 at 9,300, 0.99 at 99,300."""
RECENT_DAYS = 28          # the window the intercept is recalibrated on
RECAL_SD = 0.5            # prior sd of the intercept shift (logit): a drift, not a new base
PRIOR_LEVEL_SD = 1.0      # the prior's level set from the hospital's outcomes, loosely held


@dataclass(frozen=True)
class ModelParams:
    kind: str                          # 'prior' | 'logistic'
    version: str
    feature_names: list[str]
    coef: list[float]
    intercept: float
    reference: list[float]             # the typical visit contributions are measured from
    cal_a: float = 1.0
    cal_b: float = 0.0
    prior_alpha: float = F.DEFAULT_PRIOR.alpha
    prior_beta: float = F.DEFAULT_PRIOR.beta
    base_rate: float = DEFAULT_BASE_RATE

    @property
    def prior(self) -> F.BetaPrior:
        return F.BetaPrior(self.prior_alpha, self.prior_beta)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "calibration": {"method": "sigmoid", "a": self.cal_a,
                                                "b": self.cal_b}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelParams:
        names = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class Factor:
    group: str
    phrase: str
    effect: float          # contribution to the logit of p_no_show: > 0 raises the risk


@dataclass(frozen=True)
class Score:
    p_no_show: float
    score: int
    badge: str
    tier: int
    factors: list[Factor]
    features: dict[str, float]
    model_version: str

    @property
    def show_probability(self) -> float:
        return 1.0 - self.p_no_show


@dataclass(frozen=True)
class Metrics:
    auc: float | None
    brier: float | None
    calibration_error: float | None
    n_train: int
    n_holdout: int
    base_rate: float


@dataclass(frozen=True)
class TrainingRow:
    patient: Hashable
    inputs: F.VisitInputs
    no_show: bool


@dataclass(frozen=True)
class Trained:
    params: ModelParams
    metrics: Metrics
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- scoring
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def badge_of(p: float) -> str:
    return "Low" if p < BADGE_EDGES[0] else "Medium" if p < BADGE_EDGES[1] else "High"


def tier_of(p: float) -> int:
    return 1 + sum(p >= edge for edge in TIER_EDGES)


def predict_matrix(params: ModelParams, x: np.ndarray) -> np.ndarray:
    z = x @ np.asarray(params.coef) + params.intercept
    return _sigmoid(params.cal_a * z + params.cal_b)


def score_visit(params: ModelParams, v: F.VisitInputs, n_factors: int = 3) -> Score:
    """Score, badge, tier and the top factors in words of one visit."""
    feats = F.vectorize(v, params.prior)
    if v.booking_type != "ONLINE":
        p = WALK_IN_RATE
        factors = [Factor("booking", "walk-in: already at the desk", 0.0)]
    else:
        x = np.array([feats[n] for n in params.feature_names])
        p = float(predict_matrix(params, x[None, :])[0])
        contrib = params.cal_a * np.asarray(params.coef) * (x - np.asarray(params.reference))
        by_name = dict(zip(params.feature_names, contrib, strict=True))
        groups = [(g, sum(by_name.get(n, 0.0) for n in names))
                  for g, names in F.GROUPS.items()]
        groups.sort(key=lambda ge: -abs(ge[1]))
        factors = [Factor(g, F.phrase(g, v), round(float(e), 3))
                   for g, e in groups[:n_factors] if abs(e) > 1e-6]
    p = min(max(p, 0.001), 0.999)
    return Score(p_no_show=p, score=round(100 * p), badge=badge_of(p), tier=tier_of(p),
                 factors=factors, features=feats, model_version=params.version)


def matrix(rows: Sequence[F.VisitInputs], prior: F.BetaPrior,
           names: Sequence[str] = F.MODEL_FEATURES) -> np.ndarray:
    out = np.empty((len(rows), len(names)))
    for i, v in enumerate(rows):
        f = F.vectorize(v, prior)
        out[i] = [f[n] for n in names]
    return out


# ---------------------------------------------------------------------------- the prior
def prior_model(version: str, *, base_rate: float = DEFAULT_BASE_RATE,
                prior: F.BetaPrior = F.DEFAULT_PRIOR) -> ModelParams:
    """The transparent model: the hospital's rate at a typical visit, moved by PRIOR_COEFS."""
    names = list(F.MODEL_FEATURES)
    coef = [PRIOR_COEFS.get(n, 0.0) for n in names]
    ref = [PRIOR_REFERENCE.get(n, 0.0) for n in names]
    base = min(max(base_rate, 0.02), 0.6)
    intercept = math.log(base / (1 - base)) - sum(c * r for c, r in zip(coef, ref, strict=True))
    return ModelParams(kind="prior", version=version, feature_names=names, coef=coef,
                       intercept=intercept, reference=ref, prior_alpha=prior.alpha,
                       prior_beta=prior.beta, base_rate=base)


# ---------------------------------------------------------------------------- metrics
def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |mean p - rate| per equal-width bin, weighted by size."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.sum() / len(p) * abs(float(p[m].mean()) - float(y[m].mean()))
    return err


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    if y.min() == y.max():
        return None
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, p))


def evaluate(p: np.ndarray, y: np.ndarray) -> tuple[float | None, float, float]:
    """(AUC, Brier score, calibration error) of predictions p against outcomes y."""
    y = y.astype(float)
    return auc(p, y), float(np.mean((p - y) ** 2)), calibration_error(p, y)


# ---------------------------------------------------------------------------- training
def booked_rows(rows: Sequence[TrainingRow]) -> list[TrainingRow]:
    return [r for r in rows if r.inputs.booking_type in F.BOOKED]


def temporal_split(rows: Sequence[TrainingRow], share: float = HOLDOUT_SHARE
                   ) -> tuple[list[TrainingRow], list[TrainingRow]]:
    """Earlier days train, the latest `share` of days is held out: how it will be used."""
    days = sorted({r.inputs.service_date for r in rows})
    if len(days) < 2:
        return list(rows), []
    cut = days[min(len(days) - 1, max(1, int(len(days) * (1 - share))))]
    return ([r for r in rows if r.inputs.service_date < cut],
            [r for r in rows if r.inputs.service_date >= cut])


def fit_prior(rows: Sequence[TrainingRow]) -> F.BetaPrior:
    """Empirical-Bayes prior from each patient's booked outcomes among `rows`."""
    counts: dict[Hashable, list[int]] = {}
    for r in rows:
        c = counts.setdefault(r.patient, [0, 0])
        c[0] += r.no_show
        c[1] += 1
    return F.fit_beta_prior([(k, n) for k, n in counts.values()])


def fit(rows: Sequence[TrainingRow], version: str,
        prior: F.BetaPrior | None = None) -> ModelParams:
    """Logistic regression on `rows`, Platt-calibrated on its own out-of-fold predictions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    prior = prior or fit_prior(rows)
    x = matrix([r.inputs for r in rows], prior)
    y = np.array([r.no_show for r in rows], dtype=int)
    lr = LogisticRegression(C=L2_C, max_iter=2000)
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=0)
    z_oof = cross_val_predict(lr, x, y, cv=folds, method="decision_function")
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(z_oof[:, None], y)
    lr.fit(x, y)
    return ModelParams(
        kind="logistic", version=version, feature_names=list(F.MODEL_FEATURES),
        coef=[float(c) for c in lr.coef_[0]], intercept=float(lr.intercept_[0]),
        reference=[float(m) for m in x.mean(axis=0)],
        cal_a=float(platt.coef_[0][0]), cal_b=float(platt.intercept_[0]),
        prior_alpha=prior.alpha, prior_beta=prior.beta, base_rate=float(y.mean()),
    )


def predict_rows(params: ModelParams, rows: Sequence[TrainingRow]) -> np.ndarray:
    return predict_matrix(params, matrix([r.inputs for r in rows], params.prior,
                                         params.feature_names))


# ---------------------------------------------------------------------------- blend, drift
def blend_weight(n_outcomes: int) -> float:
    """How much the hospital's own fit counts against the prior, given its booked outcomes."""
    m = max(0, n_outcomes - BLEND_START)
    return m / (m + BLEND_HALF)


def _flat(p: ModelParams) -> tuple[np.ndarray, float]:
    """(coef, intercept) of the final logit, calibration folded in."""
    return p.cal_a * np.asarray(p.coef), p.cal_a * p.intercept + p.cal_b


def blend(prior: ModelParams, fitted: ModelParams, w: float) -> ModelParams:
    """The model whose logit is w x the fit's + (1 - w) x the prior's (same columns)."""
    assert prior.feature_names == fitted.feature_names
    cp, ip = _flat(prior)
    cf, i_f = _flat(fitted)
    coef = w * cf + (1 - w) * cp
    return ModelParams(
        kind=fitted.kind, version=fitted.version, feature_names=list(fitted.feature_names),
        coef=[float(c) for c in coef], intercept=float(w * i_f + (1 - w) * ip),
        reference=list(fitted.reference), prior_alpha=fitted.prior_alpha,
        prior_beta=fitted.prior_beta, base_rate=fitted.base_rate)


def intercept_shift(z: np.ndarray, y: np.ndarray, sd: float = RECAL_SD) -> float:
    """The shift d of the logit that best fits outcomes y given logits z: the maximum of the
    log-likelihood of y under sigmoid(z + d) with a N(0, sd) prior on d (Newton steps).
    No outcomes, no shift; few outcomes, a shift shrunk towards 0."""
    if len(y) == 0:
        return 0.0
    y = y.astype(float)
    d = 0.0
    for _ in range(50):
        p = _sigmoid(z + d)
        grad = float(np.sum(y - p)) - d / sd**2
        hess = float(np.sum(p * (1 - p))) + 1 / sd**2
        step = grad / hess
        d += step
        if abs(step) < 1e-9:
            break
    return d


def shifted(params: ModelParams, d: float) -> ModelParams:
    """The same model with its final logit moved by d."""
    return replace(params, cal_b=params.cal_b + d)


def recent(rows: Sequence[TrainingRow], days: int = RECENT_DAYS) -> list[TrainingRow]:
    """The rows of the latest `days` calendar days among them."""
    if not rows:
        return []
    last = max(r.inputs.service_date for r in rows)
    return [r for r in rows if (last - r.inputs.service_date).days < days]


def recalibrated(params: ModelParams, rows: Sequence[TrainingRow],
                 sd: float = RECAL_SD) -> ModelParams:
    """`params` with its intercept refitted on `rows` (its slopes kept)."""
    if not rows:
        return params
    x = matrix([r.inputs for r in rows], params.prior, params.feature_names)
    cf, c0 = _flat(params)
    y = np.array([r.no_show for r in rows], dtype=int)
    return shifted(params, intercept_shift(x @ cf + c0, y, sd))


def hospital_prior(rows: Sequence[TrainingRow], version: str) -> ModelParams:
    """The prior at the hospital's own level: its Beta prior and its rate when it has some
    outcomes (30+), else the defaults."""
    if len(rows) < 30:
        return prior_model(version)
    params = prior_model(version, prior=fit_prior(rows))
    return recalibrated(params, rows, PRIOR_LEVEL_SD)


def procedure(rows: Sequence[TrainingRow], version: str) -> ModelParams:
    """Prior at the hospital's level, its own fit blended in by blend_weight(n), intercept
    recalibrated on the latest RECENT_DAYS: what is stored, and what the hold-out tests."""
    base = hospital_prior(rows, version)
    y = {r.no_show for r in rows}
    w = blend_weight(len(rows))
    params = base
    if w > 0 and len(y) == 2:
        fitted = fit(rows, version, base.prior)
        params = blend(base, fitted, w)
    return recalibrated(params, recent(rows))


def train(rows: Sequence[TrainingRow], version: str) -> Trained:
    """Hold-out metrics of the procedure on a temporal split, then the model refit on all.

    Only booked visits count: walk-ins are at the desk when issued and nearly always stay.
    """
    booked = booked_rows(rows)
    y_all = np.array([r.no_show for r in booked], dtype=int)
    if len(booked) < MIN_OUTCOMES or y_all.min() == y_all.max():
        raise ValueError(f"need {MIN_OUTCOMES} booked outcomes of both kinds")
    early, late = temporal_split(booked)
    a = b = c = None
    if late and len({r.no_show for r in early}) == 2:
        held = procedure(early, version)
        y_late = np.array([r.no_show for r in late], dtype=int)
        a, b, c = evaluate(predict_rows(held, late), y_late)
    params = procedure(booked, version)
    return Trained(params, Metrics(a, b, c, n_train=len(early), n_holdout=len(late),
                                   base_rate=float(y_all.mean())),
                   extra={"blend_weight": blend_weight(len(booked))})


def evaluate_prior(rows: Sequence[TrainingRow], version: str) -> Trained:
    """The prior model for a hospital with thin history, with whatever metrics it allows."""
    booked = booked_rows(rows)
    y = np.array([r.no_show for r in booked], dtype=int)
    params = recalibrated(hospital_prior(booked, version), recent(booked) if len(y) >= 30
                          else [])
    a = b = c = None
    if len(y) >= 30 and y.min() != y.max():
        a, b, c = evaluate(predict_rows(params, booked), y)
    base = float(y.mean()) if len(y) >= 30 else DEFAULT_BASE_RATE
    return Trained(params, Metrics(a, b, c, n_train=0, n_holdout=len(booked),
                                   base_rate=base))
