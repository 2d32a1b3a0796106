"""Self-registration by e-mail domain and by invitation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import World
from tierdesk.accounts.models import User
from tierdesk.audit.models import AuditEvent
from tierdesk.portal import services
from tierdesk.portal.models import Invitation, hash_invitation_token

GOOD_PASSWORD = "Purple-Harbour-42-Lantern"


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


def test_registration_with_a_client_domain_creates_a_signed_in_customer(world: World, client: Client) -> None:
    response = client.post(reverse("portal:register"), form("nina@alpha.test"))
    assert response.status_code == 302
    assert response.url == reverse("portal:home")
    user = User.objects.get(email="nina@alpha.test")
    assert user.is_customer and user.organisation_id == world.org_a.pk and not user.is_org_manager
    assert user.check_password(GOOD_PASSWORD)
    assert client.get(reverse("portal:home")).status_code == 200  # signed in
    assert AuditEvent.objects.filter(event_type="portal.registered", target_id=user.pk).exists()


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


def test_manager_invites_and_invitation_works_once(world: World, client: Client) -> None:
    client.force_login(world.manager_a)
    response = client.post(reverse("portal:invitations"), {"email": "freelancer@gmail.test"})
    assert response.status_code == 200
    link = response.context["link"]
    token = link.rstrip("/").rsplit("/", 1)[-1]
    invitation = Invitation.objects.get(email="freelancer@gmail.test")
    assert invitation.organisation_id == world.org_a.pk
    assert invitation.token_hash == hash_invitation_token(token) and token not in invitation.token_hash

    client.logout()
    url = reverse("portal:register_invited", args=[token])
    assert client.get(url).status_code == 200
    response = client.post(url, form("freelancer@gmail.test"))
    assert response.status_code == 302
    user = User.objects.get(email="freelancer@gmail.test")
    assert user.organisation_id == world.org_a.pk and user.is_customer
    invitation.refresh_from_db()
    assert invitation.used_at is not None and invitation.used_by_id == user.pk

    other = Client()
    assert other.get(url).status_code == 410  # single use
    response = other.post(url, form("someone-else@gmail.test"))
    assert response.status_code == 410
    assert not User.objects.filter(email="someone-else@gmail.test").exists()


def test_expired_or_unknown_invitation_is_refused(world: World, client: Client) -> None:
    invitation, token = services.create_invitation(world.org_a, actor=world.admin, email="late@gmail.test")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    url = reverse("portal:register_invited", args=[token])
    assert "expired" in client.get(url).content.decode()
    assert client.post(url, form("late@gmail.test")).status_code == 410
    assert not User.objects.filter(email="late@gmail.test").exists()
    assert client.get(reverse("portal:register_invited", args=["nonsense"])).status_code == 410


def test_invitation_is_for_its_address_only(world: World, client: Client) -> None:
    _invitation, token = services.create_invitation(world.org_a, actor=world.admin, email="one@gmail.test")
    response = client.post(reverse("portal:register_invited", args=[token]), form("two@gmail.test"))
    assert response.status_code == 400
    assert not User.objects.filter(email="two@gmail.test").exists()


def test_plain_customers_cannot_invite(world: World, client: Client) -> None:
    client.force_login(world.customer_a)
    response = client.post(reverse("portal:invitations"), {"email": "x@gmail.test"})
    assert response.status_code == 302
    assert not Invitation.objects.exists()
