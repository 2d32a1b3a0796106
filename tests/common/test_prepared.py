"""``PreparedRead``: a read compiled once that returns what the ORM would."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.common.prepared import PreparedRead
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _values(obj: Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_reads_the_same_objects_as_the_orm_with_their_relations(
    world: World, django_assert_num_queries: Any
) -> None:
    ticket = world.ticket(description="Toner low", impact=1, urgency=1)
    read = PreparedRead(
        lambda pk: Ticket.objects.select_related("organisation", "requester__organisation").filter(pk=pk), -1
    )
    with django_assert_num_queries(1):
        (found,) = read(ticket.pk)
        # The related objects came with the row, and so did their relations.
        assert found.requester.organisation.name == "Alpha Ltd"
        assert found.organisation == world.org_a
    expected = Ticket.objects.get(pk=ticket.pk)
    assert _values(found) == _values(expected)
    assert _values(found.requester) == _values(User.objects.get(pk=world.customer_a.pk))
    assert found._state.adding is False and found._state.db == "default"
    assert read(2**62) == []


def test_values_go_through_the_fields_converters(world: World) -> None:
    """JSON and datetime columns come back as Python objects on every backend (SQLite needs
    converters for both)."""
    ticket = world.ticket()
    event = AuditEvent.objects.filter(target_id=ticket.pk, event_type="ticket.created").get()
    read = PreparedRead(lambda pk: AuditEvent.objects.filter(pk=pk), -1)
    found = read.first(event.pk)
    assert found is not None
    assert isinstance(found.new, dict) and found.new["subject"] == ticket.subject
    assert found.created_at == event.created_at and found.created_at.tzinfo is not None


def test_compiles_once_and_only_swaps_the_values(world: World) -> None:
    builds = []

    def build(username: str) -> Any:
        builds.append(username)
        return User.objects.filter(username=username).only("id", "username")

    read = PreparedRead(build, "\x00name")
    assert [p.pk for p in read("l1")] == [world.l1.pk]
    assert [p.pk for p in read("l2")] == [world.l2.pk]
    assert builds == ["\x00name"]
    # A value is a parameter, never SQL.
    assert read("l1' OR '1'='1") == []
    # Deferred fields stay deferred, as with the ORM.
    assert read("l1")[0].get_deferred_fields() >= {"email"}


def test_refuses_reads_it_cannot_reproduce(world: World) -> None:
    with pytest.raises(ImproperlyConfigured, match="appears 0 times"):
        PreparedRead(lambda pk: User.objects.filter(pk=1), -1)(1)
    with pytest.raises(ImproperlyConfigured, match="appears 2 times"):
        PreparedRead(lambda pk: User.objects.filter(pk=pk) | User.objects.filter(organisation_id=pk), -1)(1)
    with pytest.raises(ImproperlyConfigured, match="annotations"):
        PreparedRead(lambda pk: User.objects.filter(pk=pk).extra(select={"two": "2"}), -1)(1)
    with pytest.raises(ImproperlyConfigured):
        PreparedRead(lambda when: User.objects.filter(date_joined=when), None)  # type: ignore[arg-type]
    read = PreparedRead(lambda pk: User.objects.filter(pk=pk), -1)
    with pytest.raises(TypeError):
        read("1")
    with pytest.raises(TypeError):
        read(1, 2)
