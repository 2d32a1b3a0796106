"""The e-mail API: mailboxes for administrators (the password never leaves), received mail for
staff within their scope, held and quarantined messages worked through it, raw delivery."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import World
from tests.mail.test_import import mail
from tierdesk.mail import services
from tierdesk.mail.choices import InboundState, Transport
from tierdesk.mail.models import InboundMessage, Mailbox
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db

MAILBOX = {
    "name": "Support",
    "address": "support@desk.test",
    "imap_host": "imap.desk.test",
    "imap_username": "support",
    "imap_password": "s3cret",
}


def test_administrators_manage_mailboxes_and_never_read_the_password(world: World, api: Any) -> None:
    admin = api(world.admin)
    created = admin.post("mail/mailboxes", MAILBOX)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["imap_password_set"] is True
    assert "s3cret" not in created.content.decode()
    box_id = body["id"]
    changed = admin._call(
        "put", f"mail/mailboxes/{box_id}", {**MAILBOX, "imap_password": None, "imap_port": 143}
    )
    assert changed.status_code == 200
    assert Mailbox.objects.get(pk=box_id).imap_password == "s3cret"  # omitted: kept
    assert Mailbox.objects.get(pk=box_id).imap_port == 143
    assert "s3cret" not in admin.get("mail/mailboxes").content.decode()

    agent = api(world.l1)
    assert agent.get("mail/mailboxes").json() == []
    assert agent.post("mail/mailboxes", {**MAILBOX, "name": "Other"}).status_code == 403
    assert agent._call("put", f"mail/mailboxes/{box_id}", MAILBOX).status_code == 404


def test_a_bad_mailbox_is_refused_with_the_field(world: World, api: Any) -> None:
    response = api(world.admin).post("mail/mailboxes", {**MAILBOX, "address": "not an address"})
    assert response.status_code == 400
    assert "address" in response.content.decode()
    unknown = api(world.admin).post("mail/mailboxes", {**MAILBOX, "colour": "red"})
    assert unknown.status_code == 422
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize("host", ["imap.desk.test", "10.0.0.5", "[2001:db8::1]", "localhost.evil.test"])
def test_imap_without_tls_is_refused_for_a_server_elsewhere(world: World, api: Any, host: str) -> None:
    response = api(world.admin).post(
        "mail/mailboxes", {**MAILBOX, "imap_host": host, "imap_security": "none"}
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == "imap_security" and "TLS" in body["detail"]
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]", "mail.localhost"])
def test_imap_without_tls_is_allowed_on_this_machine(world: World, api: Any, host: str) -> None:
    response = api(world.admin).post(
        "mail/mailboxes", {**MAILBOX, "imap_host": host, "imap_security": "none"}
    )
    assert response.status_code == 201, response.content


def test_staff_see_received_mail_of_their_scope_customers_none(world: World, api: Any) -> None:
    a = services.import_message(mail(sender="alex@alpha.test"), transport=Transport.IMAP)
    b = services.import_message(mail(sender="bob@beta.test"), transport=Transport.IMAP)
    held = services.import_message(mail(sender="x@nowhere.test"), transport=Transport.IMAP)
    ids = {m["id"] for m in api(world.l1_b_only).get("mail/messages").json()}
    assert ids == {b.pk, held.pk}
    assert {m["id"] for m in api(world.admin).get("mail/messages").json()} == {a.pk, b.pk, held.pk}
    assert api(world.customer_a).get("mail/messages").json() == []
    assert api(world.customer_a).get(f"mail/messages/{a.pk}").status_code == 404
    assert api(world.l1_b_only).get(f"mail/messages/{a.pk}").status_code == 404
    listed = api(world.admin).get("mail/messages", {"state": "held"}).json()
    assert [m["id"] for m in listed] == [held.pk]
    assert listed[0]["ticket"] is None


def test_a_held_message_becomes_a_request_through_the_api(world: World, api: Any) -> None:
    held = services.import_message(mail(sender="x@nowhere.test"), transport=Transport.IMAP)
    refused = api(world.l1_b_only).post(
        f"mail/messages/{held.pk}/assign", {"organisation_id": world.org_a.pk}
    )
    assert refused.status_code == 404  # he does not serve org A: he cannot even name it
    done = api(world.l1).post(f"mail/messages/{held.pk}/assign", {"organisation_id": world.org_a.pk})
    assert done.status_code == 200, done.content
    assert done.json()["state"] == InboundState.TICKET
    ticket = Ticket.objects.get()
    assert done.json()["ticket"] == ticket.number
    assert ticket.organisation == world.org_a
    again = api(world.l1).post(f"mail/messages/{held.pk}/assign", {"organisation_id": world.org_a.pk})
    assert again.status_code == 409


def test_quarantine_retry_and_discard_through_the_api(world: World, api: Any) -> None:
    junk = services.import_message(b"\x00\x01 not a mail", transport=Transport.IMAP)
    assert junk.state == InboundState.QUARANTINED
    assert api(world.l1).post(f"mail/messages/{junk.pk}/retry").status_code == 404  # not his to see
    assert api(world.admin).post(f"mail/messages/{junk.pk}/retry").json()["state"] == InboundState.QUARANTINED
    gone = api(world.admin).post(f"mail/messages/{junk.pk}/discard", {"reason": "junk"})
    assert gone.json()["state"] == InboundState.DISCARDED


def test_raw_delivery_imports_once_and_refuses_oversized_mail(world: World, api: Any, settings: Any) -> None:
    admin = api(world.admin)
    raw = mail(sender="alex@alpha.test")

    def deliver(data: bytes) -> Any:
        upload = SimpleUploadedFile("message.eml", data, content_type="message/rfc822")
        return admin.client.post("/api/v1/mail/inbound", {"message": upload}, headers=admin.headers)

    first = deliver(raw)
    assert first.status_code == 201, first.content
    assert first.json()["transport"] == Transport.API
    assert deliver(raw).status_code == 200  # a duplicate: the same record, nothing new
    assert Ticket.objects.count() == 1
    settings.TIERDESK_MAIL_MAX_BYTES = 100
    too_big = deliver(mail(sender="alex@alpha.test", subject="other"))
    assert too_big.status_code == 413
    assert InboundMessage.objects.count() == 1

    upload = SimpleUploadedFile("message.eml", raw, content_type="message/rfc822")
    agent = api(world.l1)
    assert (
        agent.client.post("/api/v1/mail/inbound", {"message": upload}, headers=agent.headers).status_code
        == 403
    )
