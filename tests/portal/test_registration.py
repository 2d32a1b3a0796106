"""Self-registration by e-mail domain (confirmed by a mailed link) and by invitation (mailed)."""

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
from tierdesk.audit.models import AuditEvent
from tierdesk.common.errors import DomainError
from tierdesk.portal import services
from tierdesk.portal.models import Invitation, PendingRegistration, hash_invitation_token
from tierdesk.portal.tokens import activation_tokens

GOOD_PASSWORD = "Purple-Harbour-42-Lantern"
OTHER_PASSWORD = "Quiet-Meadow-77-Compass"


def form(email: str, password: str = GOOD_PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": "Nina",
        "last_name": "New",
        "email": email,
        "phone": "",
        "password": password,
        "password2": password,
        **extra,
    }


@pytest.fixture
def register(client: Client, django_capture_on_commit_callbacks: Any) -> Any:
    """Post the registration form with the mails of the commit sent; returns the response."""

    def post(email: str, password: str = GOOD_PASSWORD, **extra: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("portal:register"), form(email, password, **extra))

    return post


def activation_path(message: mail.EmailMessage) -> str:
    [link] = [link for link in links_in(message) if "/portal/activate/" in link]
    return path_of(link)


def signed_in(client: Client) -> bool:
    return bool(client.get(reverse("portal:home")).status_code == 200)


# --- By domain, with a confirmation link ------------------------------------------------------


def test_registration_by_domain_waits_for_the_address_to_be_confirmed(
    world: World, client: Client, register: Any
) -> None:
    response = register("nina@alpha.test")
    assert response.status_code == 302 and response.url == reverse("portal:register_sent")
    user = User.objects.get(email="nina@alpha.test")
    assert user.is_customer and user.organisation_id == world.org_a.pk and not user.is_org_manager
    assert not user.is_active and user.check_password(GOOD_PASSWORD)
    assert PendingRegistration.objects.get(user=user).confirmed_at is None
    assert not signed_in(client)
    assert not client.login(username=user.username, password=GOOD_PASSWORD)  # not before confirming
    assert not AuditEvent.objects.filter(event_type="portal.registered", target_id=user.pk).exists()
    page = client.get(response.url).content.decode()
    assert "nina@alpha.test" in page and "Check your mail" in page

    [message] = mail.outbox
    assert message.to == ["nina@alpha.test"] and message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Confirm your e-mail address" in message.subject
    assert "Alpha Ltd" in message.body and "3 days" in message.body
    assert activation_path(message).startswith("/portal/activate/")


def test_following_the_link_activates_signs_in_and_is_audited(
    world: World, client: Client, register: Any
) -> None:
    register("nina@alpha.test")
    path = activation_path(mail.outbox[0])
    user = User.objects.get(email="nina@alpha.test")

    # Opening the link (as a mail filter scanning links would) only asks for the click.
    page = client.get(path)
    assert page.status_code == 200 and "nina@alpha.test" in page.content.decode()
    user.refresh_from_db()
    assert not user.is_active and not signed_in(client)

    response = client.post(path)
    assert response.status_code == 302 and response.url == reverse("portal:home")
    user.refresh_from_db()
    assert user.is_active and signed_in(client)
    assert PendingRegistration.objects.get(user=user).confirmed_at is not None
    event = AuditEvent.objects.get(event_type="portal.registered", target_id=user.pk)
    assert event.actor_id == user.pk and event.organisation_id == world.org_a.pk
    assert (
        event.new is not None and event.new["email"] == "nina@alpha.test" and event.new["email_confirmed_at"]
    )
    assert AuditEvent.objects.filter(
        event_type="user.updated", target_id=user.pk, new__is_active=True
    ).exists()

    # The link works once.
    other = Client()
    assert other.get(path).status_code == 410
    assert other.post(path).status_code == 410
    assert not signed_in(other)
    assert AuditEvent.objects.filter(event_type="portal.registered", target_id=user.pk).count() == 1


def test_expired_link_gets_a_clear_page_and_changes_nothing(
    world: World, client: Client, register: Any, monkeypatch: Any
) -> None:
    register("nina@alpha.test")
    path = activation_path(mail.outbox[0])
    later = activation_tokens._now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    monkeypatch.setattr(activation_tokens, "_now", lambda: later)
    events = AuditEvent.objects.count()

    page = client.get(path)
    assert page.status_code == 410
    assert "expired" in page.content.decode() and "register again" in page.content.decode()
    assert client.post(path).status_code == 410
    user = User.objects.get(email="nina@alpha.test")
    assert not user.is_active and not signed_in(client)
    assert PendingRegistration.objects.get(user=user).confirmed_at is None
    assert AuditEvent.objects.count() == events


