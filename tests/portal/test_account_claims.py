"""Contacts the desk created without a password (from a call, a mail, the web form) claim their
account by registering with their address: a mailed link confirms it, and only then does the
password they chose become theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tests.factories import World
from tests.portal.conftest import links_in, path_of
from tierdesk.accounts.models import User
from tierdesk.accounts.services import update_user
from tierdesk.accounts.services import user_snapshot as snapshot_of
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError
from tierdesk.orgs.services import create_contact
from tierdesk.portal import services
from tierdesk.portal.models import AccountClaim
from tierdesk.portal.tokens import activation_tokens, claim_tokens
from tierdesk.tickets.choices import Channel

CHOSEN = "Purple-Harbour-42-Lantern"
LATER = "Quiet-Meadow-77-Compass"


def form(email: str, password: str = CHOSEN, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": "Nina",
        "last_name": "New",
        "email": email,
        "phone": "+7 900 111-22-33",
        "password": password,
        "password2": password,
        **extra,
    }


@pytest.fixture
def register(client: Client, django_capture_on_commit_callbacks: Any) -> Any:
    """Post the registration form with the mails of the commit sent; returns the response."""

    def post(email: str, password: str = CHOSEN, **extra: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("portal:register"), form(email, password, **extra))

    return post


@pytest.fixture
def caller(world: World) -> User:
    """A contact L1 created while taking her call, with the request she made then: active, a
    requester like any other, but without a password."""
    contact = create_contact(world.org_a, actor=world.l1, email="Carla@alpha.test", first_name="Carla")
    world.ticket(requester=contact, actor=world.l1, subject="Phone: printer jams", channel=Channel.PHONE)
    assert contact.is_active and not contact.has_usable_password()
    return contact


def claim_path(message: mail.EmailMessage) -> str:
    [link] = [link for link in links_in(message) if "/portal/claim/" in link]
    return path_of(link)


def signed_in(client: Client) -> bool:
    return bool(client.get(reverse("portal:home")).status_code == 200)


def state(user: User) -> tuple[Any, ...]:
    """Everything about the contact a claim could change."""
    user = User.objects.get(pk=user.pk)
    return (user.password, user.last_login, snapshot_of(user))


def audit_of(user: User) -> list[str]:
    return list(AuditEvent.objects.filter(target_id=user.pk).values_list("event_type", flat=True))


# --- The claim -------------------------------------------------------------------------------


def test_claim_confirmed_by_the_link_signs_in_and_shows_earlier_requests(
    world: World, client: Client, register: Any
) -> None:
    # The web form made her a contact; later she called L1 about something else.
    services.submit_web_form(
        actor=None, name="Carla C", email="carla@alpha.test", subject="Web: VPN drops", description=""
    )
    caller = User.objects.get(email__iexact="carla@alpha.test")
    world.ticket(requester=caller, actor=world.l1, subject="Phone: printer jams", channel=Channel.PHONE)
    response = register("carla@alpha.test")
    assert response.status_code == 302 and response.url == reverse("portal:register_sent")
    assert "We sent a confirmation link to carla@alpha.test" in client.get(response.url).content.decode()
    [message] = mail.outbox
    assert message.to == ["carla@alpha.test"] and "Alpha Ltd" in message.body and "3 days" in message.body
    assert "Hello Carla," in message.body
    path = claim_path(message)

    # Opening the link (as a mail filter scanning links would) only asks for the click.
    page = client.get(path)
    assert page.status_code == 200 and "Confirm and sign in" in page.content.decode()
    assert not User.objects.get(pk=caller.pk).has_usable_password()

    response = client.post(path)
    assert response.status_code == 302 and response.url == reverse("portal:home")
    assert signed_in(client)
    home = client.get(reverse("portal:home")).content.decode()
    assert "Phone: printer jams" in home and "Web: VPN drops" in home
    caller.refresh_from_db()
    assert caller.check_password(CHOSEN) and caller.is_active and caller.organisation_id == world.org_a.pk
    # What the desk knew stays; what it did not know is filled in from the form.
    assert (caller.first_name, caller.last_name, caller.phone) == ("Carla", "C", "+7 900 111-22-33")
    assert User.objects.filter(email__iexact="carla@alpha.test").count() == 1
    claim = AccountClaim.objects.get(user=caller)
    assert claim.confirmed_at is not None and claim.password == ""

    registered = AuditEvent.objects.get(event_type="portal.registered", target_id=caller.pk)
    assert registered.actor_id == caller.pk and registered.organisation_id == world.org_a.pk
    assert registered.new is not None and registered.new["claimed_contact"] is True
    assert registered.new["email_confirmed_at"]
    updated = AuditEvent.objects.filter(event_type="user.updated", target_id=caller.pk).get()
    assert updated.new is not None and updated.new["password"] == "*** (changed)"
    assert updated.new["phone"] == "+7 900 111-22-33" and "first_name" not in updated.new

    # The link works once; she now has a password, so registering again says "already exists"
    # and points to the password reset, which now works for her.
    other = Client()
    assert other.get(path).status_code == 410 and other.post(path).status_code == 410
    assert Client().login(username=caller.username, password=CHOSEN)
    client.logout()
    response = register("carla@alpha.test", LATER)
    assert response.status_code == 400 and "reset your password" in response.content.decode()
    client.post(reverse("accounts:password_reset"), {"email": "carla@alpha.test"})
    assert mail.outbox[-1].to == ["carla@alpha.test"] and "/password/reset/" in mail.outbox[-1].body


def test_unconfirmed_claim_changes_nothing(world: World, caller: User, client: Client, register: Any) -> None:
    before = state(caller)
    response = register("carla@alpha.test", first_name="Mallory", last_name="M")
    assert response.status_code == 302 and len(mail.outbox) == 1
    assert state(caller) == before
    assert not Client().login(username=caller.username, password=CHOSEN)
    assert not signed_in(client)
    assert audit_of(caller) == ["user.created"]

    # She is still a requester like before: an agent files her call, the web form finds her.
    world.ticket(requester=caller, actor=world.l1, subject="Second call")
    ticket = services.submit_web_form(
        actor=None, name="Carla", email="carla@alpha.test", subject="Web form again", description=""
    )
    assert ticket.requester_id == caller.pk
    assert state(caller) == before

    # Registering again moments later mails nothing more and changes nothing either.
    response = register("carla@alpha.test", LATER)
    assert response.status_code == 302 and len(mail.outbox) == 1
    assert "a few minutes ago" in client.get(response.url).content.decode()
    assert state(caller) == before
    assert AccountClaim.objects.get(user=caller).times_sent == 1


def test_a_later_claim_voids_the_earlier_link(
    world: World, caller: User, client: Client, register: Any
) -> None:
    register("carla@alpha.test")
    first = claim_path(mail.outbox[0])
    AccountClaim.objects.filter(user=caller).update(
        last_sent_at=timezone.now() - services.ACTIVATION_RESEND_INTERVAL - timedelta(seconds=1)
    )
    register("carla@alpha.test", LATER)
    assert len(mail.outbox) == 2 and AccountClaim.objects.get(user=caller).times_sent == 2

    # Whoever holds the mailbox decides: the first link (maybe someone else's password) is dead.
    assert client.post(first).status_code == 410
    assert not User.objects.get(pk=caller.pk).has_usable_password()
    assert client.post(claim_path(mail.outbox[1])).status_code == 302
    caller.refresh_from_db()
    assert caller.check_password(LATER) and not caller.check_password(CHOSEN)


def test_forged_and_expired_links_change_nothing(
    world: World, caller: User, client: Client, register: Any, monkeypatch: Any
) -> None:
    register("carla@alpha.test")
    path = claim_path(mail.outbox[0])
    prefix, uid, token = path.rstrip("/").rsplit("/", 2)
    claim = AccountClaim.objects.get(user=caller)
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    before, events = state(caller), AuditEvent.objects.count()
    forged = [
        f"{prefix}/{uid}/{tampered}/",
        # Tokens of other kinds for the same person are no claim tokens (other salts).
        f"{prefix}/{uid}/{default_token_generator.make_token(caller)}/",
        f"{prefix}/{uid}/{activation_tokens.make_token(caller)}/",
        # Her token with another person's id, or no id at all.
        f"{prefix}/{urlsafe_base64_encode(force_bytes(world.customer_a.pk))}/{token}/",
        f"{prefix}/bm9uc2Vuc2U/{token}/",
        # Her claim's link is no link to activate a new registration.
        f"/portal/activate/{uid}/{token}/",
    ]
    for link in forged:
        assert client.get(link).status_code == 410, link
        assert client.post(link).status_code == 410, link
    with pytest.raises(DomainError):
        services.confirm_claim(claim, actor=None, token=tampered)

    # The genuine link, once its lifetime is over.
    later = claim_tokens._now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(claim_tokens, "_now", lambda: later)
    page = client.get(path)
    assert page.status_code == 410 and "expired" in page.content.decode()
    assert client.post(path).status_code == 410

    assert state(caller) == before and AuditEvent.objects.count() == events
    assert not signed_in(client)
    assert AccountClaim.objects.get(user=caller).confirmed_at is None


def test_a_contact_of_another_organisation_is_not_claimed_through_the_wrong_domain(
    world: World, client: Client, register: Any
) -> None:
    # A consultant of Alpha's domain whom the desk keeps as a contact of Beta.
    consultant = create_contact(world.org_b, actor=world.admin, email="consultant@alpha.test")
    before = state(consultant)
    response = register("consultant@alpha.test")
    assert response.status_code == 400
    assert "cannot be opened here" in response.content.decode()
    assert not mail.outbox and not AccountClaim.objects.exists()
    assert state(consultant) == before

    # Nor by an Alpha manager's invitation.
    with pytest.raises(DomainError):
        services.create_invitation(
            world.org_a, actor=world.manager_a, email="consultant@alpha.test", site_url="https://desk.example"
        )


def test_a_claim_is_void_once_the_contact_moved_to_another_organisation(
    world: World, caller: User, client: Client, register: Any
) -> None:
    register("carla@alpha.test")
    update_user(caller, actor=world.admin, changes={"organisation": world.org_b})
    before = state(caller)
    path = claim_path(mail.outbox[0])
    assert client.get(path).status_code == 410 and client.post(path).status_code == 410
    assert state(caller) == before and not signed_in(client)


def test_an_admin_deactivated_contact_cannot_be_claimed(
    world: World, caller: User, client: Client, register: Any
) -> None:
    update_user(caller, actor=world.admin, changes={"is_active": False})
    before = state(caller)
    response = register("carla@alpha.test")
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert not mail.outbox and not AccountClaim.objects.exists()
    assert state(caller) == before


def test_deactivating_the_contact_voids_a_claim_already_mailed(
    world: World, caller: User, client: Client, register: Any
) -> None:
    register("carla@alpha.test")
    update_user(caller, actor=world.admin, changes={"is_active": False})
    before = state(caller)
    path = claim_path(mail.outbox[0])
    assert client.get(path).status_code == 410 and client.post(path).status_code == 410
    assert state(caller) == before and not signed_in(client)
    assert not User.objects.get(pk=caller.pk).is_active


def test_an_account_with_a_password_is_not_claimed(world: World, client: Client, register: Any) -> None:
    before = state(world.customer_a)
    response = register(world.customer_a.email)
    assert response.status_code == 400
    assert (
        "already exists" in response.content.decode() and "reset your password" in response.content.decode()
    )
    assert not mail.outbox and not AccountClaim.objects.exists()
    assert state(world.customer_a) == before


# --- By invitation ---------------------------------------------------------------------------


def test_an_invitation_lets_a_contact_outside_the_domains_claim_his_account_at_once(
    world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    # A freelancer L1 knows from his calls; his private address is on no portal domain.
    freelancer = create_contact(world.org_a, actor=world.l1, email="fred@gmail.test", first_name="Fred")
    world.ticket(requester=freelancer, actor=world.l1, subject="Laptop will not boot")
    assert client.post(reverse("portal:register"), form("fred@gmail.test")).status_code == 400

    with django_capture_on_commit_callbacks(execute=True):
        services.create_invitation(
            world.org_a, actor=world.manager_a, email="fred@gmail.test", site_url="http://testserver"
        )
    [link] = links_in(mail.outbox[0])
    response = client.post(path_of(link), form("fred@gmail.test"))
    # The invitation came by mail to his address, so it confirms it as the link would.
    assert response.status_code == 302 and response.url == reverse("portal:home")
    assert "Laptop will not boot" in client.get(reverse("portal:home")).content.decode()
    freelancer.refresh_from_db()
    assert freelancer.check_password(CHOSEN) and freelancer.first_name == "Fred"
    assert User.objects.filter(email__iexact="fred@gmail.test").count() == 1
    event = AuditEvent.objects.get(event_type="portal.registered", target_id=freelancer.pk)
    assert event.new is not None and event.new["claimed_contact"] is True and event.new["invitation"]


# --- Expired claims are forgotten ------------------------------------------------------------


def test_claims_whose_links_expired_unconfirmed_are_purged_daily(
    world: World, caller: User, register: Any, client: Client
) -> None:
    from tierdesk.portal.tasks import purge_claims

    register("carla@alpha.test")
    confirmed_contact = create_contact(world.org_b, actor=world.l1, email="dora@beta.test", first_name="Dora")
    register("dora@beta.test")
    client.post(claim_path(mail.outbox[-1]))  # Dora follows her link
    client.logout()
    fresh_contact = create_contact(world.org_a, actor=world.l1, email="eve@alpha.test", first_name="Eve")
    register("eve@alpha.test")
    lifetime = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    # Carla's and Dora's links were sent longer ago than a link lives; Eve's just now.
    AccountClaim.objects.exclude(user=fresh_contact).update(
        last_sent_at=timezone.now() - lifetime - timedelta(minutes=1)
    )
    before = state(caller)

    assert purge_claims.apply().get() == 1
    assert set(AccountClaim.objects.values_list("user_id", flat=True)) == {
        confirmed_contact.pk,
        fresh_contact.pk,
    }
    assert state(caller) == before  # Carla is the contact she was, and may register again
    assert purge_claims.apply().get() == 0
    assert settings.CELERY_BEAT_SCHEDULE["portal-purge-claims"]["task"] == "tierdesk.portal.purge_claims"
    with pytest.raises(DomainError):
        services.purge_expired_claims(actor=world.l1)


def test_administrators_see_claims_without_the_chosen_password(
    world: World, caller: User, register: Any, admin_client: Any
) -> None:
    register("carla@alpha.test")
    claim = AccountClaim.objects.get(user=caller)
    listing = admin_client.get(reverse("admin:portal_accountclaim_changelist"))
    assert listing.status_code == 200 and "carla@alpha.test" in listing.content.decode().lower()
    page = admin_client.get(reverse("admin:portal_accountclaim_change", args=[claim.pk]))
    assert page.status_code == 200
    assert claim.password not in page.content.decode() and "pbkdf2" not in page.content.decode()
    assert admin_client.post(reverse("admin:portal_accountclaim_delete", args=[claim.pk])).status_code == 403
    assert admin_client.get(reverse("admin:portal_pendingregistration_changelist")).status_code == 200
