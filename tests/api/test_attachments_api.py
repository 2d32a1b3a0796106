"""Uploading and downloading attachments over HTTP: exact bytes, safe names and headers, limits,
and who may download what."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.api.helpers import assert_error, db_state, stored_files
from tests.factories import World
from tierdesk.tickets import services
from tierdesk.tickets.models import Attachment, Ticket

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def upload(client: Any, ticket: Ticket, name: str, content: bytes, **data: Any) -> Any:
    return client.post(
        f"tickets/{ticket.pk}/attachments",
        {"file": SimpleUploadedFile(name, content, content_type="application/octet-stream"), **data},
        multipart=True,
    )


def download(client: Any, attachment_id: int) -> Any:
    return client.get(f"attachments/{attachment_id}")


def content_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_upload_and_download_round_trip(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    response = upload(client, ticket, "report.pdf", PDF)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["filename"] == "report.pdf"
    assert body["size"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["content_type"] == "application/pdf"
    assert body["is_internal"] is False
    assert body["url"] == f"/api/v1/attachments/{body['id']}"
    ticket.refresh_from_db()
    assert ticket.version == 2  # an upload is a change of the ticket

    response = client.get(body["url"])
    assert response.status_code == 200
    assert content_of(response) == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="report.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Length"] == str(len(PDF))
    # The agent who works the ticket gets the same bytes.
    assert content_of(download(api(world.l1), body["id"])) == PDF


def test_html_upload_cannot_be_rendered_as_our_page(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    html = b"<script>fetch('/api/v1/me')</script>"
    attachment_id = upload(client, ticket, "page.html", html).json()["id"]
    response = download(api(world.l1), attachment_id)
    assert content_of(response) == html
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


def raw_upload(client: Any, ticket: Ticket, disposition_filename: str, content: bytes) -> Any:
    """A multipart upload written by hand, so the file name reaches the server exactly as a hostile
    client sends it (Django's test client would already strip directories from it)."""
    boundary = "tierdesk-test-boundary"
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; {disposition_filename}\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return client.client.post(
        f"/api/v1/tickets/{ticket.pk}/attachments",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers=client.headers,
    )


def test_hostile_file_name_is_stored_as_a_safe_name(world: World, api: Any, tmp_path: Path) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    response = raw_upload(client, ticket, 'filename="../../x.html"', b"<h1>owned</h1>")
    assert response.status_code == 201, response.content
    assert response.json()["filename"] == "x.html"
    attachment = Attachment.objects.get(pk=response.json()["id"])
    assert attachment.filename == "x.html"
    # The bytes live inside the storage directory, under their hash, and nowhere else.
    media = Path(settings.MEDIA_ROOT).resolve()
    assert Path(attachment.file.path).resolve().is_relative_to(media)
    assert (
        attachment.file.name
        == f"attachments/{attachment.sha256[:2]}/{attachment.sha256[2:4]}/{attachment.sha256}"
    )
    assert stored_files() == [Path(attachment.file.path)]
    assert not (media.parent / "x.html").exists()
    assert not (tmp_path / "x.html").exists()
    response = download(client, attachment.pk)
    assert 'filename="x.html"' in response["Content-Disposition"]
    assert content_of(response) == b"<h1>owned</h1>"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('filename="..\\..\\windows\\evil.bat"', "evil.bat"),
        ('filename="/etc/passwd"', "passwd"),
        ('filename=".htaccess"', "htaccess"),
        ('filename="&#46;&#46;/y.txt"', "y.txt"),
        ('filename="a\x01b\x7f.txt"', "ab.txt"),
        ('filename=" "', "attachment"),
        ("filename*=UTF-8''inv%22oice%0D%0AX-Injected%3A%20yes.pdf", None),
        ("filename*=UTF-8''%D0%A1%D1%87%D1%91%D1%82.pdf", "Счёт.pdf"),
        ('filename="' + "n" * 300 + '.pdf"', None),
    ],
    ids=[
        "windows-path",
        "absolute",
        "dotfile",
        "html-entities",
        "control-chars",
        "blank",
        "crlf-quote",
        "rfc2231-cyrillic",
        "overlong",
    ],
)
def test_more_hostile_names(world: World, api: Any, disposition: str, expected: str | None) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    response = raw_upload(client, ticket, disposition, b"data")
    assert response.status_code == 201, response.content
    name = response.json()["filename"]
    if expected is not None:
        assert name == expected
    assert name and len(name) <= 150
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert not any(ch in name for ch in '"\r\n\x00\x01\x7f')
    headers = download(client, response.json()["id"])
    assert "\n" not in headers["Content-Disposition"] and "\r" not in headers["Content-Disposition"]
    assert not headers.has_header("X-Injected")
    assert stored_files()[0].resolve().is_relative_to(Path(settings.MEDIA_ROOT).resolve())


