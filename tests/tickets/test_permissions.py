"""Who sees what: restricted querysets and the selectors built on them (404, never 403)."""

from __future__ import annotations

import pytest
from django.http import Http404

from tests.factories import PASSWORD, World
from tests.tickets.helpers import upload
from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.accounts.services import create_user, update_user
from tierdesk.common.errors import NotPermitted
from tierdesk.orgs.models import Organisation
from tierdesk.tickets import selectors, services
from tierdesk.tickets.models import Team, Ticket

pytestmark = pytest.mark.django_db


def _visible(user: User | None) -> set[int]:
    return set(Ticket.objects.restrict(user).values_list("pk", flat=True))


def _reload(user: User) -> User:
    """A fresh user object, so no agent scope is cached from before a team change."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def three(world: World) -> dict[str, Ticket]:
    """Tickets of customer_a and customer_a2 (org A) and customer_b (org B), all new on L1."""
    return {
        "a1": world.ticket(requester=world.customer_a),
        "a2": world.ticket(requester=world.customer_a2),
        "b1": world.ticket(requester=world.customer_b),
    }


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"a1", "a2", "b1"}),
        ("customer_a", {"a1"}),
        ("customer_a2", {"a2"}),
        ("customer_b", {"b1"}),
        ("manager_a", {"a1", "a2"}),
        ("manager_b", {"b1"}),
        ("l1", {"a1", "a2", "b1"}),
        ("l1_b_only", {"b1"}),
        ("l2", set()),  # nothing is on L2 yet
        ("l3", set()),
    ],
)
def test_ticket_visibility_by_role(
    world: World, three: dict[str, Ticket], who: str, expected: set[str]
) -> None:
    assert _visible(getattr(world, who)) == {three[name].pk for name in expected}


def test_nobody_anonymous_or_inactive_sees_tickets(world: World, three: dict[str, Ticket]) -> None:
    assert _visible(None) == set()
    for user in (world.customer_a, world.l1, world.admin):
        update_user(user, actor=None, changes={"is_active": False})
        assert _visible(_reload(user)) == set()


def test_escalation_moves_visibility_to_the_next_line(world: World, three: dict[str, Ticket]) -> None:
    a1 = three["a1"]
    services.assign_ticket(a1, assignee=world.l1, actor=world.l1)
    services.escalate_ticket(a1, to_line=world.lines["L2"], actor=world.l1, reason="Needs L2")
    l1, l2, l3 = _reload(world.l1), _reload(world.l2), _reload(world.l3)
    assert a1.pk not in _visible(l1)  # escalation took it off him
    assert a1.pk in _visible(l2)
    assert a1.pk not in _visible(l3)
    with pytest.raises(Http404):
        selectors.get_ticket(l1, a1.pk)
    # The customer and his manager still see it, the other organisation does not.
    assert a1.pk in _visible(world.customer_a)
    assert a1.pk in _visible(world.manager_a)
    assert a1.pk not in _visible(world.manager_b)


def test_agent_keeps_seeing_a_ticket_assigned_to_him(world: World, three: dict[str, Ticket]) -> None:
    a1 = three["a1"]
    services.assign_ticket(a1, assignee=world.l1, actor=world.admin)
    # He leaves the L1 team: his lines no longer cover the ticket, his assignment still does.
    services.set_team_members(world.teams["L1"], members=[], actor=world.admin)
    l1 = _reload(world.l1)
    assert _visible(l1) == {a1.pk}
    assert selectors.get_ticket(l1, a1.pk) == a1
    # And he can still work it.
    services.add_internal_note(a1, actor=l1, body="Still mine")


def test_team_serving_all_organisations_sees_every_client(world: World, three: dict[str, Ticket]) -> None:
    services.save_desk_configuration(
        Team(name="Everyone L1", line=world.lines["L1"], serves_all_organisations=True), actor=world.admin
    )
    team = Team.objects.get(name="Everyone L1")
    services.set_team_members(team, members=[world.l1_b_only], actor=world.admin)
    assert _visible(_reload(world.l1_b_only)) == {t.pk for t in three.values()}


def test_agent_visibility_is_per_team_not_a_cross_product(world: World, three: dict[str, Ticket]) -> None:
    services.save_desk_configuration(Team(name="L2 for Alpha", line=world.lines["L2"]), actor=world.admin)
    team = Team.objects.get(name="L2 for Alpha")
    services.set_team_members(team, members=[world.l1_b_only], actor=world.admin)
    services.set_team_organisations(team, organisations=[world.org_a], actor=world.admin)
    agent = _reload(world.l1_b_only)
    with pytest.raises(NotPermitted):  # the services agree he does not cover org A on L1
        services.add_internal_note(three["a1"], actor=agent, body="Can I?")
    assert _visible(agent) == {three["b1"].pk}


# --- get_ticket -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["customer_a2", "customer_b", "manager_b", "l1_b_only", "l2", "l3"])
def test_get_ticket_is_404_for_tickets_one_may_not_see(
    world: World, three: dict[str, Ticket], who: str
) -> None:
    a1 = three["a1"]
    user = getattr(world, who)
    for ref in (a1.pk, a1.number, str(a1.pk)):
        with pytest.raises(Http404):
            selectors.get_ticket(user, ref)


@pytest.mark.parametrize("who", ["admin", "customer_a", "manager_a", "l1"])
def test_get_ticket_by_id_or_number(world: World, three: dict[str, Ticket], who: str) -> None:
    a1 = three["a1"]
    user = getattr(world, who)
    for ref in (a1.pk, a1.number, a1.number.lower(), str(a1.pk), f"  {a1.number} "):
        assert selectors.get_ticket(user, ref).pk == a1.pk


@pytest.mark.parametrize("ref", ["", "abc", "TD-", "TD-12a", "-1", "9" * 40, 999_999])
def test_get_ticket_of_garbage_or_missing_is_404(
    world: World, three: dict[str, Ticket], ref: str | int
) -> None:
    with pytest.raises(Http404):
        selectors.get_ticket(world.admin, ref)


# --- conversation and attachments ------------------------------------------------------------


@pytest.fixture
def files(world: World, three: dict[str, Ticket]) -> dict[str, int]:
    a1, b1 = three["a1"], three["b1"]
    note = services.add_internal_note(a1, actor=world.l1, body="Internal dump")
    reply = services.add_public_reply(a1, actor=world.l1, body="Here is the fix")
    return {
        "internal": services.add_attachment(
            a1, actor=world.l1, file=upload(b"dump"), filename="dump.bin", entry=note
        ).pk,
        "public": services.add_attachment(
            a1, actor=world.l1, file=upload(b"fix"), filename="fix.txt", entry=reply
        ).pk,
        "other_org": services.add_attachment(
            b1, actor=world.customer_b, file=upload(b"b"), filename="b.txt"
        ).pk,
    }


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("admin", {"internal", "public", "other_org"}),
        ("l1", {"internal", "public", "other_org"}),
        ("l1_b_only", {"other_org"}),
        ("l2", set()),
        ("customer_a", {"public"}),
        ("manager_a", {"public"}),
        ("customer_a2", set()),
        ("customer_b", {"other_org"}),
        ("manager_b", {"other_org"}),
    ],
)
def test_get_attachment(world: World, files: dict[str, int], who: str, allowed: set[str]) -> None:
    user = getattr(world, who)
    for name, pk in files.items():
        if name in allowed:
            assert selectors.get_attachment(user, pk).pk == pk
        else:
            with pytest.raises(Http404):
                selectors.get_attachment(user, pk)


def test_customers_read_only_public_entries_and_files(
    world: World, three: dict[str, Ticket], files: dict[str, int]
) -> None:
    a1 = three["a1"]
    staff_view = selectors.conversation(a1, world.l1)
    customer_view = selectors.conversation(a1, world.customer_a)
    assert {e.kind for e in staff_view} >= {"internal", "public"}
    assert [e.kind for e in customer_view] == ["public"]
    assert customer_view[0].body == "Here is the fix"
    assert [a.pk for a in selectors.ticket_attachments(a1, world.customer_a)] == [files["public"]]
    assert [a.pk for a in selectors.ticket_attachments(a1, world.l1)] == [files["internal"], files["public"]]


# --- organisations and people ----------------------------------------------------------------


def _orgs(user: User, action: str = "view") -> set[str]:
    return set(Organisation.objects.restrict(user, action).values_list("short_name", flat=True))


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"provider", "alpha", "beta"}),
        ("l1", {"provider", "alpha", "beta"}),
        ("l1_b_only", {"provider", "beta"}),
        ("customer_a", {"alpha"}),
        ("manager_a", {"alpha"}),
        ("manager_b", {"beta"}),
    ],
)
def test_organisation_visibility(world: World, who: str, expected: set[str]) -> None:
    assert _orgs(getattr(world, who)) == expected


def test_customers_may_not_change_organisations(world: World) -> None:
    assert _orgs(world.manager_a, "change") == set()
    assert _orgs(world.customer_a, "change") == set()
    assert Organisation.objects.restrict(None).count() == 0


def _people(user: User, action: str = "view") -> set[str]:
    return set(User.objects.restrict(user, action).values_list("username", flat=True))


def test_user_visibility(world: World) -> None:
    everyone = set(User.objects.values_list("username", flat=True))
    staff = {"admin", "l1", "l2", "l3", "l1b"}
    org_a = {world.manager_a.username, world.customer_a.username, world.customer_a2.username}
    org_b = {world.manager_b.username, world.customer_b.username}
    assert _people(world.admin) == everyone
    assert _people(world.l1) == staff | org_a | org_b
    assert _people(world.l1_b_only) == staff | org_b
    assert _people(world.manager_a) == org_a
    assert _people(world.manager_b) == org_b
    assert _people(world.customer_a) == {world.customer_a.username}
    assert _people(world.manager_a, "change") == {world.manager_a.username}
    assert _people(None) == set()


def test_agent_without_teams_sees_only_staff(world: World) -> None:
    loner = create_user(
        actor=world.admin, username="loner", organisation=world.provider, role=Role.AGENT, password=PASSWORD
    )
    assert _people(loner) == {"admin", "l1", "l2", "l3", "l1b", "loner"}
    assert _orgs(loner) == {"provider"}
