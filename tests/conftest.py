"""Shared fixtures: the two-organisation world, isolated file storage, an API client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import World, build_world, reseed
from tierdesk.common.forms import forget_model_options
from tierdesk.sla import selectors as sla_selectors
from tierdesk.tickets import selectors as ticket_selectors


@pytest.fixture(autouse=True)
def _test_settings(settings: Any, tmp_path: Path) -> None:
    """Every test stores uploads in its own directory; passwords hash fast (PBKDF2's cost is
    deliberate in production and pointless in tests that create a dozen users each)."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test starts in the default language: a request in Russian activates it for the
    # thread, and the next test in the same worker would otherwise inherit it.
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_process_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test's database starts from the migrations' rows (or its own); a process-wide
    snapshot (desk configuration, agent scopes, service levels, calendars) from the previous
    test's rolled-back rows must not leak into it. Within a test the snapshots live an hour, so
    that a slow test's query counts do not depend on a 5-second expiry; the tests of the
    expiry move the clock past the TTL they read at run time."""
    monkeypatch.setattr(ticket_selectors, "DESK_CONFIG_TTL_SECONDS", 3600.0)
    monkeypatch.setattr(sla_selectors, "SCHEDULE_TTL_SECONDS", 3600.0)
    forgets = (
        forget_model_options,
        ticket_selectors.forget_desk_config,
        ticket_selectors.forget_agent_scopes,
        sla_selectors.forget_service_levels,
        sla_selectors.forget_schedules,
    )
    for forget in forgets:
        forget()
    yield
    for forget in forgets:
        forget()


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def committed_world(transactional_db: None) -> World:
    """The world in a test whose transactions really commit (other threads and processes see
    it). The flush after each such test erases what the migrations seeded: seeded again here."""
    reseed()
    return build_world()


class ApiClient:
    """A Django test client speaking JSON to /api/v1 with a bearer token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        func = getattr(self.client, method)
        url = path if path.startswith("/") else f"/api/v1/{path}"
        headers = {**self.headers, **extra.pop("headers", {})}
        if method in ("post", "patch", "put") and "content_type" not in extra and not extra.get("multipart"):
            return func(
                url,
                data=data if data is not None else {},
                content_type="application/json",
                headers=headers,
                **extra,
            )
        extra.pop("multipart", None)
        return func(url, data=data, headers=headers, **extra)

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("get", path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("post", path, data, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self._call("patch", path, data, **extra)


@pytest.fixture
def api(world: World) -> Iterator[Any]:
    """``api(user)`` -> a JSON client authenticated as ``user`` with a fresh API token."""

    def make(user: Any | None) -> ApiClient:
        return ApiClient(world.token(user) if user is not None else None)

    yield make
