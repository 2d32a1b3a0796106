"""update_rows writes what save() would write, row by row, in one statement per batch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import World
from tierdesk.common import bulk
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_each_row_gets_its_own_values_including_nulls(world: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(bulk, "BATCH_ROWS", 2)  # three batches for five rows
    tickets = [world.ticket() for _ in range(5)]
    untouched = world.ticket()
    base = timezone.now().replace(microsecond=123456)
    for i, ticket in enumerate(tickets):
        ticket.sla_next_check_at = None if i == 2 else base + timedelta(minutes=i)
        ticket.response_sla = "breached" if i % 2 else "met"
        ticket.sla_paused_seconds = i * 7
        ticket.subject = f"Changed {i} '); DROP TABLE x; --"  # a parameter, never SQL
    fields = ["sla_next_check_at", "response_sla", "sla_paused_seconds", "subject"]
    bulk.update_rows(tickets, fields)
    for i, ticket in enumerate(tickets):
        stored = Ticket.objects.get(pk=ticket.pk)
        assert stored.sla_next_check_at == (None if i == 2 else base + timedelta(minutes=i))
        assert stored.response_sla == ("breached" if i % 2 else "met")
        assert stored.sla_paused_seconds == i * 7
        assert stored.subject == f"Changed {i} '); DROP TABLE x; --"
    assert Ticket.objects.get(pk=untouched.pk).subject == untouched.subject


def test_nothing_to_write_and_unknown_fields(world: World) -> None:
    bulk.update_rows([], ["subject"])  # no statement at all
    with pytest.raises(TypeError):
        bulk.update_rows([world.ticket()], ["entries"])  # a relation, not a column
