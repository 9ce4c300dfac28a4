"""The event types a webhook may subscribe to: what each hospital's event stream carries
(API.md "Websockets"). Pure, so the workers' routing can import it."""

from __future__ import annotations

WEBHOOK_EVENTS = ("token.created", "token.called", "token.updated", "queue.updated",
                  "doctor.status")
