"""Error pages are the site's own, in the caller's language, with a way back; never Django's
bare English "Not Found"."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory
from django.utils import translation
from django.views.defaults import server_error

from tests.factories import PASSWORD, World

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_ours_and_speaks_russian_when_asked() -> None:
    english = Client().get("/no/such/page/")
    assert english.status_code == 404
    page = english.content.decode()
    assert "Page not found" in page and "nothing you may see" in page
    assert "tierdesk/app.css" in page and 'href="/"' in page
    russian = Client().get("/no/such/page/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Страница не найдена" in russian and 'lang="ru"' in russian
    assert "Page not found" not in russian


def test_a_ticket_one_may_not_see_is_the_same_404_inside_the_frame(world: World) -> None:
    ticket = world.ticket(requester=world.customer_b)
    client = Client()
    assert client.login(username=world.l1_b_only.username, password=PASSWORD)
    assert client.get(f"/desk/t/{ticket.pk}/").status_code == 200
    outsider = Client()
    assert outsider.login(username=world.customer_a.username, password=PASSWORD)
    hidden = outsider.get(f"/portal/r/{ticket.pk}/")
    missing = outsider.get("/portal/r/999999999/")
    assert hidden.status_code == missing.status_code == 404
    assert "Page not found" in hidden.content.decode()
    # The frame shows who is signed in, so the person can go on from here.
    assert world.customer_a.get_full_name() in hidden.content.decode()


def test_a_form_sent_without_its_csrf_token_explains_itself() -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/login/", {"username": "x", "password": "y"}, HTTP_ACCEPT_LANGUAGE="ru"
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "Срок действия формы истёк" in page and "tierdesk/app.css" in page


@pytest.mark.parametrize(
    ("language", "text"), [("en", "Something went wrong"), ("ru", "Что-то пошло не так")]
)
def test_a_server_error_page_needs_nothing_but_the_template(language: str, text: str) -> None:
    request: Any = RequestFactory().get("/desk/")
    with translation.override(language):
        response = server_error(request)
    assert response.status_code == 500
    assert text in response.content.decode() and "tierdesk/app.css" in response.content.decode()