def test_forged_links_change_nothing(world: World, client: Client, register: Any) -> None:
    register("nina@alpha.test")
    path = activation_path(mail.outbox[0])
    user = User.objects.get(email="nina@alpha.test")
    prefix, uid, token = path.rstrip("/").rsplit("/", 2)
    tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
    # A password-reset token of the same person is no confirmation token (another salt).
    reset_token = default_token_generator.make_token(user)
    other_uid = urlsafe_base64_encode(force_bytes(world.customer_a.pk))
    events = AuditEvent.objects.count()
    for forged in (
        f"{prefix}/{uid}/{tampered}/",
        f"{prefix}/{uid}/{reset_token}/",
        f"{prefix}/{other_uid}/{token}/",
        f"{prefix}/bm9uc2Vuc2U/{token}/",
        f"{prefix}/OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5/{token}/",
    ):
        assert client.get(forged).status_code == 410, forged
        assert client.post(forged).status_code == 410, forged
    user.refresh_from_db()
    assert not user.is_active and not signed_in(client)
    assert AuditEvent.objects.count() == events


def test_registering_again_resends_the_link_instead_of_duplicating(
    world: World, client: Client, register: Any
) -> None:
    register("nina@alpha.test")
    first_path = activation_path(mail.outbox[0])

    # Moments later: no second mail (the form must not flood a mailbox); the first link stands.
    response = register("NINA@alpha.test", OTHER_PASSWORD)
    assert response.status_code == 302 and len(mail.outbox) == 1
    assert "a few minutes ago" in client.get(response.url).content.decode()

    # Later: a new link, the latest details and password; still one account.
    pending = PendingRegistration.objects.get(user__email="nina@alpha.test")
    PendingRegistration.objects.filter(pk=pending.pk).update(
        last_sent_at=timezone.now() - services.ACTIVATION_RESEND_INTERVAL - timedelta(seconds=1)
    )
    response = register("nina@alpha.test", OTHER_PASSWORD, first_name="Nadia")
    assert response.status_code == 302 and len(mail.outbox) == 2
    assert User.objects.filter(email__iexact="nina@alpha.test").count() == 1
    user = User.objects.get(email="nina@alpha.test")
    assert user.first_name == "Nadia" and user.check_password(OTHER_PASSWORD) and not user.is_active
    assert PendingRegistration.objects.get(pk=pending.pk).times_sent == 2

    # The new password voided the first link; the second one works.
    assert client.get(first_path).status_code == 410
    assert client.post(activation_path(mail.outbox[1])).status_code == 302
    user.refresh_from_db()
    assert user.is_active
    assert Client().login(username=user.username, password=OTHER_PASSWORD)

    # Once confirmed, registering again is refused as an existing account.
    client.logout()
    response = register("nina@alpha.test")
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert len(mail.outbox) == 2


def test_a_deactivated_account_is_not_revived_by_registering(world: World, register: Any) -> None:
    update_user(world.customer_a, actor=world.admin, changes={"is_active": False})
    response = register(world.customer_a.email)
    assert response.status_code == 400 and "already exists" in response.content.decode()
    world.customer_a.refresh_from_db()
    assert not world.customer_a.is_active and not mail.outbox
    assert not PendingRegistration.objects.exists()


def test_nothing_is_mailed_when_the_registration_fails(world: World, register: Any) -> None:
    assert register("nina@alpha.test", password="123").status_code == 400
    assert register("eve@evil.test").status_code == 400
    assert not mail.outbox and not User.objects.filter(email="nina@alpha.test").exists()


