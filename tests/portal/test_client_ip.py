"""The client's address behind reverse proxies (tierdesk.common.clientip), the proxy setting's
check, and the portal settings read from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from tierdesk.common.clientip import client_ip, parse_address
from tierdesk.portal.checks import check_trusted_proxies

ROOT = Path(__file__).resolve().parents[2]


def ip(remote: str, forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_trusted_proxies_the_header_is_never_read(settings: Any) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = []
    assert ip("192.0.2.1", "203.0.113.9") == "192.0.2.1"
    assert ip("") == "unknown"


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        # The proxy appended the client's address; whatever the client sent stays to the left.
        ("10.0.0.1", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.1", "6.6.6.6, 203.0.113.9", "203.0.113.9"),
        # Two proxies in a row, both trusted: the first untrusted address from the right.
        ("10.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        # Not from a trusted proxy: the header is the client's own claim and is ignored.
        ("192.0.2.1", "203.0.113.9", "192.0.2.1"),
        # From the proxy but without a header (a health check): the proxy itself.
        ("10.0.0.1", None, "10.0.0.1"),
        ("10.0.0.1", " , ", "10.0.0.1"),
        # Everybody trusted: the request began inside; the leftmost address is the closest.
        ("10.0.0.1", "10.0.0.7, 10.0.0.2", "10.0.0.7"),
        # Ports some proxies add, IPv6, and IPv4 clients of a dual-stack socket.
        ("10.0.0.1", "203.0.113.9:51234", "203.0.113.9"),
        ("10.0.0.1", "[2001:db8::5]:443", "2001:db8::5"),
        ("::ffff:10.0.0.1", "2001:db8::5", "2001:db8::5"),
        ("fd00::1", "203.0.113.9", "203.0.113.9"),
        # Nonsense where an address should be: stop at the last address that could be read.
        ("10.0.0.1", "203.0.113.9, garbage", "10.0.0.1"),
        ("10.0.0.1", "garbage, 203.0.113.9", "203.0.113.9"),
    ],
)
def test_rightmost_untrusted_address(settings: Any, remote: str, forwarded: str | None, client: str) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.0/24", "fd00::/8"]
    assert ip(remote, forwarded) == client


def test_a_single_proxy_address_works_as_a_network(settings: Any) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.1"]
    assert ip("10.0.0.1", "203.0.113.9") == "203.0.113.9"
    assert ip("10.0.0.2", "203.0.113.9") == "10.0.0.2"


def test_parse_address() -> None:
    assert str(parse_address(" 192.0.2.1 ")) == "192.0.2.1"
    assert str(parse_address("[::1]:80")) == "::1"
    assert parse_address("unknown") is None and parse_address("") is None


def test_a_malformed_proxy_setting_is_a_clear_error(settings: Any) -> None:
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.1", "proxy.example.com"]
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example\.com"):
        ip("10.0.0.1", "203.0.113.9")
    [error] = check_trusted_proxies()
    assert error.id == "portal.E001" and "proxy.example.com" in error.msg
    settings.TIERDESK_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert check_trusted_proxies() == []


def settings_with(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.TIERDESK_PORTAL_FORM_RATE, s.TIERDESK_TRUSTED_PROXIES]))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "DJANGO_SETTINGS_MODULE": "tierdesk.config.settings",
        **environment,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_portal_settings_come_from_the_environment() -> None:
    done = settings_with(
        {"TIERDESK_PORTAL_FORM_RATE": "3/60", "TIERDESK_TRUSTED_PROXIES": "10.0.0.1,fd00::/8"}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[3, 60], ["10.0.0.1", "fd00::/8"]]
    defaults = settings_with({"TIERDESK_PORTAL_FORM_RATE": "", "TIERDESK_TRUSTED_PROXIES": ""})
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout) == [[5, 600], []]
    wrong = settings_with({"TIERDESK_PORTAL_FORM_RATE": "five per minute"})
    assert wrong.returncode != 0 and "TIERDESK_PORTAL_FORM_RATE must read COUNT/SECONDS" in wrong.stderr
