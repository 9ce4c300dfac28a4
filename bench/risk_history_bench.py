"""The no-show model on an imported history: temporal hold-out, baselines, gradient boosting.

    python -m bench.risk_history_bench            # print the table (a few minutes)
    python -m bench.risk_history_bench --write    # and rewrite its block in docs/risk.md

The history comes from bench.history_gen (synthetic, NOT in the model's form), written as the
CSV a hospital would import and read back by the importer's own checker; training rows are
built by the workers' code (workers.risk.training_rows) from rows shaped as
server.db.history.training_visits returns them. Hold-out = the latest 20% of days (as
`opdq risk train`). Compared on it, booked outcomes only:
- the model as stored (prior + own fit by blend weight + intercept recalibrated on the last
  4 weeks), the same without the recalibration, and the prior alone (at the hospital's level);
- a strong simple baseline: no-show rate per lead-time bucket, moved by the patient's own
  smoothed past rate (logit of the bucket rate + the history_logit feature);
- scikit-learn's HistGradientBoostingClassifier on the same feature columns;
- the generator's true probabilities (the ceiling no model reaches).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bench import history_gen
from server.risk import features as F
from server.risk import history_import as H
from server.risk import model as M
from workers.risk import training_rows

TZ = ZoneInfo("Asia/Kolkata")
DOC = Path(__file__).resolve().parents[1] / "docs" / "risk.md"
SCENARIOS = ((100_000, 5), (20_000, 6))
LEAD_BUCKETS = (0, 1, 3, 8, 15, 31)


def visits(rows: list[H.HistoryRow]) -> list[dict[str, Any]]:
    """The importer's rows as server.db.history.training_visits returns them."""
    out = []
    for i, r in enumerate(rows):
        slot = r.slot_at.astimezone(TZ).replace(tzinfo=None) if r.slot_at else None
        out.append({"id": i, "patient_id": f"ref:{r.patient_ref}",
                    "department_id": r.department.casefold(), "service_date": r.service_date,
                    "booking_type": "ONLINE", "status": r.outcome, "slot_local": slot,
                    "booked_on": r.booked_at.astimezone(TZ).date(), "age": r.age,
                    "reminders_sent": int(bool(r.reminder_sent)), "reminders_delivered": 0,
                    "line": r.line})
    return out


def _bucket(lead: int) -> int:
    return sum(lead >= b for b in LEAD_BUCKETS) - 1


def baseline(early: list[M.TrainingRow], late: list[M.TrainingRow]) -> np.ndarray:
    """Lead-bucket rate (from the training days) + the patient's own smoothed rate."""
    prior = M.fit_prior(early)
    counts = np.zeros((len(LEAD_BUCKETS), 2))
    for r in early:
        counts[_bucket(r.inputs.lead_days)] += (r.no_show, 1)
    rate = (counts[:, 0] + 1) / (counts[:, 1] + 2)
    z = np.array([np.log(rate[_bucket(r.inputs.lead_days)] / (1 - rate[_bucket(
        r.inputs.lead_days)])) + F.vectorize(r.inputs, prior)["history_logit"] for r in late])
    return 1 / (1 + np.exp(-z))


def run(n_rows: int, seed: int) -> dict[str, Any]:
    t0 = time.monotonic()
    appts = history_gen.generate(n_rows, seed)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "history.csv"
        history_gen.write(path, appts)
        with path.open(newline="") as f:
            parsed = H.parse(f, TZ)
    assert not parsed.n_errors
    truth = {i + 2: a.p_no_show for i, a in enumerate(appts)}     # CSV line -> true p
    vs = visits(parsed.rows)
    rows = training_rows(vs)
    lines = [v["line"] for v in vs if v["status"] in F.OUTCOMES]
    line_of = {id(r): ln for r, ln in zip(rows, lines, strict=True)}
    booked = M.booked_rows(rows)
    early, late = M.temporal_split(booked)
    y = np.array([r.no_show for r in late], dtype=int)

    base = M.hospital_prior(early, "b")
    fitted = M.fit(early, "b", base.prior)
    w = M.blend_weight(len(early))
    blended = M.blend(base, fitted, w)
    model = M.recalibrated(blended, M.recent(early))
    prior_only = M.recalibrated(base, M.recent(early))

    from sklearn.ensemble import HistGradientBoostingClassifier
    x_early = M.matrix([r.inputs for r in early], base.prior)
    x_late = M.matrix([r.inputs for r in late], base.prior)
    hgb = HistGradientBoostingClassifier(random_state=0).fit(
        x_early, [r.no_show for r in early])

    preds = {
        "model as stored (prior + fit, recalibrated)": M.predict_rows(model, late),
        "model without the intercept recalibration": M.predict_rows(blended, late),
        "prior alone (published effects, hospital's level)": M.predict_rows(prior_only, late),
        "baseline: lead-bucket rate + own past rate": baseline(early, late),
        "HistGradientBoosting, same features": hgb.predict_proba(x_late)[:, 1],
        "generator's true p (ceiling)": np.array([truth[line_of[id(r)]] for r in late]),
    }
    out = {"rows": len(parsed.rows), "train": len(early), "test": len(late),
           "days": f"{late[0].inputs.service_date:%d %b} - {late[-1].inputs.service_date:%d %b}",
           "rate_train": float(np.mean([r.no_show for r in early])), "rate_test": float(y.mean()),
           "blend": w, "metrics": {k: M.evaluate(p, y) for k, p in preds.items()},
           "seconds": time.monotonic() - t0}
    return out


def table(results: list[dict[str, Any]]) -> str:
    heads = [f"{r['rows']:,} appointments (seed {s})" for r, (_, s) in
             zip(results, SCENARIOS, strict=True)]
    lines = [f"Run {datetime.now():%Y-%m-%d}; hold-out = the latest 20% of days; booked "
             "outcomes only (cancellations are history, not rows). AUC / Brier / ECE.", "",
             "| | " + " | ".join(heads) + " |", "|---|" + "---|" * len(heads)]
    def row(name: str, vals: list[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    row("train / test rows", [f"{r['train']:,} / {r['test']:,}" for r in results])
    row("no-show rate train / test", [f"{r['rate_train']:.3f} / {r['rate_test']:.3f}"
                                      for r in results])
    row("own-fit blend weight", [f"{r['blend']:.2f}" for r in results])
    for k in results[0]["metrics"]:
        row(k, [f"{m[0]:.3f} / {m[1]:.4f} / {m[2]:.3f}"
                for m in (r["metrics"][k] for r in results)])
    hgb = "HistGradientBoosting, same features"
    mod = "model as stored (prior + fit, recalibrated)"
    row("AUC gap to HGB (target <= 0.01)", [
        f"{r['metrics'][hgb][0] - r['metrics'][mod][0]:+.3f} "
        f"{'met' if r['metrics'][hgb][0] - r['metrics'][mod][0] <= 0.01 else 'NOT met'}"
        for r in results])
    row("model ECE (target <= 0.03)", [
        f"{r['metrics'][mod][2]:.3f} {'met' if r['metrics'][mod][2] <= 0.03 else 'NOT met'}"
        for r in results])
    row("seconds (generate + parse + fit all)", [f"{r['seconds']:.0f}" for r in results])
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    out = table([run(n, s) for n, s in SCENARIOS])
    print(out)
    if args.write:
        text = DOC.read_text()
        a, b = "<!-- history-bench:begin -->", "<!-- history-bench:end -->"
        head, rest = text.split(a)
        _, tail = rest.split(b)
        DOC.write_text(f"{head}{a}\n{out}\n{b}{tail}")


if __name__ == "__main__":
    main()
