"""The admins' daily summary (the source's `daily_summary` agent): gathered, written from the
template, optionally reworded by an OpenAI-compatible model, stored once per hospital and day.

The model sees the day's counts and the template's text, nothing about any patient (the
figures hold none). It has a hard timeout (asyncio.wait_for and the client's own, no retries);
an answer that is empty, too long, or writes a number the template did not is dropped for
the template. Every call is one row of agent_audit_logs (latency, tokens, cost, status).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import structlog
from pydantic import BaseModel, ValidationError

from server.db import daily_summary as db
from server.db import risk as risk_db
from server.domain.daily_summary import compose, same_numbers
from server.risk.explainer import estimate_cost
from server.settings import Settings

log = structlog.get_logger("daily_summary")

PURPOSE = "daily_summary"
MAX_TEXT = 1200
SYSTEM = (
    "You write the evening note for the administrators of a hospital outpatient department. "
    "Reword the summary you are given into a short, plain paragraph (at most 120 words) for "
    "busy managers: keep every fact, use only the numbers it contains, invent nothing, no "
    "greeting. Reply with JSON: `text`."
)


class Reworded(BaseModel):
    text: str


@dataclass(frozen=True)
class Written:
    text: str
    written_by: str          # template | model
    status: str              # agent_audit_logs.status
    model: str
    latency_ms: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None


async def reword(settings: Settings, template: str, figures: dict[str, Any]) -> Written:
    """The model's wording of `template`, or the template itself; never raises."""
    if settings.openai_api_key is None:
        return Written(template, "template", "FALLBACK", "template", latency_ms=0,
                       error="no OPENAI_API_KEY: template used")
    from openai import APITimeoutError, AsyncOpenAI

    model, timeout = settings.openai_model, settings.openai_timeout_s
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=str(settings.openai_base_url) if settings.openai_base_url else None,
        timeout=timeout, max_retries=0)
    started = time.perf_counter()
    usage, text = None, None
    try:
        resp = await asyncio.wait_for(client.chat.completions.parse(
            model=model, response_format=Reworded, temperature=0.2,
            messages=[{"role": "system", "content": SYSTEM},
                      {"role": "user", "content": json.dumps(
                          {"summary": template, "figures": figures})}],
        ), timeout=timeout)
        usage = resp.usage
        parsed = resp.choices[0].message.parsed
        text = parsed.text.strip() if parsed else ""
        if not 0 < len(text) <= MAX_TEXT:
            status, error = "INVALID", "empty or over-long answer"
        elif not same_numbers(template, text):
            status, error = "INVALID", "the answer wrote numbers the summary does not hold"
        else:
            status, error = "OK", None
    except (TimeoutError, APITimeoutError):
        status, error = "TIMEOUT", f"no answer within {timeout} s"
    except (ValidationError, json.JSONDecodeError) as exc:
        status, error = "INVALID", f"unparseable answer: {str(exc)[:300]}"
    except Exception as exc:  # any API or network failure: the template stands
        status, error = "ERROR", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        await client.close()
    latency = round((time.perf_counter() - started) * 1000)
    prompt = usage.prompt_tokens if usage else None
    completion = usage.completion_tokens if usage else None
    ok = status == "OK" and text
    return Written(text if ok else template, "model" if ok else "template", status, model,
                   latency_ms=latency, prompt_tokens=prompt, completion_tokens=completion,
                   cost_usd=estimate_cost(model, prompt, completion), error=error)


async def write(pool: asyncpg.Pool, settings: Settings, hospital_id: UUID, day: date) -> bool:
    """That day's summary, once: False when it exists already."""
    if await db.exists(pool, hospital_id, day):
        return False
    figures = await db.figures(pool, hospital_id, day)
    template = compose(figures)
    facts = figures.as_json()
    facts.pop("hospital")           # the model needs no name at all
    written = await reword(settings, template, facts)
    await risk_db.insert_audit(   # the template's own use too, as the explainer's are
        pool, hospital_id=hospital_id, purpose=PURPOSE, model=written.model,
        request_summary={"day": day.isoformat(), "figures": facts},
        latency_ms=written.latency_ms, prompt_tokens=written.prompt_tokens,
        completion_tokens=written.completion_tokens, estimated_cost_usd=written.cost_usd,
        status=written.status, error=written.error)
    stored = await db.store(pool, hospital_id=hospital_id, day=day, text=written.text,
                            template_text=template, figures=figures.as_json(),
                            written_by=written.written_by)
    log.info("daily summary", hospital_id=str(hospital_id), day=day.isoformat(),
             written_by=written.written_by, stored=stored)
    return stored


def due_day(now: datetime, timezone: str, summary_hour: int) -> date | None:
    """The local day whose summary is due at `now` (its evening hour has come), else None."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.hour >= summary_hour else None
