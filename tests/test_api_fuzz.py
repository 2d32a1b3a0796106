"""Schemathesis generates requests from our OpenAPI schema — valid, invalid and hostile — and
every answer must be a deliberate one: never a server error, always a JSON ``detail`` for errors.
Run as an administrator, an L3 expert and a customer, with tickets in two organisations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from tests.factories import World


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Schemathesis calls the WSGI application directly. Like Django's test client, keep it from
    closing the connection at the end of each request: the test runs inside one transaction,
    which a pooled connection (CONN_MAX_AGE = 0) would otherwise give back mid-test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("keep_test_connection")
def test_api_answers_every_generated_request_deliberately(world: World) -> None:
    world.ticket()
    world.ticket(requester=world.customer_b)
    roles = [
        {"Authorization": f"Bearer {world.token(user)}"} for user in (world.admin, world.l3, world.customer_a)
    ]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            for headers in roles:
                response = case.call(headers=headers)
                where = f"{case.method} {case.formatted_path}"
                if response.status_code >= 500:
                    failures.append(f"{where} -> {response.status_code}: {response.text[:300]}")
                elif response.status_code >= 400 and "detail" not in response.json():
                    failures.append(
                        f"{where} -> {response.status_code} without detail: {response.text[:300]}"
                    )

        check()
    assert operations >= 20, "the schema lost operations"
    assert not failures, "\n".join(sorted(set(failures))[:20])
