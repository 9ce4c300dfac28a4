"""No-show model benchmark on a temporal hold-out of generated history.

    python -m bench.risk_bench            # print the table (about a minute)
    python -m bench.risk_bench --write    # and rewrite docs/risk.md

Train on the earlier 75% of days, test on the later 25%, booked (ONLINE) visits only, with
the same code the workers use (server.risk). Reported against the generator's truth:
- AUC vs the best possible (the true probabilities, `best_possible_auc`) and vs the best
  possible FROM HISTORY: the Bayes posterior of each patient's hidden propensity given their
  earlier visits, with every other effect known exactly (what no model can beat either);
- Brier score vs always predicting the training base rate; calibration error (ECE, 10 bins);
- AUC of two single-feature rules: lead time only, the smoothed prior no-show rate only;
- reminders: among test visits not already reminded, remind the top 25% by risk vs a random
  25%, no-shows averted = (1 - 0.77) x true probability summed over those reminded.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from server.risk import model as M
from server.risk.from_synthetic import rows_from_history
from server.synthetic import (
    PROPENSITY_SD,
    REMINDER_RELATIVE_RISK,
    WALK_IN_BASE_P,
    SynthHistory,
    best_possible_auc,
    generate_history,
)

TEST_SHARE = 0.25
TARGET_SHARE = 0.25
START = date(2025, 9, 1)
DOC = Path(__file__).resolve().parents[1] / "docs" / "risk.md"


@dataclass(frozen=True)
class Scenario:
    name: str
    n_patients: int
    days: int
    visits_per_day: int


SCENARIOS = (
    Scenario("clinic: 2,000 patients x 120 days, 40 visits/day", 2000, 120, 40),
    Scenario("busy OPD: 2,000 patients x 120 days, 200 visits/day", 2000, 120, 200),
    Scenario("very busy: 2,000 patients x 120 days, 600 visits/day", 2000, 120, 600),
)


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    a = M.auc(score, y)
    assert a is not None
    return a


def posterior_ceiling(history: SynthHistory, cut: date) -> dict[int, float]:
    """index in history.visits -> E[p | the patient's earlier visits], for test visits.

    Knows every effect but the propensity exactly; integrates the propensity over a grid
    against its N(0, sd) prior times the likelihood of the patient's earlier outcomes."""
    grid = np.linspace(-4.5, 4.5, 181)
    prior = np.exp(-(grid**2) / (2 * PROPENSITY_SD**2))
    walk = math.log(WALK_IN_BASE_P / (1 - WALK_IN_BASE_P))
    loglik: dict[int, np.ndarray] = defaultdict(lambda: np.zeros_like(grid))
    out: dict[int, float] = {}
    by_day: dict[date, list[int]] = defaultdict(list)
    for i, v in enumerate(history.visits):
        by_day[v.service_date].append(i)
    for day in sorted(by_day):
        idx = by_day[day]
        for i in idx:
            v = history.visits[i]
            if day >= cut and v.booking_type == "ONLINE" and not v.cancelled:
                post = prior * np.exp(loglik[v.patient_key] - loglik[v.patient_key].max())
                post /= post.sum()
                rest = _logit(v.p_no_show) - history.patients[v.patient_key].propensity
                out[i] = float((post / (1 + np.exp(-(rest + grid)))).sum())
        for i in idx:
            v = history.visits[i]
            if v.cancelled:
                continue
            u = history.patients[v.patient_key].propensity
            z = (_logit(v.p_no_show) - u + grid) if v.booking_type == "ONLINE" else (
                walk + 0.4 * grid)
            p = 1 / (1 + np.exp(-z))
            loglik[v.patient_key] += np.log(p if v.no_show else 1 - p)
    return out


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def run(s: Scenario, seed: int) -> dict[str, float]:
    t0 = time.perf_counter()
    history = generate_history(seed=seed, n_patients=s.n_patients, start=START, days=s.days,
                               visits_per_day=s.visits_per_day)
    index = {id(v): i for i, v in enumerate(history.visits)}
    pairs = [(v, r) for v, r in rows_from_history(history) if v.booking_type == "ONLINE"]
    early, late = M.temporal_split([r for _, r in pairs], TEST_SHARE)
    cut = late[0].inputs.service_date if late else s.days
    test_v = [v for v, r in pairs if r.inputs.service_date >= cut]
    params = M.fit(early, f"bench-{seed}")
    y = np.array([r.no_show for r in late], dtype=int)
    p = M.predict_rows(params, late)
    auc, brier, ece = M.evaluate(p, y)
    base = float(np.mean([r.no_show for r in early]))

    prior = M.fit_prior(early)
    lead_auc = _auc(np.array([r.inputs.lead_days for r in late], dtype=float), y)
    rate_auc = _auc(np.array([prior.smoothed(r.inputs.history.booked_no_shows,
                                             r.inputs.history.booked) for r in late]), y)
    ceiling = posterior_ceiling(history, cut)
    ceiling_auc = _auc(np.array([ceiling[index[id(v)]] for v in test_v]), y)

    # reminders: the decision is taken on the risk without a reminder, for visits not reminded
    plain = {id(v): r for v, r in rows_from_history(history, with_reminders=False)}
    todo = [v for v in test_v if not v.reminder_sent]
    risk = M.predict_rows(params, [plain[id(v)] for v in todo])
    p0 = np.array([v.p_no_show for v in todo])
    k = round(TARGET_SHARE * len(todo))
    effect = 1 - REMINDER_RELATIVE_RISK
    top = effect * float(p0[np.argsort(-risk)[:k]].sum())
    rand = effect * TARGET_SHARE * float(p0.sum())
    post = np.array([ceiling[index[id(v)]] for v in todo])
    top_ceiling = effect * float(p0[np.argsort(-post)[:k]].sum())
    return {
        "booked_train": len(early), "booked_test": len(late), "base_rate": base,
        "auc": float(auc or 0), "best_auc": best_possible_auc(test_v),
        "ceiling_auc": ceiling_auc, "brier": brier,
        "brier_base": float(np.mean((base - y) ** 2)), "ece": ece,
        "lead_auc": lead_auc, "rate_auc": rate_auc,
        "averted_top": top, "averted_random": rand, "reminded": k,
        "ratio": top / rand, "ratio_ceiling": top_ceiling / rand,
        "seconds": time.perf_counter() - t0,
    }


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def mean_run(s: Scenario, seeds: list[int]) -> dict[str, float]:
    """Each figure averaged over `seeds` (one seed's hold-out is noisy at clinic volume)."""
    runs = [run(s, seed) for seed in seeds]
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


def table(results: list[tuple[Scenario, dict[str, float]]], seeds: list[int]) -> str:
    lines = [
        f"Means over seeds {', '.join(map(str, seeds))}; each: train on the first 75% of days, "
        "test on the last 25%; booked visits only.",
        "",
        "| figure | " + " | ".join(s.name for s, _ in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, fmt: str, key: str | None = None, fn: object = None) -> None:
        cells = []
        for _, r in results:
            value = fn(r) if callable(fn) else r[key or ""]
            cells.append(fmt.format(value) if not isinstance(value, str) else value)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row("booked visits train / test", "{}",
        fn=lambda r: f"{r['booked_train']:.0f} / {r['booked_test']:.0f}")
    row("seconds per seed (generate + fit + score)", "{:.1f}", "seconds")
    row("no-show base rate (train)", "{:.3f}", "base_rate")
    row("model AUC", "{:.3f}", "auc")
    row("best possible AUC (true p)", "{:.3f}", "best_auc")
    row("best possible from history (posterior)", "{:.3f}", "ceiling_auc")
    row("gap to best possible (target <= 0.03)", "{}",
        fn=lambda r: f"{r['best_auc'] - r['auc']:.3f} {_mark(r['best_auc'] - r['auc'] <= 0.03)}")
    row("gap to best from history", "{:.3f}", fn=lambda r: r["ceiling_auc"] - r["auc"])
    row("Brier: model / base rate", "{}",
        fn=lambda r: f"{r['brier']:.4f} / {r['brier_base']:.4f}")
    row("calibration error, ECE (target <= 0.03)", "{}",
        fn=lambda r: f"{r['ece']:.3f} {_mark(r['ece'] <= 0.03)}")
    row("AUC lead-time only rule", "{:.3f}", "lead_auc")
    row("AUC prior-rate only rule", "{:.3f}", "rate_auc")
    row("model - best single rule (target >= 0.03)", "{}", fn=lambda r: (
        f"{r['auc'] - max(r['lead_auc'], r['rate_auc']):+.3f} "
        f"{_mark(r['auc'] - max(r['lead_auc'], r['rate_auc']) >= 0.03)}"))
    row("no-shows averted: top 25% / random 25%", "{}", fn=lambda r: (
        f"{r['averted_top']:.1f} / {r['averted_random']:.1f} (of {r['reminded']:.0f} reminded)"))
    row("targeting ratio (target >= 1.5x)", "{}", fn=lambda r: (
        f"{r['ratio']:.2f}x {_mark(r['ratio'] >= 1.5)}"))
    row("targeting ratio, best from history", "{}", fn=lambda r: f"{r['ratio_ceiling']:.2f}x")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    ap.add_argument("--write", action="store_true", help="rewrite the figures in docs/risk.md")
    args = ap.parse_args()
    results = [(s, mean_run(s, args.seeds)) for s in SCENARIOS]
    out = table(results, args.seeds)
    print(out)
    if args.write:
        text = DOC.read_text() if DOC.exists() else ""
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        block = f"{begin}\n{out}\n{end}"
        if begin in text and end in text:
            text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
        else:
            text += f"\n{block}\n"
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(text)


if __name__ == "__main__":
    main()