def test_the_mail_is_sent_only_after_the_commit(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.register_customer(
            actor=None, email="nina@alpha.test", password=GOOD_PASSWORD, site_url="https://desk.example"
        )
    assert not mail.outbox and len(callbacks) == 1
    callbacks[0]()
    assert mail.outbox[0].to == ["nina@alpha.test"]
    assert "https://desk.example/portal/activate/" in mail.outbox[0].body


def test_registration_with_an_unknown_domain_is_refused(world: World, client: Client) -> None:
    response = client.post(reverse("portal:register"), form("eve@evil.test"))
    assert response.status_code == 400
    assert "invitation" in response.content.decode()
    assert not User.objects.filter(email="eve@evil.test").exists()


def test_registration_for_an_inactive_organisation_is_refused(world: World, client: Client) -> None:
    from tierdesk.orgs.services import update_organisation

    update_organisation(world.org_a, actor=world.admin, changes={"is_active": False})
    response = client.post(reverse("portal:register"), form("nina@alpha.test"))
    assert response.status_code == 400
    assert not User.objects.filter(email="nina@alpha.test").exists()


def test_weak_password_and_existing_account_are_refused(world: World, client: Client) -> None:
    response = client.post(reverse("portal:register"), form("nina@alpha.test", password="123"))
    assert response.status_code == 400
    assert not User.objects.filter(email="nina@alpha.test").exists()
    response = client.post(reverse("portal:register"), form(world.customer_a.email))
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


# --- By invitation --------------------------------------------------------------------------


def test_manager_invites_by_mail_and_invitation_works_once(
    world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(world.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:invitations"), {"email": "freelancer@gmail.test"})
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "We sent the invitation to freelancer@gmail.test" in page
    [message] = mail.outbox
    assert message.to == ["freelancer@gmail.test"] and message.from_email == settings.DEFAULT_FROM_EMAIL
    assert "Alpha Ltd" in message.subject and world.manager_a.get_full_name() in message.body
    assert "7 days" in message.body
    [link] = links_in(message)
    assert link.startswith("http://testserver/portal/invite/")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert token not in page  # the link travels only by mail
    invitation = Invitation.objects.get(email="freelancer@gmail.test")
    assert invitation.organisation_id == world.org_a.pk
    assert invitation.token_hash == hash_invitation_token(token) and token not in invitation.token_hash

    # The invitation came by mail, so it proves the address: the account is ready at once.
    client.logout()
    url = path_of(link)
    assert client.get(url).status_code == 200
    response = client.post(url, form("freelancer@gmail.test"))
    assert response.status_code == 302 and response.url == reverse("portal:home")
    user = User.objects.get(email="freelancer@gmail.test")
    assert user.organisation_id == world.org_a.pk and user.is_customer and user.is_active
    assert signed_in(client)
    invitation.refresh_from_db()
    assert invitation.used_at is not None and invitation.used_by_id == user.pk
    assert AuditEvent.objects.filter(event_type="portal.registered", target_id=user.pk).exists()
    assert len(mail.outbox) == 1  # no confirmation mail on top

    other = Client()
    assert other.get(url).status_code == 410  # single use
    response = other.post(url, form("someone-else@gmail.test"))
    assert response.status_code == 410
    assert not User.objects.filter(email="someone-else@gmail.test").exists()


@pytest.mark.parametrize("language", ["ru", ""])
def test_invitation_mail_speaks_the_inviters_language(
    world: World, language: str, monkeypatch: Any, settings: Any
) -> None:
    settings.LANGUAGE_CODE = "en"
    update_user(world.manager_a, actor=world.manager_a, changes={"language": language})
    spoken: list[str] = []
    real = services.queue_mail

    def spy(**kwargs: Any) -> None:
        spoken.append(kwargs["language"])
        real(**kwargs)

    monkeypatch.setattr(services, "queue_mail", spy)
    services.create_invitation(
        world.org_a, actor=world.manager_a, email="x@gmail.test", site_url="https://desk.example"
    )
    assert spoken == [language or "en"]


def test_invitation_that_is_refused_mails_nobody(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DomainError):
        services.create_invitation(
            world.org_a, actor=world.admin, email=world.customer_a.email, site_url="https://desk.example"
        )
    assert not mail.outbox and not Invitation.objects.exists()


def test_expired_or_unknown_invitation_is_refused(world: World, client: Client) -> None:
    invitation, token = services.create_invitation(
        world.org_a, actor=world.admin, email="late@gmail.test", site_url="https://desk.example"
    )
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    url = reverse("portal:register_invited", args=[token])
    assert "expired" in client.get(url).content.decode()
    assert client.post(url, form("late@gmail.test")).status_code == 410
    assert not User.objects.filter(email="late@gmail.test").exists()
    assert client.get(reverse("portal:register_invited", args=["nonsense"])).status_code == 410


def test_invitation_is_for_its_address_only(world: World, client: Client) -> None:
    _invitation, token = services.create_invitation(
        world.org_a, actor=world.admin, email="one@gmail.test", site_url="https://desk.example"
    )
    response = client.post(reverse("portal:register_invited", args=[token]), form("two@gmail.test"))
    assert response.status_code == 400
    assert not User.objects.filter(email="two@gmail.test").exists()


def test_plain_customers_cannot_invite(world: World, client: Client) -> None:
    client.force_login(world.customer_a)
    response = client.post(reverse("portal:invitations"), {"email": "x@gmail.test"})
    assert response.status_code == 302
    assert not Invitation.objects.exists() and not mail.outbox
