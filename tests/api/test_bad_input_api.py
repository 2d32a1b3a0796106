"""Bad input over HTTP is refused with a clear 4xx (never a 500) and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings

from tests.api.helpers import assert_error, assert_validation_error, db_state
from tests.factories import World
from tierdesk.tickets.models import Ticket


@pytest.fixture
def ticket(world: World) -> Ticket:
    return world.ticket()


@pytest.fixture
def agent(world: World, api: Any) -> Any:
    return api(world.l1)


@pytest.fixture
def customer(world: World, api: Any) -> Any:
    return api(world.customer_a)


# Every JSON endpoint that writes, with a ticket placeholder.
JSON_WRITES = [
    ("post", "tickets"),
    ("patch", "tickets/{pk}"),
    ("post", "tickets/{pk}/transition"),
    ("post", "tickets/{pk}/assign"),
    ("post", "tickets/{pk}/escalate"),
    ("post", "tickets/{pk}/de-escalate"),
    ("post", "tickets/{pk}/replies"),
    ("post", "tickets/{pk}/notes"),
    ("post", "organisations/{org}/contacts"),
]


def _path(template: str, world: World, ticket: Ticket) -> str:
    return template.format(pk=ticket.pk, org=world.org_a.pk)


MALFORMED = {
    "truncated": b"{bad json",
    "trailing-comma": b'{"subject": "x",}',
    "empty": b"",
    "not-utf8": b"\xff\xfe\x00garbage",
    "single-quotes": b"{'single': 'quotes'}",
}
NOT_AN_OBJECT = {"string": b'"just a string"', "array": b"[1, 2]", "number": b"42", "null": b"null"}


@pytest.mark.parametrize(("method", "template"), JSON_WRITES, ids=[t for _, t in JSON_WRITES])
def test_malformed_json_is_a_4xx_json_error(
    world: World, agent: Any, ticket: Ticket, method: str, template: str
) -> None:
    before = db_state()
    for name, raw in MALFORMED.items():
        response = getattr(agent, method)(
            _path(template, world, ticket), data=raw, content_type="application/json"
        )
        context = (name, response.status_code, response.content[:300])
        assert response.status_code in (400, 422), context
        assert response["Content-Type"].startswith("application/json"), context
        assert response.json()["detail"], context
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "template"),
    [w for w in JSON_WRITES if w[1] not in ("tickets/{pk}", "tickets/{pk}/assign")],
    ids=[t for _, t in JSON_WRITES if t not in ("tickets/{pk}", "tickets/{pk}/assign")],
)
def test_json_body_that_is_not_an_object_is_refused(
    world: World, agent: Any, ticket: Ticket, method: str, template: str
) -> None:
    before = db_state()
    for name, raw in NOT_AN_OBJECT.items():
        response = getattr(agent, method)(
            _path(template, world, ticket), data=raw, content_type="application/json"
        )
        context = (name, response.status_code, response.content[:300])
        assert response.status_code in (400, 422), context
        assert response["Content-Type"].startswith("application/json"), context
    assert db_state() == before


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"null"], ids=["array", "string", "null"])
@pytest.mark.parametrize("endpoint", ["assign", "patch"])
def test_non_object_body_for_all_optional_schemas_is_refused(
    world: World, agent: Any, ticket: Ticket, endpoint: str, raw: bytes
) -> None:
    from tierdesk.tickets import services

    services.assign_ticket(ticket, assignee=world.l1, actor=world.l1)
    before = db_state()
    if endpoint == "assign":
        wrapped = raw.replace(b"1, 2", b'{"assignee_id": %d}' % world.l1.pk)
        response = agent.post(f"tickets/{ticket.pk}/assign", data=wrapped, content_type="application/json")
    else:
        response = agent.patch(f"tickets/{ticket.pk}", data=raw, content_type="application/json")
    assert db_state() == before, "a malformed body changed the ticket"
    assert response.status_code in (400, 422), response.status_code


def test_malformed_json_says_so(world: World, agent: Any, ticket: Ticket) -> None:
    response = agent.post(f"tickets/{ticket.pk}/replies", data=b"{bad", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_body"
    assert "json object" in response.json()["detail"].lower()


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("tickets", {"subject": ["a list"]}, "subject"),
        ("tickets", {"subject": "ok", "impact": "very high"}, "impact"),
        ("tickets", {"subject": "ok", "urgency": 7}, "urgency"),
        ("tickets", {"subject": "ok", "organisation_id": "alpha"}, "organisation_id"),
        ("tickets", {"subject": "ok", "type": "complaint"}, "type"),
        ("tickets", {"subject": "ok", "channel": "pigeon"}, "channel"),
        ("tickets", {"description": "no subject"}, "subject"),
        ("tickets/{pk}/replies", {"body": 5}, "body"),
        ("tickets/{pk}/replies", {"body": None}, "body"),
        ("tickets/{pk}/assign", {"assignee_id": "l1"}, "assignee_id"),
        ("tickets/{pk}/escalate", {"line": ["L2"], "reason": "r"}, "line"),
        ("tickets/{pk}/transition", {"status": 3}, "status"),
    ],
)
def test_wrong_types_are_422_naming_the_field(
    world: World, agent: Any, ticket: Ticket, path: str, payload: dict, field: str
) -> None:
    before = db_state()
    assert_validation_error(agent.post(path.format(pk=ticket.pk), payload), field)
    assert db_state() == before


def test_a_422_reads_like_every_other_error_and_lists_each_problem(world: World, agent: Any) -> None:
    """``detail`` names the first field and says what to send, ``field`` is its name, and
    ``errors`` has every problem; the messages follow the caller's language."""
    payload = {"subject": "s" * 251, "impact": "high", "organisation_id": 0, "colour": "red"}
    body = agent.post("tickets", payload).json()
    problems = {error["field"]: error["message"] for error in body["errors"]}
    assert problems == {
        "subject": "Enter at most 250 characters.",
        "impact": "Choose one of: 1, 2, 3.",
        "organisation_id": "Enter a value of at least 1.",
        "colour": "Unknown field: check its name against the API documentation.",
    }
    first = body["errors"][0]
    assert body["detail"] == f"{first['field']}: {first['message']}" and body["field"] == first["field"]
    assert {error["type"] for error in body["errors"]} >= {"string_too_long", "extra_forbidden"}
    russian = agent.post("tickets", {"organisation_id": "x"}, HTTP_ACCEPT_LANGUAGE="ru").json()
    assert {e["field"]: e["message"] for e in russian["errors"]} == {
        "subject": "Обязательное поле.",
        "organisation_id": "Введите целое число.",
    }


