"""A thin HTTP/1.1 keep-alive client over the standard library, for measuring a server on
loopback.

httpx (the benchmark's client until 2026-11-27) spends ~0.3 ms on a GET and ~0.8 ms on a JSON
POST in its own Python on this kind of machine: URL and header models, event hooks, content
negotiation. That is time of the client, on the same two cores as the server and PostgreSQL,
counted in every latency the benchmark reports. This client does only what the benchmark
needs (one persistent connection, query parameters, JSON and form bodies, cookies, no
redirects) in ~0.1 ms, so the figures are the server's. ``http_bench.py --client httpx``
measures with httpx for comparison with the earlier series.
"""

from __future__ import annotations

import http.client
import json as jsonlib
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit


class Request:
    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url


class Response:
    """What the benchmark reads of a response (the subset of httpx.Response it uses)."""

    def __init__(self, request: Request, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.request = request
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class LoopbackClient:
    """``get``/``post`` on one keep-alive connection to ``base_url`` (reconnects if the server
    closed it). Not thread-safe: one client per thread, as with the benchmark's httpx clients."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"an http:// base URL is needed, not {base_url!r}")
        self._host, self._port = parts.hostname, parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self.cookies: dict[str, str] = {}

    def get(self, path: str, params: Any = None) -> Response:
        return self._request("GET", path, params=params)

    def post(
        self,
        path: str,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if json is not None:
            body = jsonlib.dumps(json).encode()
            content_type = "application/json"
        else:
            body = urlencode(data or {}).encode()
            content_type = "application/x-www-form-urlencoded"
        return self._request("POST", path, body=body, content_type=content_type, headers=headers)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        target = self._prefix + path
        if params:
            target += "?" + urlencode(params, doseq=True)
        sent = {**self._headers, **(headers or {})}
        if content_type:
            sent["Content-Type"] = content_type
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        # A kept-alive connection the server has closed fails on first use: a GET is sent again
        # on a new connection; a POST is not (it might have been received).
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            try:
                self._connection.request(method, target, body=body, headers=sent)
                raw = self._connection.getresponse()
                content = raw.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                self.close()
                if attempt == attempts:
                    raise
        for value in raw.headers.get_all("Set-Cookie") or []:
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(value)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        if raw.will_close:
            self.close()
        headers_out = {k.lower(): v for k, v in raw.headers.items()}
        url = f"http://{self._host}:{self._port}{target}"
        return Response(Request(method, url), raw.status, headers_out, content)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> LoopbackClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
