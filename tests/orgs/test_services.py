"""Organisations, sites and contacts: created and changed only through audited services."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.http import Http404

from tests.factories import World
from tests.tickets.helpers import events_since, last_audit_id
from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError, NotPermitted
from tierdesk.orgs import selectors
from tierdesk.orgs.models import Organisation, Site
from tierdesk.orgs.services import create_contact, create_organisation, save_site, update_organisation

pytestmark = pytest.mark.django_db


def _unchanged(model: type, before: int) -> None:
    assert model.objects.count() == before


# --- organisations ---------------------------------------------------------------------------


def test_create_organisation_is_audited_with_its_snapshot(world: World) -> None:
    since = last_audit_id()
    org = create_organisation(
        actor=world.admin,
        name="  Gamma Corp ",
        email_domains=[" @Gamma.TEST", "gamma.test", "mail.gamma.test"],
        account_manager=world.l1,
        phone=" +7 495 ",
    )
    assert org.name == "Gamma Corp"
    assert org.short_name == "gamma-corp"
    assert org.email_domains == ["gamma.test", "mail.gamma.test"]
    assert org.phone == "+7 495"
    assert not org.is_provider and org.is_active
    [event] = events_since(since)
    assert event.event_type == "organisation.created"
    assert event.target_id == org.pk and event.organisation == org and event.actor == world.admin
    assert event.new == org.audit_snapshot()


@pytest.mark.parametrize("who", ["l1", "manager_a", "customer_a"])
def test_only_admins_create_organisations(world: World, who: str) -> None:
    orgs, events = Organisation.objects.count(), AuditEvent.objects.count()
    with pytest.raises(NotPermitted):
        create_organisation(actor=getattr(world, who), name="Sneaky Ltd")
    _unchanged(Organisation, orgs)
    _unchanged(AuditEvent, events)


def test_there_is_only_one_provider(world: World) -> None:
    orgs, events = Organisation.objects.count(), AuditEvent.objects.count()
    with pytest.raises(DomainError) as info:
        create_organisation(actor=world.admin, name="Second Provider", is_provider=True)
    assert info.value.field == "is_provider"
    _unchanged(Organisation, orgs)
    _unchanged(AuditEvent, events)
    # The database enforces it too, whatever path a row takes.
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.create(name="Raw Provider", short_name="raw", is_provider=True)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "Alpha Ltd"}, "name"),  # taken
        ({"name": "Delta", "short_name": "alpha"}, "short_name"),  # taken
        ({"name": "Delta", "email_domains": ["not a domain"]}, "email_domains"),
        ({"name": "Delta", "email_domains": ["nodot"]}, "email_domains"),
        ({"name": "Delta", "email_domains": ["a@b.test"]}, "email_domains"),
    ],
)
def test_invalid_organisation_is_refused(world: World, kwargs: dict[str, object], field: str) -> None:
    from django.core.exceptions import ValidationError

    orgs = Organisation.objects.count()
    with pytest.raises((DomainError, ValidationError)) as info:
        create_organisation(actor=world.admin, **kwargs)  # type: ignore[arg-type]
    err = info.value
    if isinstance(err, DomainError):
        assert err.field == field
    else:
        assert field in err.message_dict
    _unchanged(Organisation, orgs)


def test_account_manager_must_be_staff(world: World) -> None:
    with pytest.raises(DomainError) as info:
        create_organisation(actor=world.admin, name="Delta", account_manager=world.manager_a)
    assert info.value.field == "account_manager"
    with pytest.raises(DomainError):
        update_organisation(world.org_a, actor=world.admin, changes={"account_manager": world.customer_b})


def test_update_organisation_audits_only_the_difference(world: World) -> None:
    since = last_audit_id()
    update_organisation(world.org_a, actor=world.admin, changes={"phone": "+1 555", "name": "Alpha Ltd"})
    [event] = events_since(since)
    assert event.event_type == "organisation.updated"
    assert (event.old, event.new) == ({"phone": ""}, {"phone": "+1 555"})
    since = last_audit_id()
    update_organisation(world.org_a, actor=world.admin, changes={"phone": "+1 555"})
    assert events_since(since) == []


@pytest.mark.parametrize("field", ["is_provider", "created_at", "id"])
def test_provider_flag_and_internals_cannot_be_edited(world: World, field: str) -> None:
    with pytest.raises(DomainError):
        update_organisation(world.org_a, actor=world.admin, changes={field: True})
    assert not Organisation.objects.get(pk=world.org_a.pk).is_provider


def test_agents_cannot_edit_organisations(world: World) -> None:
    with pytest.raises(NotPermitted):
        update_organisation(world.org_a, actor=world.l1, changes={"phone": "1"})
    assert Organisation.objects.get(pk=world.org_a.pk).phone == ""


# --- sites -----------------------------------------------------------------------------------


def test_sites_are_audited_on_create_and_change(world: World) -> None:
    since = last_audit_id()
    site = Site(organisation=world.org_a, name="HQ", address="Main st 1")
    save_site(site, actor=world.admin)
    site.address = "Main st 2"
    save_site(site, actor=world.admin)
    save_site(site, actor=world.admin)  # unchanged: no event
    created, updated = events_since(since)
    assert created.event_type == "site.created" and created.organisation == world.org_a
    assert created.new == {"organisation": world.org_a.pk, "name": "HQ", "address": "Main st 1"}
    assert updated.event_type == "site.updated"
    assert (updated.old, updated.new) == ({"address": "Main st 1"}, {"address": "Main st 2"})


def test_agents_manage_sites_only_of_organisations_they_serve(world: World) -> None:
    save_site(Site(organisation=world.org_a, name="Plant"), actor=world.l1)
    sites = Site.objects.count()
    with pytest.raises(NotPermitted):
        save_site(Site(organisation=world.org_a, name="Depot"), actor=world.l1_b_only)
    with pytest.raises(NotPermitted):
        save_site(Site(organisation=world.org_a, name="Depot"), actor=world.manager_a)
    _unchanged(Site, sites)


def test_duplicate_site_name_is_refused(world: World) -> None:
    from django.core.exceptions import ValidationError

    save_site(Site(organisation=world.org_a, name="HQ"), actor=world.admin)
    with pytest.raises(ValidationError):
        save_site(Site(organisation=world.org_a, name="HQ"), actor=world.admin)
    save_site(Site(organisation=world.org_b, name="HQ"), actor=world.admin)  # other org: fine
    assert Site.objects.filter(name="HQ").count() == 2


def test_site_visibility_follows_organisations(world: World) -> None:
    save_site(Site(organisation=world.org_a, name="A-HQ"), actor=world.admin)
    save_site(Site(organisation=world.org_b, name="B-HQ"), actor=world.admin)

    def names(user: User) -> set[str]:
        return set(Site.objects.restrict(user).values_list("name", flat=True))

    assert names(world.admin) == {"A-HQ", "B-HQ"}
    assert names(world.l1_b_only) == {"B-HQ"}
    assert names(world.customer_a) == {"A-HQ"}
    assert names(world.manager_b) == {"B-HQ"}


# --- contacts --------------------------------------------------------------------------------


def test_create_contact_is_an_audited_customer(world: World) -> None:
    since = last_audit_id()
    contact = create_contact(world.org_a, actor=world.l1, email=" Carl@Alpha.test ", first_name="Carl")
    assert contact.role == Role.CUSTOMER
    assert contact.organisation == world.org_a
    assert contact.email == "Carl@alpha.test"  # the domain part is normalised
    assert contact.username == "carl@alpha.test"
    assert not contact.has_usable_password()
    assert not contact.is_org_manager
    [event] = events_since(since)
    assert event.event_type == "user.created"
    assert event.actor == world.l1 and event.organisation == world.org_a
    assert event.new["role"] == "customer"


def test_customers_cannot_be_created_in_the_provider(world: World) -> None:
    users = User.objects.count()
    with pytest.raises(DomainError) as info:
        create_contact(world.provider, actor=world.admin, email="x@provider.test")
    assert info.value.field == "organisation"
    _unchanged(User, users)


def test_agents_create_contacts_only_for_organisations_they_serve(world: World) -> None:
    users = User.objects.count()
    with pytest.raises(NotPermitted):
        create_contact(world.org_a, actor=world.l1_b_only, email="new@alpha.test")
    with pytest.raises(NotPermitted):
        create_contact(world.provider, actor=world.l1, email="new@provider.test")
    _unchanged(User, users)
    assert (
        create_contact(world.org_b, actor=world.l1_b_only, email="new@beta.test").organisation == world.org_b
    )


@pytest.mark.parametrize("who", ["manager_a", "customer_a"])
def test_customers_cannot_create_contacts(world: World, who: str) -> None:
    users = User.objects.count()
    with pytest.raises(NotPermitted):
        create_contact(world.org_a, actor=getattr(world, who), email="friend@alpha.test")
    _unchanged(User, users)


@pytest.mark.parametrize("email", ["", "   ", "no-at-sign"])
def test_contact_needs_an_email(world: World, email: str) -> None:
    with pytest.raises(DomainError) as info:
        create_contact(world.org_a, actor=world.admin, email=email)
    assert info.value.field == "email"


def test_contact_email_is_unique_case_insensitively(world: World) -> None:
    users = User.objects.count()
    with pytest.raises(DomainError) as info:
        create_contact(world.org_b, actor=world.admin, email=world.customer_a.email.upper(), username="other")
    assert info.value.field == "email"
    _unchanged(User, users)


def test_manager_flag_only_for_customers(world: World) -> None:
    manager = create_contact(world.org_a, actor=world.admin, email="boss@alpha.test", is_org_manager=True)
    assert manager.is_org_manager


# --- selectors -------------------------------------------------------------------------------


def test_get_organisation_is_404_outside_ones_scope(world: World) -> None:
    assert selectors.get_organisation(world.customer_a, world.org_a.pk) == world.org_a
    for user, org in [
        (world.customer_a, world.org_b),
        (world.manager_b, world.org_a),
        (world.l1_b_only, world.org_a),
        (world.customer_a, world.provider),
    ]:
        with pytest.raises(Http404):
            selectors.get_organisation(user, org.pk)
    with pytest.raises(Http404):
        selectors.get_organisation(world.admin, 10**9)


def test_organisation_contacts(world: World) -> None:
    everyone_a = {world.manager_a, world.customer_a, world.customer_a2}
    assert set(selectors.organisation_contacts(world.admin, world.org_a)) == everyone_a
    assert set(selectors.organisation_contacts(world.l1, world.org_a)) == everyone_a
    assert set(selectors.organisation_contacts(world.manager_a, world.org_a)) == everyone_a
    assert set(selectors.organisation_contacts(world.customer_a, world.org_a)) == {world.customer_a}
    assert set(selectors.organisation_contacts(world.l1_b_only, world.org_a)) == set()
    assert set(selectors.organisation_contacts(world.manager_b, world.org_a)) == set()
