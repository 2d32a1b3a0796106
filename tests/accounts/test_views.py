"""The password pages: each shows its own heading, sentence, button and onward link, and the
reset journey works end to end."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import World

NEW_PASSWORD = "Amber-Lighthouse-93-Kettle"


def page(client: Client, url: str) -> str:
    response = client.get(url, follow=True)
    assert response.status_code == 200
    return str(response.content.decode())


@pytest.mark.parametrize(
    ("name", "texts", "link"),
    [
        (
            "accounts:password_reset",
            ["Reset your password", "Enter the e-mail address", "Send me a link"],
            None,
        ),
        (
            "accounts:password_reset_done",
            # Contacts without a password get no reset link: the page sends them to register.
            ["Check your mail", "is on its way", "Never chose a password", 'href="/portal/register/"'],
            "accounts:login",
        ),
        (
            "accounts:password_reset_complete",
            ["Password set", "Your new password is ready."],
            "accounts:login",
        ),
    ],
)
def test_public_password_pages(client: Client, name: str, texts: list[str], link: str | None) -> None:
    html = page(client, reverse(name))
    for text in texts:
        assert text in html
    if link is not None:
        assert f'href="{reverse(link)}"' in html


def test_password_change_pages(world: World, client: Client) -> None:
    client.force_login(world.customer_a)
    html = page(client, reverse("accounts:password_change"))
    assert "Change your password" in html and "Change password</button>" in html
    html = page(client, reverse("accounts:password_change_done"))
    assert "Password changed" in html and "Your password has been changed." in html
    assert f'href="{reverse("home")}"' in html and "Back to work" in html


def test_password_reset_journey(world: World, client: Client) -> None:
    response = client.post(reverse("accounts:password_reset"), {"email": world.customer_a.email})
    assert response.status_code == 302 and response.url == reverse("accounts:password_reset_done")
    [message] = mail.outbox
    path = re.findall(r"https?://[^/\s]+(/\S+)", str(message.body))[0]
    form = client.get(path, follow=True)
    assert (
        "Choose a new password" in form.content.decode() and "Set password</button>" in form.content.decode()
    )
    response = client.post(
        form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert response.status_code == 302 and response.url == reverse("accounts:password_reset_complete")
    world.customer_a.refresh_from_db()
    assert world.customer_a.check_password(NEW_PASSWORD)
    # A used link says so on the same page.
    assert "This link has expired or was already used" in page(client, path)