@pytest.mark.parametrize("name", ["..", "."])
def test_file_name_that_is_only_dots_is_refused(world: World, api: Any, name: str) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    response = raw_upload(client, ticket, f'filename="{name}"', b"data")
    assert 400 <= response.status_code < 500, response.content
    assert db_state() == before
    assert stored_files() == []


def test_cyrillic_name_stays_readable(world: World, api: Any) -> None:
    ticket = world.ticket()
    response = upload(api(world.customer_a), ticket, "Счёт.pdf", b"data")
    assert response.status_code == 201, response.content
    assert response.json()["filename"] == "Счёт.pdf"


def test_customer_of_another_organisation_gets_404(world: World, api: Any) -> None:
    ticket = world.ticket()
    attachment_id = upload(api(world.customer_a), ticket, "a.txt", b"alpha only").json()["id"]
    for outsider in (world.customer_b, world.manager_b, world.customer_a2, world.l1_b_only):
        response = download(api(outsider), attachment_id)
        assert response.status_code == 404, outsider
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_customer_cannot_download_an_internal_note_attachment(world: World, api: Any) -> None:
    ticket = world.ticket()
    agent = api(world.l1)
    note = agent.post(f"tickets/{ticket.pk}/notes", {"body": "logs attached"}).json()
    response = upload(agent, ticket, "server.log", b"internal log lines", entry_id=note["id"])
    assert response.status_code == 201, response.content
    assert response.json()["is_internal"] is True
    assert response.json()["entry_id"] == note["id"]
    attachment_id = response.json()["id"]
    for customer in (world.customer_a, world.manager_a):
        client = api(customer)
        assert download(client, attachment_id).status_code == 404
        assert attachment_id not in {a["id"] for a in client.get(f"tickets/{ticket.pk}/attachments").json()}
    assert content_of(download(agent, attachment_id)) == b"internal log lines"


def test_customer_cannot_attach_to_an_entry_he_cannot_see(world: World, api: Any) -> None:
    ticket = world.ticket()
    note = services.add_internal_note(ticket, actor=world.l1, body="internal")
    client = api(world.customer_a)
    before = db_state()
    assert_error(
        upload(client, ticket, "a.txt", b"x", entry_id=note.pk),
        400,
        code="unknown_reference",
        field="entry_id",
    )
    assert db_state() == before
    assert stored_files() == []


def test_attachment_to_a_public_reply_is_public(world: World, api: Any) -> None:
    ticket = world.ticket()
    reply = api(world.l1).post(f"tickets/{ticket.pk}/replies", {"body": "see the manual"}).json()
    response = upload(api(world.l1), ticket, "manual.pdf", PDF, entry_id=reply["id"])
    assert response.json()["is_internal"] is False
    assert content_of(download(api(world.customer_a), response.json()["id"])) == PDF


def test_same_bytes_twice_are_stored_once(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    first = upload(client, ticket, "a.pdf", PDF).json()
    second = upload(client, ticket, "b.pdf", PDF).json()
    assert first["id"] != second["id"]
    assert len(stored_files()) == 1
    assert content_of(download(client, second["id"])) == PDF
    assert 'filename="b.pdf"' in download(client, second["id"])["Content-Disposition"]


def test_over_size_upload_is_413_and_nothing_is_stored(world: World, api: Any, settings: Any) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 1000
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    body = assert_error(upload(client, ticket, "big.bin", b"x" * 1001), 413, code="too_large", field="file")
    assert "1000" in body["detail"] and "1001" in body["detail"]
    assert db_state() == before
    assert Attachment.objects.count() == 0
    assert stored_files() == []
    # Exactly at the limit is fine.
    assert upload(client, ticket, "ok.bin", b"x" * 1000).status_code == 201


def test_empty_file_is_400_and_nothing_is_stored(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    assert_error(upload(client, ticket, "empty.txt", b""), 400, field="file")
    assert db_state() == before
    assert stored_files() == []


def test_upload_without_a_file_is_422(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    response = client.post(f"tickets/{ticket.pk}/attachments", {"entry_id": ""}, multipart=True)
    assert response.status_code == 422, response.content
    assert "file" in response.content.decode()
    assert db_state() == before


def test_huge_request_body_is_refused_before_it_is_read(world: World, api: Any, settings: Any) -> None:
    settings.TIERDESK_MAX_ATTACHMENT_BYTES = 1000
    ticket = world.ticket()
    client = api(world.customer_a)
    before = db_state()
    huge = b"y" * (1000 + 1024 * 1024 + 1)
    body = assert_error(upload(client, ticket, "huge.bin", huge), 413, code="too_large")
    assert "bytes" in body["detail"]
    assert db_state() == before
    assert stored_files() == []


def test_customer_cannot_upload_to_a_closed_request(world: World, api: Any) -> None:
    ticket = world.ticket()
    client = api(world.customer_a)
    assert client.post(f"tickets/{ticket.pk}/transition", {"status": "cancelled"}).status_code == 200
    before = db_state()
    assert_error(upload(client, ticket, "late.txt", b"late"), 409, code="not_open")
    assert db_state() == before
    assert stored_files() == []
