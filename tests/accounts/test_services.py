"""People and API tokens."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import World
from tests.tickets.helpers import events_since, last_audit_id
from tierdesk.accounts.choices import Role
from tierdesk.accounts.models import ApiToken, User
from tierdesk.accounts.selectors import user_for_token
from tierdesk.accounts.services import create_api_token, create_user, revoke_api_token, save_user, update_user
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError, NotPermitted

pytestmark = pytest.mark.django_db


# --- users -----------------------------------------------------------------------------------


def test_create_agent_is_audited_without_the_password(world: World) -> None:
    since = last_audit_id()
    agent = create_user(
        actor=world.admin,
        username="newbie",
        organisation=world.provider,
        role=Role.AGENT,
        email="newbie@provider.test",
        password="s3cret-Pass-word",
    )
    assert agent.is_agent and not agent.is_staff and not agent.is_superuser
    assert agent.check_password("s3cret-Pass-word")
    [event] = events_since(since)
    assert event.event_type == "user.created"
    assert event.new["role"] == "agent"
    assert "password" not in event.new
    assert "s3cret" not in json.dumps(event.new)


def test_admins_get_django_admin_access(world: World) -> None:
    boss = create_user(actor=world.admin, username="boss", organisation=world.provider, role=Role.ADMIN)
    assert boss.is_admin and boss.is_staff and not boss.is_superuser
    assert not boss.has_usable_password()


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_staff_belong_to_the_provider(world: World, role: str) -> None:
    users = User.objects.count()
    with pytest.raises(DomainError) as info:
        create_user(actor=world.admin, username="misplaced", organisation=world.org_a, role=role)
    assert info.value.field == "organisation"
    assert User.objects.count() == users


def test_customers_belong_to_a_client(world: World) -> None:
    with pytest.raises(DomainError) as info:
        create_user(actor=world.admin, username="lost", organisation=world.provider, role=Role.CUSTOMER)
    assert info.value.field == "organisation"


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
@pytest.mark.parametrize("who", ["l1", "manager_a", "customer_a"])
def test_only_admins_create_staff(world: World, who: str, role: str) -> None:
    users, events = User.objects.count(), AuditEvent.objects.count()
    with pytest.raises(NotPermitted):
        create_user(actor=getattr(world, who), username="intruder", organisation=world.provider, role=role)
    assert (User.objects.count(), AuditEvent.objects.count()) == (users, events)


def test_manager_flag_is_dropped_for_staff(world: World) -> None:
    agent = create_user(
        actor=world.admin,
        username="flagged",
        organisation=world.provider,
        role=Role.AGENT,
        is_org_manager=True,
    )
    assert not agent.is_org_manager


def test_username_and_email_are_unique(world: World) -> None:
    with pytest.raises(DomainError) as info:
        create_user(actor=world.admin, username="l1", organisation=world.provider, role=Role.AGENT)
    assert info.value.field == "username"
    with pytest.raises(DomainError) as info:
        create_user(
            actor=world.admin,
            username="l1-clone",
            organisation=world.provider,
            role=Role.AGENT,
            email="L1@PROVIDER.test",
        )
    assert info.value.field == "email"


def test_update_user_audits_the_difference(world: World) -> None:
    since = last_audit_id()
    update_user(world.customer_a, actor=world.customer_a, changes={"phone": "+7 900", "first_name": "alex"})
    [event] = events_since(since)
    assert event.event_type == "user.updated"
    assert (event.old, event.new) == ({"phone": ""}, {"phone": "+7 900"})
    assert event.actor == world.customer_a and event.organisation == world.org_a


@pytest.mark.parametrize(
    "field", ["role", "organisation", "is_org_manager", "is_active", "is_superuser", "username"]
)
def test_people_cannot_raise_their_own_privileges(world: World, field: str) -> None:
    values = {
        "role": Role.ADMIN,
        "organisation": world.provider,
        "is_org_manager": True,
        "is_active": True,
        "is_superuser": True,
        "username": "root",
    }
    with pytest.raises(NotPermitted):
        update_user(world.customer_a, actor=world.customer_a, changes={field: values[field]})
    stored = User.objects.get(pk=world.customer_a.pk)
    assert stored.role == Role.CUSTOMER and not stored.is_org_manager and not stored.is_superuser
    assert stored.username == world.customer_a.username


def test_customers_cannot_change_other_people(world: World) -> None:
    with pytest.raises(NotPermitted):
        update_user(world.customer_a2, actor=world.manager_a, changes={"phone": "1"})
    with pytest.raises(NotPermitted):
        update_user(world.l1, actor=world.customer_a, changes={"phone": "1"})


def test_agents_change_contact_details_but_not_staff(world: World) -> None:
    update_user(world.customer_a, actor=world.l1, changes={"phone": "+7 111"})
    assert User.objects.get(pk=world.customer_a.pk).phone == "+7 111"
    with pytest.raises(NotPermitted):
        update_user(world.l2, actor=world.l1, changes={"phone": "1"})
    with pytest.raises(NotPermitted):
        update_user(world.customer_a, actor=world.l1, changes={"is_active": False})


def test_agents_change_only_contacts_of_organisations_they_serve(world: World) -> None:
    with pytest.raises(NotPermitted):
        update_user(world.customer_a, actor=world.l1_b_only, changes={"email": "attacker@evil.test"})
    assert User.objects.get(pk=world.customer_a.pk).email != "attacker@evil.test"


def test_admin_role_change_keeps_role_and_organisation_consistent(world: World) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError):
        update_user(world.customer_a, actor=world.admin, changes={"role": Role.AGENT})
    assert User.objects.get(pk=world.customer_a.pk).role == Role.CUSTOMER
    assert AuditEvent.objects.count() == events
    update_user(world.l2, actor=world.admin, changes={"role": Role.ADMIN})
    promoted = User.objects.get(pk=world.l2.pk)
    assert promoted.is_admin and promoted.is_staff


def test_email_change_cannot_take_someone_elses_address(world: World) -> None:
    original = world.customer_a.email
    with pytest.raises(DomainError) as info:
        update_user(
            world.customer_a, actor=world.customer_a, changes={"email": world.customer_b.email.upper()}
        )
    assert info.value.field == "email"
    assert User.objects.get(pk=world.customer_a.pk).email == original


def test_save_user_is_admin_only_and_masks_passwords(world: World) -> None:
    user = User.objects.get(pk=world.customer_a.pk)
    user.set_password("another-Secret-42")
    with pytest.raises(NotPermitted):
        save_user(user, actor=world.l1)
    since = last_audit_id()
    save_user(user, actor=world.admin)
    [event] = events_since(since)
    assert event.event_type == "user.updated"
    assert event.old == {"password": "***"} and event.new == {"password": "*** (changed)"}
    assert User.objects.get(pk=user.pk).check_password("another-Secret-42")


# --- API tokens ------------------------------------------------------------------------------


def test_token_is_stored_only_as_a_hash(world: World) -> None:
    since = last_audit_id()
    token, raw = create_api_token(world.l1, actor=world.l1, name="  monitoring  ")
    assert raw.startswith(f"tdk_{token.prefix}_")
    assert len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert stored.name == "monitoring"
    for value in ApiToken.objects.filter(pk=token.pk).values().get().values():
        assert raw not in str(value)
    [event] = events_since(since)
    assert event.event_type == "token.created"
    assert raw not in json.dumps(event.new) and token.key_hash not in json.dumps(event.new)
    assert event.new["prefix"] == token.prefix
    assert event.organisation == world.provider


def test_two_tokens_never_share_a_key(world: World) -> None:
    raws = {create_api_token(world.l1, actor=world.l1, name=f"t{i}")[1] for i in range(5)}
    assert len(raws) == 5


def test_token_needs_a_name(world: World) -> None:
    with pytest.raises(DomainError) as info:
        create_api_token(world.l1, actor=world.l1, name="   ")
    assert info.value.field == "name"
    assert ApiToken.objects.filter(user=world.l1).count() == 0


def test_tokens_only_for_oneself_unless_admin(world: World) -> None:
    with pytest.raises(NotPermitted):
        create_api_token(world.admin, actor=world.l1, name="escalate me")
    with pytest.raises(NotPermitted):
        create_api_token(world.customer_a2, actor=world.manager_a, name="colleague")
    token, _raw = create_api_token(world.customer_a, actor=world.admin, name="for alex")
    assert token.user == world.customer_a


def test_revoke_is_audited_once_and_by_the_owner_or_an_admin(world: World) -> None:
    token, raw = create_api_token(world.customer_a, actor=world.customer_a, name="script")
    with pytest.raises(NotPermitted):
        revoke_api_token(token, actor=world.l1)
    assert user_for_token(raw) == world.customer_a
    since = last_audit_id()
    revoke_api_token(token, actor=world.customer_a)
    revoke_api_token(token, actor=world.admin)  # already revoked: nothing more to record
    [event] = events_since(since)
    assert event.event_type == "token.revoked"
    assert event.actor == world.customer_a and event.organisation == world.org_a
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert user_for_token(raw) is None


def test_user_for_token_accepts_a_valid_token_and_notes_its_use(world: World) -> None:
    token, raw = create_api_token(
        world.l1, actor=world.l1, name="cli", expires_at=timezone.now() + timedelta(days=1)
    )
    assert token.last_used_at is None
    user = user_for_token(raw)
    assert user == world.l1
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_user_for_token_rejects_expired_tokens(world: World) -> None:
    _token, raw = create_api_token(
        world.l1, actor=world.l1, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert user_for_token(raw) is None


def test_user_for_token_rejects_inactive_users(world: World) -> None:
    _token, raw = create_api_token(world.customer_a, actor=world.admin, name="script")
    update_user(world.customer_a, actor=world.admin, changes={"is_active": False})
    assert user_for_token(raw) is None


@pytest.mark.parametrize("variant", ["empty", "unknown", "hash", "prefix", "truncated", "padded", "huge"])
def test_user_for_token_rejects_anything_but_the_exact_key(world: World, variant: str) -> None:
    token, raw = create_api_token(world.admin, actor=world.admin, name="ops")
    candidates = {
        "empty": "",
        "unknown": "tdk_00000000_" + "x" * 43,
        "hash": token.key_hash,  # a leaked database row must not work as a key
        "prefix": token.prefix,
        "truncated": raw[:-1],
        "padded": raw + " ",
        "huge": raw + "x" * 500,
    }
    assert user_for_token(candidates[variant]) is None


def test_token_restrict(world: World) -> None:
    mine, _ = create_api_token(world.l1, actor=world.l1, name="mine")
    theirs, _ = create_api_token(world.l2, actor=world.l2, name="theirs")
    assert set(ApiToken.objects.restrict(world.l1)) == {mine}
    assert set(ApiToken.objects.restrict(world.admin)) >= {mine, theirs}
    assert not ApiToken.objects.restrict(None).exists()
