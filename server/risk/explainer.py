"""Optional words for a risk score from an OpenAI-compatible model.

It never changes the score: it gets the score, badge, factor phrases and a few
non-identifying features (never a name, phone or UHID; nothing that holds them is even
loaded), has a hard timeout (asyncio.wait_for AND the client's own, no retries), and any
failure falls back to a template sentence. Every attempt is one `Attempt`, which the caller
writes to agent_audit_logs with its latency, tokens, estimated cost and status.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from server.settings import Settings

PURPOSE = "risk_explanation"
MAX_EXPLANATION = 300
MAX_OUTREACH = 480

PRICE_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}
"""USD per million (prompt, completion) tokens; unknown models are logged without a cost."""

SYSTEM = (
    "You help the reception staff of a hospital outpatient department. Given a no-show risk "
    "score (0-100, computed by a statistical model you must not second-guess) and its main "
    "factors, reply with JSON: `explanation`, ONE plain sentence for staff saying why the "
    "score is what it is; `outreach_message`, a short, warm SMS to the patient (address them "
    "as 'you', no names, no medical details) encouraging them to come or to cancel early so "
    "another patient can have the slot."
)

AGE_BANDS = ((18, "under 18"), (36, "18-35"), (51, "36-50"), (65, "51-64"))
SAFE_INPUTS = ("lead_days", "weekday", "hour", "booking_type", "first_visit",
               "past_booked_visits", "past_no_shows", "reminders_sent", "weather")


class Explanation(BaseModel):
    explanation: str
    outreach_message: str


@dataclass(frozen=True)
class Attempt:
    explanation: str
    outreach_message: str
    status: str                   # OK | TIMEOUT | ERROR | FALLBACK | INVALID
    model: str
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None


def age_band(age: Any) -> str | None:
    if not isinstance(age, int):
        return None
    return next((label for edge, label in AGE_BANDS if age < edge), "65 or over")


def request_summary(a: dict[str, Any]) -> dict[str, Any]:
    """What the model may see of an assessment: an allow-list, so a new column never leaks."""
    inputs = (a.get("features") or {}).get("inputs") or {}
    safe = {k: inputs[k] for k in SAFE_INPUTS if k in inputs}
    if inputs.get("distance_km") is not None:
        safe["distance_km"] = round(float(inputs["distance_km"]))
    safe["age_band"] = age_band(inputs.get("age"))
    return {
        "score": a["score"], "badge": a["badge"], "tier": a["tier"],
        "factors": [f["phrase"] for f in a.get("factors") or []],
        "features": safe,
    }


def template(summary: dict[str, Any]) -> Explanation:
    factors = summary["factors"] or ["no single factor stands out"]
    main = factors[0] if len(factors) == 1 else ", ".join(factors[:-1]) + f" and {factors[-1]}"
    return Explanation(
        explanation=f"Risk {summary['score']}/100 ({summary['badge']}), mainly: {main}.",
        outreach_message=("A reminder of your hospital appointment. If you cannot come, please "
                          "cancel early so another patient can have the slot."),
    )


def estimate_cost(model: str, prompt: int | None, completion: int | None) -> float | None:
    price = PRICE_PER_MTOK.get(model)
    if price is None or prompt is None or completion is None:
        return None
    return round((prompt * price[0] + completion * price[1]) / 1e6, 6)


def _valid(e: Explanation) -> bool:
    text, sms = e.explanation.strip(), e.outreach_message.strip()
    return 0 < len(text) <= MAX_EXPLANATION and 0 < len(sms) <= MAX_OUTREACH


async def explain(settings: Settings, summary: dict[str, Any]) -> Attempt:
    """One explanation of `summary` (request_summary); always returns, never raises."""
    fallback = template(summary)
    model = settings.openai_model
    if settings.openai_api_key is None:
        return Attempt(fallback.explanation, fallback.outreach_message, "FALLBACK", "template",
                       latency_ms=0, error="no OPENAI_API_KEY: template used")
    from openai import APITimeoutError, AsyncOpenAI

    timeout = settings.openai_timeout_s
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=str(settings.openai_base_url) if settings.openai_base_url else None,
        timeout=timeout, max_retries=0)
    started = time.perf_counter()
    usage = None
    try:
        resp = await asyncio.wait_for(client.chat.completions.parse(
            model=model, response_format=Explanation, temperature=0.2,
            messages=[{"role": "system", "content": SYSTEM},
                      {"role": "user", "content": json.dumps(summary)}],
        ), timeout=timeout)
        usage = resp.usage
        parsed = resp.choices[0].message.parsed
        status, error = ("OK", None) if parsed and _valid(parsed) else (
            "INVALID", "empty or over-long answer")
    except (TimeoutError, APITimeoutError):
        parsed, status, error = None, "TIMEOUT", f"no answer within {timeout} s"
    except (ValidationError, json.JSONDecodeError) as exc:
        parsed, status, error = None, "INVALID", f"unparseable answer: {str(exc)[:300]}"
    except Exception as exc:  # any API or network failure: the template answers instead
        parsed, status, error = None, "ERROR", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        await client.close()
    latency = round((time.perf_counter() - started) * 1000)
    used = parsed if status == "OK" and parsed else fallback
    prompt = usage.prompt_tokens if usage else None
    completion = usage.completion_tokens if usage else None
    return Attempt(used.explanation.strip(), used.outreach_message.strip(), status, model,
                   latency_ms=latency, prompt_tokens=prompt, completion_tokens=completion,
                   cost_usd=estimate_cost(model, prompt, completion), error=error)
