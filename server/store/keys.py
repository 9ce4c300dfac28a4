"""Every Redis key and channel name of the live view, in one place.

All keys of one hospital share the hash tag `{h:<hospital_id>}`, so in a Redis Cluster a
hospital lives on one slot and every Lua script touches one slot only.
"""

from __future__ import annotations

import hashlib
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
    """The run id of the Redis server that loaded the live view from PostgreSQL: gone after a
    flush, and no longer that server's after a restart or failover (see _lib.lua)."""
    return f"{tag(h)}:ready"


def staged(h: UUID | str, action: str) -> str:
    """An action's events, staged until its record commits (emit.lua) or dropped."""
    return f"{tag(h)}:staged:{action}"


def floor(h: UUID | str) -> str:
    """The sequence number of the last whole-hospital rebuild: a client resuming from before
    it gets a fresh snapshot (events around a lost view cannot be replayed exactly)."""
    return f"{tag(h)}:floor"


def seq(h: UUID | str) -> str:
    """The hospital's event sequence number (only grows; see _lib.lua for its floor)."""
    return f"{tag(h)}:seq"


def views(h: UUID | str) -> str:
    """A revision moved by changes that announce no event but show in the staff's views (a
    patient's name edited, a risk score, a doctor's cabin); with `seq`, the version of the
    hospital's rendered views (server/view_cache.py)."""
    return f"{tag(h)}:views"


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
    """Hash: cur, cur_status, cur_since_ms, last_call_ms, status, pause fields, consult stats,
    and `pending` (the id of an action whose change is not settled yet)."""
    return f"{tag(h)}:doc:{doctor_id}"


def hospital_from_channel(name: str) -> str:
    """'opd:{h:<id>}:ev' -> '<id>'."""
    start = name.index("{h:") + 3
    return name[start:name.index("}", start)]


# rate limits (server/auth/ratelimit.py), not per hospital. The login keys share one hash
# tag, so the throttle's script stays single-slot in a Redis Cluster; usernames are hashed
# (a password typed into the username box must not sit in Redis in clear).
LOGIN_THROTTLE = f"{PREFIX}:{{login}}"


def _digest(*parts: str) -> str:
    text = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(text).hexdigest()[:32]


def login_pair_key(username: str, address: str) -> str:
    """Hash f (failures), u (locked until, ms), x (forgotten at, ms): one user, one address."""
    return f"{LOGIN_THROTTLE}:pair:{_digest(username.lower(), address)}"


def login_user_key(username: str) -> str:
    """Hash s (window start, ms), n (failures): one username, every address."""
    return f"{LOGIN_THROTTLE}:user:{_digest(username.lower())}"


def login_addr_key(address: str) -> str:
    """Hash s (window start, ms), n (failures): one client address, every username."""
    return f"{LOGIN_THROTTLE}:addr:{address[:64]}"


def login_alert_key(*parts: str) -> str:
    """Set for one failure window once a lockout of these parts was alerted."""
    return f"{LOGIN_THROTTLE}:alerted:{_digest(*parts)}"


def public_key(scope: str, ident: str) -> str:
    """For the patient endpoints: e.g. public_key("checkin", code) or ("addr", ip)."""
    return f"{PREFIX}:rl:public:{scope}:{ident[:128]}"


def api_key_rate(key_id: UUID | str) -> str:
    """Requests of one API key in the current minute (server/auth/api_keys.py)."""
    return f"{PREFIX}:rl:apikey:{key_id}"
