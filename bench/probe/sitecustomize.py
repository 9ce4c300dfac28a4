"""A measuring probe for a bench's web processes (not part of the server): put this folder
first on PYTHONPATH and set OPDQ_PROBE to a folder; SIGUSR1 writes what was seen since the
last signal to OPDQ_PROBE/probe-<pid>-<n>.json and starts again.

What it records: every garbage collection (generation, pause), the event loop's lateness
(a 2 ms ticker: how long the loop was held), and per event from Redis to the sockets in the
realtime hub: when it arrived (_on_message), when its burst's write began and ended, how many
sockets were written; and each Next's core (Actions.call_next: its queries and scripts).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time
from typing import Any

OUT = os.environ.get("OPDQ_PROBE")

if OUT:
    _gc: list[tuple[float, int, float, int]] = []  # (at, generation, pause s, collected)
    _lag: list[tuple[float, float]] = []  # (at, lateness s) of ticks late by > 2 ms
    _events: list[dict[str, Any]] = []
    _flushes: list[tuple[float, float, int]] = []  # (start, end, sockets written)
    _presses: list[tuple[float, float]] = []  # (start, end) of each Next's core (call_next)
    _n = [0]
    _start = [0.0]

    def _on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            _start[0] = time.perf_counter()
        else:
            _gc.append((time.time(), info["generation"], time.perf_counter() - _start[0],
                        info.get("collected", 0)))

    gc.callbacks.append(_on_gc)
    if thresholds := os.environ.get("OPDQ_PROBE_GC"):  # e.g. 50000/20/100: a variant to try
        gc.set_threshold(*(int(x) for x in thresholds.split("/")))

    def _dump(*_: Any) -> None:
        _n[0] += 1
        data = {"pid": os.getpid(), "gc": list(_gc), "lag": list(_lag), "events": list(_events),
                "flushes": list(_flushes), "presses": list(_presses),
                "gc_counts": gc.get_count(),
                "gc_threshold": gc.get_threshold(), "gc_stats": gc.get_stats(),
                "frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}
        for x in (_gc, _lag, _events, _flushes, _presses):
            x.clear()
        path = os.path.join(OUT, f"probe-{os.getpid()}-{_n[0]}.json")
        with open(path, "w") as f:
            json.dump(data, f)

    signal.signal(signal.SIGUSR1, _dump)

    def _patch() -> None:
        import asyncio

        from server import burst, realtime

        hub, writer = realtime.Hub, burst.Burst
        on_message, flush, start = hub._on_message, writer.flush, hub.start

        def sockets(batch: dict[Any, Any]) -> int:  # a flock (server.flock) counts its members
            return sum(len(t) if hasattr(t, "writes") else 1 for t in batch)

        def _on_message_p(self: Any, message: dict[str, Any]) -> None:
            t = time.time()
            raw = message.get("data")
            on_message(self, message)
            if isinstance(raw, str) and raw.startswith('{"type":"token.called"'):
                _events.append({"at": t, "done": time.time(), "n": sockets(self.burst.pending)})

        def _flush_p(self: Any) -> None:
            n = sockets(self.pending)
            t = time.time()
            flush(self)
            _flushes.append((t, time.time(), n))

        async def _ticker() -> None:
            loop = asyncio.get_running_loop()
            while True:
                t = loop.time()
                await asyncio.sleep(0.002)
                late = loop.time() - t - 0.002
                if late > 0.002:
                    _lag.append((time.time(), late))

        async def _start_p(self: Any) -> None:
            await start(self)
            self._probe_ticker = asyncio.create_task(_ticker())

        hub._on_message, hub.start, writer.flush = _on_message_p, _start_p, _flush_p
        from server.queue.actions import Actions

        call_next = Actions.call_next

        async def _call_next_p(self: Any, *args: Any, **kwargs: Any) -> Any:
            t = time.time()
            try:
                return await call_next(self, *args, **kwargs)
            finally:
                _presses.append((t, time.time()))

        Actions.call_next = _call_next_p  # type: ignore[method-assign]
        if chunk := os.environ.get("OPDQ_PROBE_CHUNK"):  # sockets written per turn, to try
            writer.FLUSH_CHUNK = int(chunk)

    _patch()
