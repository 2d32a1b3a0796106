"""Small helpers shared by the HTTP API tests: error-shape checks and "nothing changed" snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from tierdesk.accounts.models import ApiToken, User
from tierdesk.audit.models import AuditEvent
from tierdesk.orgs.models import Organisation
from tierdesk.tickets.models import Attachment, Escalation, Ticket, TicketEntry

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def assert_error(response: Any, status: int, *, code: str | None = None, field: str | None = None) -> dict:
    """The response is a JSON error with ``status``, a readable ``detail`` and the given code/field."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    assert body["detail"].strip(), body
    if code is not None:
        assert body.get("code") == code, body
    if field is not None:
        assert body.get("field") == field, body
    return body


def assert_validation_error(response: Any, field: str) -> list[dict]:
    """A 422 from schema validation in the shape of every error (``detail``, ``code``,
    ``field``) whose ``errors`` name ``field`` in ``loc`` (list items add an index)."""
    assert response.status_code == 422, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    assert body["code"] == "invalid", body
    errors = body["errors"]
    assert isinstance(errors, list) and errors, errors
    assert all(err["message"].strip() for err in errors), errors
    assert errors[0]["message"] in body["detail"] and body["field"] == errors[0]["field"], body
    assert any(field in err["loc"] for err in errors), errors
    return errors


def db_state() -> dict[str, Any]:
    """Everything an API call could change, in a comparable form (token bookkeeping excluded)."""
    return {
        "tickets": sorted(
            Ticket.objects.values_list(
                "id",
                "version",
                "status",
                "subject",
                "description",
                "assignee_id",
                "team_id",
                "current_line_id",
                "priority",
                "updated_at",
            )
        ),
        "entries": TicketEntry.objects.count(),
        "attachments": Attachment.objects.count(),
        "escalations": Escalation.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "users": sorted(User.objects.values_list("id", "first_name", "email", "is_active")),
        "organisations": Organisation.objects.count(),
        "tokens": ApiToken.objects.count(),
    }


def stored_files() -> list[Path]:
    """Every file in the test's storage directory (MEDIA_ROOT is per test, see tests/conftest.py)."""
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
