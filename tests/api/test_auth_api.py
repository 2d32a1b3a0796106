"""Authentication of the HTTP API: bearer tokens and browser sessions (with CSRF on writes).

Requests from a real browser or integration are not exempt from CSRF checks the way Django's
default test client is, so tests about writes use ``Client(enforce_csrf_checks=True)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from django.utils import timezone

from tests.api.helpers import assert_error, db_state
from tests.factories import PASSWORD, World
from tierdesk.accounts.models import ApiToken
from tierdesk.accounts.services import create_api_token, revoke_api_token, update_user
from tierdesk.tickets.models import Ticket


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthenticated(response: Any) -> None:
    body = assert_error(response, 401, code="not_authenticated")
    assert "Bearer" in body["detail"], body  # tells the caller how to authenticate


def test_no_credentials_is_401_with_a_helpful_detail(world: World) -> None:
    for path in ("/api/v1/me", "/api/v1/tickets", "/api/v1/organisations", "/api/v1/lines"):
        assert_unauthenticated(Client().get(path))


def test_no_credentials_on_a_write_is_401_without_csrf_enforcement(world: World) -> None:
    before = db_state()
    assert_unauthenticated(
        Client().post("/api/v1/tickets", {"subject": "x"}, content_type="application/json")
    )
    assert db_state() == before


@pytest.mark.parametrize("header", [None, "Bearer not-a-real-token"], ids=["no-credentials", "bad-token"])
def test_unauthenticated_write_from_a_real_client_is_401(world: World, header: str | None) -> None:
    client = Client(enforce_csrf_checks=True)
    headers = {"Authorization": header} if header else {}
    before = db_state()
    response = client.post(
        "/api/v1/tickets", {"subject": "x"}, content_type="application/json", headers=headers
    )
    assert db_state() == before
    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token",
        "Bearer ",
        "Bearer " + "x" * 500,
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Token abc",
    ],
    ids=["wrong", "empty", "overlong", "basic", "other-scheme"],
)
def test_wrong_token_is_401(world: World, authorization: str) -> None:
    response = Client().get("/api/v1/me", headers={"Authorization": authorization})
    assert_unauthenticated(response)


def test_valid_token_authenticates_as_its_user_and_records_use(world: World) -> None:
    token, raw = create_api_token(world.customer_a, actor=world.customer_a, name="script")
    assert token.last_used_at is None
    response = Client().get("/api/v1/me", headers=bearer(raw))
    assert response.status_code == 200, response.content
    assert response.json()["username"] == world.customer_a.username
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_bearer_token_writes_need_no_csrf_token(world: World) -> None:
    _, raw = create_api_token(world.customer_a, actor=world.customer_a, name="script")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/tickets", {"subject": "From a script"}, content_type="application/json", headers=bearer(raw)
    )
    assert response.status_code == 201, response.content


def test_revoked_token_is_401(world: World) -> None:
    token, raw = create_api_token(world.l1, actor=world.admin, name="monitoring")
    assert Client().get("/api/v1/me", headers=bearer(raw)).status_code == 200
    revoke_api_token(token, actor=world.admin)
    assert_unauthenticated(Client().get("/api/v1/me", headers=bearer(raw)))
    assert_unauthenticated(Client().get("/api/v1/tickets", headers=bearer(raw)))
    before = db_state()
    assert_unauthenticated(
        Client().post(
            "/api/v1/tickets", {"subject": "x"}, content_type="application/json", headers=bearer(raw)
        )
    )
    assert db_state() == before


def test_expired_token_is_401_and_an_unexpired_one_works(world: World) -> None:
    _, expired = create_api_token(
        world.l1, actor=world.admin, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )
    _, fresh = create_api_token(
        world.l1, actor=world.admin, name="new", expires_at=timezone.now() + timedelta(days=1)
    )
    assert_unauthenticated(Client().get("/api/v1/me", headers=bearer(expired)))
    assert Client().get("/api/v1/me", headers=bearer(fresh)).status_code == 200


def test_token_of_a_deactivated_user_is_401(world: World) -> None:
    _, raw = create_api_token(world.customer_a, actor=world.admin, name="script")
    assert Client().get("/api/v1/me", headers=bearer(raw)).status_code == 200
    update_user(world.customer_a, actor=world.admin, changes={"is_active": False})
    assert_unauthenticated(Client().get("/api/v1/me", headers=bearer(raw)))
    assert ApiToken.objects.filter(
        user=world.customer_a, revoked_at__isnull=True
    ).exists()  # only the user is off


def test_token_hash_only_is_stored(world: World) -> None:
    token, raw = create_api_token(world.l1, actor=world.admin, name="x")
    assert raw not in (token.key_hash, token.prefix)
    assert not ApiToken.objects.filter(key_hash=raw).exists()
    # The stored hash itself is not a credential.
    assert_unauthenticated(Client().get("/api/v1/me", headers=bearer(token.key_hash)))


# --- Sessions --------------------------------------------------------------------------------


def session_client(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_session_authenticates_reads(world: World) -> None:
    client = session_client(world.customer_a)
    response = client.get("/api/v1/me")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == world.customer_a.pk


def test_password_login_session_works(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=world.l1.username, password=PASSWORD)
    response = client.get("/api/v1/tickets")
    assert response.status_code == 200, response.content


def test_session_write_without_csrf_token_is_refused(world: World) -> None:
    client = session_client(world.customer_a)
    before = db_state()
    response = client.post("/api/v1/tickets", {"subject": "no csrf"}, content_type="application/json")
    assert response.status_code == 403, response.content
    assert "CSRF" in response.json()["detail"]
    # A cookie without the matching header is no better.
    client.cookies[settings.CSRF_COOKIE_NAME] = _get_new_csrf_string()
    response = client.post("/api/v1/tickets", {"subject": "no csrf"}, content_type="application/json")
    assert response.status_code == 403, response.content
    # Nor is a header that does not match the cookie.
    response = client.post(
        "/api/v1/tickets",
        {"subject": "no csrf"},
        content_type="application/json",
        headers={"X-CSRFToken": _get_new_csrf_string()},
    )
    assert response.status_code == 403, response.content
    assert db_state() == before


def test_session_write_with_csrf_token_is_accepted(world: World) -> None:
    client = session_client(world.customer_a)
    secret = _get_new_csrf_string()
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    response = client.post(
        "/api/v1/tickets",
        {"subject": "with csrf"},
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )
    assert response.status_code == 201, response.content
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert ticket.requester == world.customer_a
    response = client.post(
        f"/api/v1/tickets/{ticket.pk}/replies",
        {"body": "more"},
        content_type="application/json",
        headers={"X-CSRFToken": secret},
    )
    assert response.status_code == 201, response.content


def test_session_of_a_deactivated_user_is_401(world: World) -> None:
    client = session_client(world.customer_a)
    assert client.get("/api/v1/me").status_code == 200
    update_user(world.customer_a, actor=world.admin, changes={"is_active": False})
    assert_unauthenticated(client.get("/api/v1/me"))


def test_logged_out_session_is_401(world: World) -> None:
    client = session_client(world.customer_a)
    client.logout()
    assert_unauthenticated(client.get("/api/v1/me"))
