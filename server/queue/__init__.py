"""Queue use-cases: domain rules + Redis live view + PostgreSQL record + events.

The one entry for routes and workers, in parts: `actions` (issue, Next, pause, leave),
`token_actions` (the single-token actions), `reads` (positions, ETAs, queue.updated),
`recovery` (settle, rebuild, repair, reconcile, close the day), all on `base` (the action
plumbing). Every change to a doctor's queue is an *action*
(`_action`), and nothing is announced before it is committed:

1. open a PostgreSQL transaction and take the doctor's advisory lock (and the hospital's,
   shared), so actions on one queue take turns across every process;
2. check the transition against the token's recorded status (domain.lifecycle);
3. run the Lua script: it changes the live queue and *stages* its events under the action's
   id, marking the doctor `pending` (store/lua/_lib.lua);
4. write the record (token row, token_history row with the action id), the queue's new
   positions and ETAs, and the action id in live_actions: the proof it committed;
5. COMMIT; then emit: the staged events get their sequence numbers and reach the stream, the
   boards and the workers. The 2xx answer follows.

A doctor marked pending refuses every other script and read (PENDING) until the action is
settled. An action that fails before COMMIT (a refused write, a cut connection, a failed
COMMIT) is settled at once by its own process; one whose process died is settled by the next
reader or actor of that doctor, or by the reconciler within a minute. Settling asks the
record: the action committed -> announce its staged events (once: emit is idempotent); it did
not -> drop them and rebuild the doctor's live view from the record. So no screen, stream or
notification ever shows a change the record does not hold, and every committed change is
announced. A live view that is gone, or was loaded before Redis last restarted (possibly from
an older snapshot), is rebuilt from PostgreSQL before anyone uses it (NotReady).
"""

from __future__ import annotations

from server.queue.actions import Actions
from server.queue.base import SYSTEM, Actor, Diverged, QueueState, Txn, refused_transition
from server.queue.reads import Reads
from server.queue.recovery import Recovery, close_day
from server.queue.token_actions import TokenActions

__all__ = ["SYSTEM", "Actor", "Diverged", "QueueService", "QueueState", "Txn", "close_day",
           "refused_transition"]


class QueueService(Actions, TokenActions, Reads, Recovery):
    """Domain rules + Redis live view + PostgreSQL record + events, for one hospital or many."""
