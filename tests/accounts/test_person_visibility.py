"""``may_see_person`` (one loaded person) must say exactly what ``User.objects.restrict`` (a
queryset) says, for every viewer and every person: the API's hot read of a person by id
(``accounts.selectors.person_for``) relies on the first, lists on the second."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import PASSWORD, World
from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User, may_see_person
from tierdesk.accounts.selectors import person_for
from tierdesk.accounts.services import create_user, update_user
from tierdesk.orgs.services import create_contact
from tierdesk.tickets import services as tickets
from tierdesk.tickets.models import Team

pytestmark = pytest.mark.django_db


def _more_people(world: World) -> list[User]:
    """Beyond the world: an agent whose team serves every organisation, an agent in no team,
    a deactivated contact and a deactivated agent, a superuser without a role."""
    everywhere = create_user(
        actor=world.admin, username="l2all", organisation=world.provider, role=Role.AGENT, password=PASSWORD
    )
    team = Team(name="Everyone's L2", line=world.lines["L2"], serves_all_organisations=True)
    tickets.save_desk_configuration(team, actor=world.admin)
    tickets.set_team_members(team, members=[everywhere], actor=world.admin)
    idle = create_user(
        actor=world.admin, username="idle", organisation=world.provider, role=Role.AGENT, password=PASSWORD
    )
    gone = create_contact(world.org_a, actor=world.admin, email="gone@alpha.test", first_name="Gone")
    update_user(gone, actor=world.admin, changes={"is_active": False})
    retired = create_user(
        actor=world.admin, username="retired", organisation=world.provider, role=Role.AGENT, password=PASSWORD
    )
    update_user(retired, actor=world.admin, changes={"is_active": False})
    root = User.objects.create_superuser("root", "root@provider.test", PASSWORD)
    return [everywhere, idle, gone, retired, root]


@pytest.mark.parametrize("action", ["view", "change"])
def test_may_see_person_agrees_with_restrict_for_every_pair(world: World, action: str) -> None:
    _more_people(world)
    people = list(User.objects.order_by("pk"))
    assert len(people) == 15  # the world's 10 and five more
    disagreements = []
    for viewer in people:
        listed = set(User.objects.restrict(viewer, action).values_list("pk", flat=True))
        disagreements += [
            (viewer.username, person.username, person.pk in listed)
            for person in people
            if (person.pk in listed) != may_see_person(viewer, person, action)
        ]
    assert disagreements == []
    # The rule is not trivial in either direction: the pairs split both ways.
    verdicts = {may_see_person(v, p, action) for v in people for p in people}
    assert verdicts == {True, False}


def test_nobody_signed_out_sees_anyone(world: World) -> None:
    from django.contrib.auth.models import AnonymousUser

    anonymous: Any = AnonymousUser()
    assert not may_see_person(anonymous, world.customer_a)
    assert not may_see_person(None, world.customer_a)


def test_person_for_joins_the_organisation_in_one_query(world: World, django_assert_num_queries: Any) -> None:
    person_for(world.l1, world.customer_b.pk)  # compiled on first use in this process
    with django_assert_num_queries(1):
        person = person_for(world.l1, world.customer_b.pk)
        assert person is not None
        assert person.organisation is not None
        assert person.organisation.name == "Beta LLC"
    assert person == world.customer_b


def test_person_for_hides_people_the_viewer_may_not_see(world: World) -> None:
    assert person_for(world.l1_b_only, world.customer_a.pk) is None  # serves org_b only
    assert person_for(world.l1_b_only, world.customer_b.pk) == world.customer_b
    assert person_for(world.customer_a, world.customer_a2.pk) is None  # a plain contact
    assert person_for(world.manager_a, world.customer_a2.pk) == world.customer_a2
    assert person_for(world.manager_a, world.customer_b.pk) is None  # another organisation
    assert person_for(world.admin, 2**62) is None  # nobody