def test_patch_with_wrong_types_is_422(world: World, agent: Any, ticket: Ticket) -> None:
    before = db_state()
    assert_validation_error(
        agent.patch(f"tickets/{ticket.pk}", {"expected_version": "latest"}), "expected_version"
    )
    assert_validation_error(agent.patch(f"tickets/{ticket.pk}", {"impact": 0}), "impact")
    assert db_state() == before


def test_subject_of_251_characters_is_refused_naming_subject(
    world: World, customer: Any, agent: Any, ticket: Ticket
) -> None:
    before = db_state()
    assert_validation_error(customer.post("tickets", {"subject": "s" * 251}), "subject")
    assert_validation_error(agent.patch(f"tickets/{ticket.pk}", {"subject": "s" * 251}), "subject")
    assert db_state() == before
    # 250 is the documented limit and is accepted.
    response = customer.post("tickets", {"subject": "s" * 250})
    assert response.status_code == 201, response.content
    assert len(response.json()["subject"]) == 250


def test_overlong_description_and_reply_name_the_limit(world: World, agent: Any, ticket: Ticket) -> None:
    before = db_state()
    body = assert_error(
        agent.post(f"tickets/{ticket.pk}/replies", {"body": "b" * 100_001}),
        400,
        code="too_long",
        field="body",
    )
    assert "100000" in body["detail"]
    assert_error(
        agent.patch(f"tickets/{ticket.pk}", {"description": "d" * 100_001}),
        400,
        code="too_long",
        field="description",
    )
    assert db_state() == before


