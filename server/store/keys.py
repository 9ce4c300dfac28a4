"""Every Redis key and channel name of the live view, in one place.

All keys of one hospital share the hash tag `{h:<hospital_id>}`, so in a Redis Cluster a
hospital lives on one slot and every Lua script touches one slot only.
"""

from __future__ import annotations

from uuid import UUID

PREFIX = "opd"
# pub/sub pattern a web process subscribes to: every hospital's event channel
EVENTS_PATTERN = f"{PREFIX}:{{h:*}}:ev"
# display keys revoked by an admin: web processes close the matching sockets
DISPLAY_REVOKED = f"{PREFIX}:display-revoked"


# the consumer group through which workers turn each hospital's events into jobs
DISPATCH_GROUP = "notify"


def notify_sid_stash(row_id: UUID | str) -> str:
    """Twilio SID of a sent message whose log row could not be updated (workers/notify.py)."""
    return f"{PREFIX}:notify:sid:{row_id}"


def tag(hospital_id: UUID | str) -> str:
    return f"{PREFIX}:{{h:{hospital_id}}}"


def ready(h: UUID | str) -> str:
    """Present once the live view was loaded from PostgreSQL; gone after a flush or restart."""
    return f"{tag(h)}:ready"


def seq(h: UUID | str) -> str:
    """The hospital's event sequence number (only grows; see _lib.lua for its floor)."""
    return f"{tag(h)}:seq"


def stream(h: UUID | str) -> str:
    """Recent events, entry id `<seq>-0`, so `since` resumes with XRANGE."""
    return f"{tag(h)}:events"


def channel(h: UUID | str) -> str:
    return f"{tag(h)}:ev"


def tokens(h: UUID | str) -> str:
    """Hash token id -> JSON of the live token's public fields (events are built from it)."""
    return f"{tag(h)}:tok"


def queue(h: UUID | str, doctor_id: UUID | str) -> str:
    """Sorted set of the doctor's WAITING tokens; score = domain.ordering.queue_score."""
    return f"{tag(h)}:q:{doctor_id}"


def doctor(h: UUID | str, doctor_id: UUID | str) -> str:
    """Hash: cur, cur_status, cur_since_ms, last_call_ms, status, pause fields, consult stats."""
    return f"{tag(h)}:doc:{doctor_id}"


def hospital_from_channel(name: str) -> str:
    """'opd:{h:<id>}:ev' -> '<id>'."""
    start = name.index("{h:") + 3
    return name[start:name.index("}", start)]


# rate limits (server/auth/ratelimit.py): fixed windows, not per hospital
def login_user_key(username: str) -> str:
    return f"{PREFIX}:rl:login:user:{username.lower()[:64]}"


def login_addr_key(address: str) -> str:
    return f"{PREFIX}:rl:login:addr:{address[:64]}"


def public_key(scope: str, ident: str) -> str:
    """For the patient endpoints: e.g. public_key("checkin", code) or ("addr", ip)."""
    return f"{PREFIX}:rl:public:{scope}:{ident[:128]}"
