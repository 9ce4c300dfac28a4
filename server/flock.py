"""A flock: the live subscribers of one route with the same audience and the same last seq,
written to as one (every board of a department, every console of a doctor).

Dispatch and flush then cost one step per flock, not per socket: the flock takes an event's
message once, and its members' transports are written in one loop run by the interpreter's
C code (`write_all`), with no Python per socket. What stays per socket is the kernel's send.

Slots never move while a burst is being written: a member that leaves (closed, dropped)
leaves a no-op in its slot, and the flock is compacted between bursts, when joiners are let
in too (`Flocks.settle`, which the hub calls once a burst is out).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Iterator
from itertools import islice, repeat
from operator import call
from typing import Any

import structlog

log = structlog.get_logger("realtime")

Write = Callable[[bytes], object]
Route = tuple[str, str]


def _skip(data: bytes) -> None:
    """The write in the slot of a member that left."""


class Flock:
    __slots__ = ("holes", "key", "kind", "last_sent", "members", "sent_seq", "template",
                 "writes")

    def __init__(self, key: tuple[Any, ...], template: Any) -> None:
        self.key = key  # (hospital, route, audience)
        self.template = template  # asks `accept` for the flock (one audience: one answer)
        self.kind: str = template.kind
        self.members: list[Any] = []  # None where a member left
        self.writes: list[Write] = []  # each member's transport.write, _skip where it left
        self.holes = 0
        self.sent_seq: int = template.sent_seq
        self.last_sent: float = template.last_sent

    def __len__(self) -> int:
        return len(self.members) - self.holes

    def join(self, sub: Any, write: Write) -> None:
        sub.flock, sub.flock_slot = self, len(self.members)
        self.members.append(sub)
        self.writes.append(write)

    def leave(self, sub: Any) -> None:
        """A member's slot goes quiet at once, even in the middle of a burst's write."""
        slot = sub.flock_slot
        if sub.flock is self and self.members[slot] is sub:
            self.members[slot] = None
            self.writes[slot] = _skip
            self.holes += 1
        sub.flock, sub.flock_slot = None, -1

    def compact(self) -> None:
        """Close the holes (between bursts only: a burst being written holds slot ranges)."""
        if not self.holes:
            return
        kept = [(m, w) for m, w in zip(self.members, self.writes, strict=True) if m is not None]
        self.members = [m for m, _ in kept]
        self.writes = [w for _, w in kept]
        self.holes = 0
        for slot, member in enumerate(self.members):
            member.flock_slot = slot

    def alive(self) -> Iterator[Any]:
        return (m for m in self.members if m is not None)


def write_all(writes: list[Write], lo: int, hi: int, data: bytes) -> None:
    """writes[lo:hi](data), the loop in C. A transport that refuses (closed under us, which
    the hub's bookkeeping should prevent) costs only its own write: the rest go on."""
    rest = islice(writes, lo, hi)
    try:
        deque(map(call, rest, repeat(data)), 0)
    except Exception as exc:  # one bad transport must not silence the others
        log.warning("a flock member's transport refused a write", error=str(exc))
        for write in rest:
            try:
                write(data)
            except Exception:
                continue


class Flocks:
    """A process's flocks, by hospital and route, and their joins and leaves."""

    def __init__(self) -> None:
        self.herds: dict[str, dict[Route, dict[Any, Flock]]] = defaultdict(
            lambda: defaultdict(dict))
        self._holed: set[Flock] = set()  # a member left: compacted between bursts

    def of(self, hospital_id: str) -> dict[Route, dict[Any, Flock]]:
        return self.herds.get(hospital_id) or {}

    def all(self) -> list[Flock]:
        return [f for herds in self.herds.values() for herd in herds.values()
                for f in herd.values()]

    def members(self) -> list[Any]:
        return [m for flock in self.all() for m in flock.alive()]

    def forget(self, hospital_id: str) -> None:
        self.herds.pop(hospital_id, None)

    def leave(self, sub: Any) -> None:
        self._holed.add(sub.flock)
        sub.flock.leave(sub)

    def settle(self, strays: list[Any], index: dict[str, dict[Route, set[Any]]],
               pending: Collection[object]) -> None:
        """Between bursts: flocks close the holes members left, and a subscriber written
        alone (filed in `index`) joins its audience's flock once both have been sent the
        same events (the same last seq) and neither has anything `pending` for the next
        burst, so it gets no event twice and misses none."""
        self._compact(pending)
        for sub in strays:
            if sub.closed or sub.flock is not None or sub in pending:
                continue
            direct = getattr(sub.outlet, "direct", None)
            write = direct() if direct is not None else None
            route = sub.routes()
            filed = index.get(sub.hospital_id, {}).get(route)
            if write is None or not filed or sub not in filed:
                continue
            herd = self.herds[sub.hospital_id][route]
            flock = herd.get(sub.audience)
            if flock is None:
                flock = herd[sub.audience] = Flock((sub.hospital_id, route, sub.audience), sub)
            elif flock.sent_seq != sub.sent_seq or flock in pending:
                continue
            filed.discard(sub)
            if not filed:
                del index[sub.hospital_id][route]
            flock.join(sub, write)

    def _compact(self, pending: Collection[object]) -> None:
        holed, self._holed = self._holed, set()
        for flock in holed:
            flock.compact()
            h, route, audience = flock.key
            herd = self.herds.get(h, {}).get(route)
            if not len(flock) and herd is not None and herd.get(audience) is flock \
                    and flock not in pending:
                del herd[audience]
                if not herd:
                    del self.herds[h][route]