@pytest.mark.parametrize(
    ("method", "path", "payload", "field"),
    [
        ("post", "tickets/{pk}/replies", {"body": "hello\u0000world"}, "body"),
        ("post", "tickets/{pk}/notes", {"body": "\u0000"}, "body"),
        ("post", "tickets", {"subject": "sub\u0000ject"}, "subject"),
        ("post", "tickets", {"subject": "ok", "description": "d\u0000"}, "description"),
        ("patch", "tickets/{pk}", {"subject": "a\u0000b"}, "subject"),
        ("patch", "tickets/{pk}", {"description": "a\u0000b"}, "description"),
        ("post", "tickets/{pk}/transition", {"status": "waiting_customer", "comment": "c\u0000"}, "comment"),
        ("post", "tickets/{pk}/escalate", {"line": "L2", "reason": "r\u0000"}, "reason"),
        ("post", "tickets/{pk}/escalate", {"line": "L\u00002", "reason": "r"}, "line"),
        ("post", "tickets", {"subject": "ok", "line": "L1\u0000"}, "line"),
    ],
)
def test_nul_character_is_400_naming_the_field(
    world: World, agent: Any, ticket: Ticket, method: str, path: str, payload: dict, field: str
) -> None:
    if path == "tickets":
        payload = {**payload, "organisation_id": world.org_a.pk, "requester_id": world.customer_a.pk}
    before = db_state()
    body = assert_error(getattr(agent, method)(path.format(pk=ticket.pk), payload), 400, field=field)
    assert "NUL" in body["detail"] or field == "line"  # a line code with NUL names no line
    assert db_state() == before


@pytest.mark.parametrize("field", ["first_name", "last_name", "phone"])
def test_nul_character_in_a_new_contact_is_400(world: World, agent: Any, field: str) -> None:
    before = db_state()
    response = agent.post(
        f"organisations/{world.org_a.pk}/contacts", {"email": "nul@alpha.test", field: "a\u0000b"}
    )
    assert db_state() == before
    assert_error(response, 400, field=field)


@pytest.mark.parametrize("param", ["q", "line"])
def test_nul_character_in_a_list_filter_is_not_a_500(
    world: World, agent: Any, ticket: Ticket, param: str
) -> None:
    response = agent.get("tickets", {param: "a\u0000b"})
    assert response.status_code in (200, 400), response.content
    assert response["Content-Type"].startswith("application/json")


def test_unknown_status_value_is_422(world: World, agent: Any, ticket: Ticket) -> None:
    before = db_state()
    errors = assert_validation_error(
        agent.post(f"tickets/{ticket.pk}/transition", {"status": "done"}), "status"
    )
    assert "resolved" in json.dumps(errors)  # the message lists the valid values
    assert_validation_error(agent.post(f"tickets/{ticket.pk}/transition", {"status": "NEW"}), "status")
    assert_validation_error(agent.get("tickets", {"status": ["new", "done"]}), "status")
    assert db_state() == before


def test_null_subject_on_patch_is_refused(world: World, agent: Any, ticket: Ticket) -> None:
    before = db_state()
    body = assert_error(agent.patch(f"tickets/{ticket.pk}", {"subject": None}), 400, field="subject")
    assert "null" in body["detail"]
    assert db_state() == before


def _oversized_reply() -> bytes:
    filler = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1024)
    return json.dumps({"body": filler}).encode()


def test_json_body_above_data_upload_max_memory_size_is_refused_cleanly(
    world: World, agent: Any, ticket: Ticket
) -> None:
    raw = _oversized_reply()
    assert len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = db_state()
    response = agent.post(f"tickets/{ticket.pk}/replies", data=raw, content_type="application/json")
    assert 400 <= response.status_code < 500, response.status_code
    assert db_state() == before
    response = agent.post(
        "tickets",
        data=json.dumps({"subject": "s", "description": "d" * len(raw)}).encode(),
        content_type="application/json",
    )
    assert 400 <= response.status_code < 500, response.status_code
    assert db_state() == before


def test_json_body_above_data_upload_max_memory_size_gets_a_json_error(
    world: World, agent: Any, ticket: Ticket
) -> None:
    response = agent.post(
        f"tickets/{ticket.pk}/replies", data=_oversized_reply(), content_type="application/json"
    )
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    assert response.json()["detail"]


def test_path_parameters_of_the_wrong_type(world: World, agent: Any) -> None:
    assert_error(agent.get("tickets/TD-abc"), 404, code="not_found")
    assert_error(agent.get("tickets/" + "9" * 40), 404, code="not_found")
    response = agent.get("attachments/not-a-number")
    assert response.status_code in (404, 422)
    response = agent.get("organisations/abc")
    assert response.status_code in (404, 422)


def test_wrong_content_type_for_a_json_endpoint(world: World, agent: Any, ticket: Ticket) -> None:
    before = db_state()
    response = agent.post(f"tickets/{ticket.pk}/replies", data="body=hello", content_type="text/plain")
    assert 400 <= response.status_code < 500, response.content
    assert db_state() == before
