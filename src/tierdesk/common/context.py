"""Per-request context that services read: the request id that ties audit events together.

The id is only *copied* into audit events; whether an event is written never depends on it
(NetBox's change log silently skips changes made outside a request; ours does not).
"""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("tierdesk_request_id", default="")
