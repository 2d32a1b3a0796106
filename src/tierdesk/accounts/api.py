"""HTTP API for the current user."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from tierdesk.common.api import caller
from tierdesk.tickets.selectors import agent_scope

router = Router(tags=["accounts"])


class TeamRef(Schema):
    id: int
    line_id: int
    may_contact_customer: bool


class MeOut(Schema):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    role: str
    organisation_id: int | None
    is_org_manager: bool
    language: str
    teams: list[TeamRef]

    @staticmethod
    def resolve_teams(obj: Any) -> list[dict[str, Any]]:
        if not obj.is_agent:
            return []
        return [
            {"id": t.team_id, "line_id": t.line_id, "may_contact_customer": t.may_contact_customer}
            for t in agent_scope(obj).teams
        ]


@router.get("", response=MeOut, summary="The signed-in user")
def me(request: HttpRequest) -> Any:
    return caller(request)
