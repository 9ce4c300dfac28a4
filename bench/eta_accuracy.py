"""ETA accuracy over simulated clinic days: our p50/p90 against the naive reference.

    python -m bench.eta_accuracy [--days 200] [--seed 1001] [--quick]

Plays seeded days through the pure model (server.simulate) and scores every ETA a waiting
patient would have been shown (when the token joined the queue, then every 10 minutes) with
the inputs the server has at that moment: per-doctor stats learned with update_stats, the
consults of today (update_today), the elapsed current consult, the pause, the shift start,
the queue's scores; show probability 1.0 (walk-ins carry no risk score).
The truth is when the token was next called. Two references: the naive one, position x
(department average + 5 min buffer) (domain.eta.naive_eta), and the strong one, position x
the doctor's running mean consult time, no buffer (simulate.offline.strong_eta).

Shown range: [p10, p90], in whole minutes (a call up to half a minute past an edge counts as
inside). Targets (issue 14): called before p10 and after p90 each at most 10%, overall, at
position 1 and at joining; the p50's mean absolute error at least 10% below the strong
reference's. The constants of server/domain/eta.py and eta_today.py were tuned on seeds
1-100 (checked on 101-200); the report uses seeds from 1001 on, never used for tuning.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from server.simulate.offline import Accuracy, by_position, evaluate, summarize

MAE_GAIN_TARGET = 0.15
STRONG_GAIN_TARGET = 0.10
AFTER_P90_TARGET = 0.10
BEFORE_P10_TARGET = 0.10
REPORT_SEED = 1001
"""First seed reported: the constants were tuned on seeds 1-100."""
RESULTS = Path(__file__).resolve().parent / "results"


def _acc(a: Accuracy) -> dict[str, Any]:
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(a).items()},
            "mae_gain": round(a.mae_gain, 4), "strong_gain": round(a.strong_gain, 4)}


def _ends_hold(a: Accuracy) -> bool:
    return a.after_p90 <= AFTER_P90_TARGET and a.before_lower <= BEFORE_P10_TARGET


def run(days: int = 200, seed: int = REPORT_SEED) -> dict[str, Any]:
    t = time.monotonic()
    acc, scored = evaluate(days, seed)
    first = [s for s in scored if s.first]
    started = [s for s in scored if s.started]
    pos1 = summarize([s for s in scored if s.position == 1])
    join = summarize(first)
    return {
        "days": days, "first_seed": seed, "seconds": round(time.monotonic() - t, 1),
        "all": _acc(acc),
        "at_join": _acc(join),
        "position_1": _acc(pos1),
        "doctor_started": _acc(summarize(started)),
        "before_start_share": round(1 - len(started) / len(scored), 4),
        "before_start_share_position_1": round(
            sum(not s.started for s in scored if s.position == 1)
            / max(sum(s.position == 1 for s in scored), 1), 4),
        "by_position": [{"position": label, **_acc(a)} for label, a in by_position(scored)],
        "targets": {"mae_gain": MAE_GAIN_TARGET, "strong_gain": STRONG_GAIN_TARGET,
                    "after_p90": AFTER_P90_TARGET, "before_p10": BEFORE_P10_TARGET},
        "met": {"mae_gain": acc.mae_gain >= MAE_GAIN_TARGET,
                "strong_gain": acc.strong_gain >= STRONG_GAIN_TARGET,
                "after_p90": acc.after_p90 <= AFTER_P90_TARGET,
                "range_all": _ends_hold(acc), "range_position_1": _ends_hold(pos1),
                "range_at_join": _ends_hold(join)},
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["by_position"]
    labels = [r["position"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    x = range(len(rows))
    ax1.bar([i - 0.27 for i in x], [r["naive_mae"] for r in rows], 0.27, label="naive",
            color="#bbbbbb")
    ax1.bar(list(x), [r["strong_mae"] for r in rows], 0.27, label="strong",
            color="#777777")
    ax1.bar([i + 0.27 for i in x], [r["mae"] for r in rows], 0.27, label="ours (p50)",
            color="#2a6fb0")
    ax1.set_xticks(list(x), labels)
    ax1.set_xlabel("position in the queue")
    ax1.set_ylabel("mean absolute error, min")
    ax1.set_title("ETA error")
    ax1.legend()
    ax2.bar([i - 0.2 for i in x], [r["after_p90"] * 100 for r in rows], 0.4,
            color="#d9534f", label="called after p90")
    ax2.bar([i + 0.2 for i in x], [r["before_lower"] * 100 for r in rows], 0.4,
            color="#f0ad4e", label="called before p10")
    ax2.axhline(AFTER_P90_TARGET * 100, color="k", lw=0.7, ls="--",
                label=f"target, each end: {AFTER_P90_TARGET:.0%}")
    ax2.set_xticks(list(x), labels)
    ax2.set_xlabel("position in the queue")
    ax2.set_ylabel("% of shown ETAs")
    ax2.set_title("calls outside the shown range")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--days", type=int)
    p.add_argument("--seed", type=int, default=REPORT_SEED)
    p.add_argument("--quick", action="store_true", help="50 days instead of 200")
    args = p.parse_args()
    out = run(args.days or (50 if args.quick else 200), args.seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "eta.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
