#!/usr/bin/env python
"""Measure a running Tierdesk server over HTTP (loopback only), as an API client would.

    .venv/bin/python bench/http_bench.py --base-url http://127.0.0.1:8100 \\
        --facts bench/results/pg-tokens.json --port 8100 --json-out bench/results/pg-http.json

``--facts`` is the file bench/load_tickets.py writes (tokens for an admin, an L2 agent and an
L1 agent, the ticket id range, contacts to file tickets for, words for the text filter); or
pass a single ``--token`` (then every scenario runs as that user and ids come from the list).

Scenarios (each warmed up first; request counts are bounded):
  floor         GET /api/v1/me: token check + one query, the cost of any request
  create-seq    POST /api/v1/tickets, one client, as the L1 agent for random contacts
  create-conc   the same with --clients concurrent clients (threads, one connection each)
  queue         GET /api/v1/tickets?line=L2&status=new&status=assigned&ordering=priority&limit=50
                as the L2 agent and as the admin; also page 2 and (admin) page 20 by keyset cursor
  detail        GET /api/v1/tickets/{id}: random existing ids as admin; ids from the agent's queue
  text          GET /api/v1/tickets?q=<word>: a common, a medium, a rare and an absent word;
                also the whole list by last update (ordering=-updated) and a ticket number
  memory        VmHWM (peak RSS) and VmRSS of the server process (--pid, or found from --port)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from loopback_client import LoopbackClient


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summarise(name: str, latencies: list[float], wall: float | None = None, **extra: Any) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    out = {
        "name": name,
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
        "max_ms": round(max(ms), 1),
    }
    if wall is not None:
        out["wall_s"] = round(wall, 2)
        out["per_s"] = round(len(ms) / wall, 1)
    out.update(extra)
    print(
        f"{name:<40} n={out['n']:>5}  p50 {out['p50_ms']:>7.1f} ms  p95 {out['p95_ms']:>7.1f} ms  "
        f"p99 {out['p99_ms']:>7.1f} ms  max {out['max_ms']:>7.1f} ms"
        + (f"  {out['per_s']:>7.1f}/s" if wall is not None else "")
        + "".join(f"  {k}={v}" for k, v in extra.items()),
        flush=True,
    )
    return out


def pid_for_port(port: int) -> int | None:
    """The pid listening on 127.0.0.1:<port> (our own processes only: reads /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except OSError:
            continue
    return None


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (granian's supervisor forks the worker that serves)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def memory(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS (MiB) of the largest process of the server's tree: the worker that
    serves the requests, not granian's small supervisor."""
    best: dict[str, int] = {}
    for member in _process_tree(pid):
        values = {}
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) // 1024  # MiB
        if values.get("VmHWM", 0) > best.get("VmHWM", -1):
            best = values | {"pid": member}
    return best


class Bench:
    def __init__(self, base_url: str, facts: dict[str, Any], rng: random.Random) -> None:
        host = urlsplit(base_url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            sys.exit("http_bench.py measures a local server only (loopback).")
        self.base = base_url.rstrip("/") + "/api/v1"
        self.facts = facts
        self.rng = rng
        self.results: list[dict[str, Any]] = []
        self._clients: dict[str, Any] = {}
        self.client_kind = "stdlib"

    def http_client(self, base_url: str, headers: dict[str, str] | None = None) -> Any:
        """A keep-alive client: the thin stdlib one (bench/loopback_client.py), or httpx."""
        if self.client_kind == "httpx":
            return httpx.Client(base_url=base_url, headers=headers, timeout=60.0, follow_redirects=False)
        return LoopbackClient(base_url, headers=headers, timeout=60.0)

    def client(self, role: str) -> Any:
        if role not in self._clients:
            self._clients[role] = self.new_client(role)
        return self._clients[role]

    def new_client(self, role: str) -> Any:
        token = self.facts["tokens"][role]
        return self.http_client(self.base, headers={"Authorization": f"Bearer {token}"})

    @staticmethod
    def timed(call: Callable[[], Any], expect: int = 200) -> tuple[float, Any]:
        t0 = time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - t0
        if response.status_code != expect:
            raise RuntimeError(
                f"{response.request.method} {response.request.url} -> "
                f"{response.status_code}: {response.text[:500]}"
            )
        return elapsed, response

    # --- scenarios -------------------------------------------------------------------------

    def ticket_payload(self, rng: random.Random, i: int) -> dict[str, Any]:
        org_id, contact_id = rng.choice(self.facts["contacts"])
        return {
            "subject": f"Benchmark ticket {i}: {rng.choice(['printer', 'VPN', 'laptop', 'mailbox'])} "
            f"{rng.choice(['does not work', 'is slow', 'needs access'])}",
            "description": "Created by bench/http_bench.py to measure ticket creation through the API.",
            "organisation_id": org_id,
            "requester_id": contact_id,
            "channel": "phone",
            "impact": rng.choice([1, 2, 3]),
            "urgency": rng.choice([1, 2, 3]),
        }

    def create_sequential(self, n: int, warmup: int) -> None:
        client = self.client("l1")
        for i in range(warmup):
            self.timed(lambda i=i: client.post("/tickets", json=self.ticket_payload(self.rng, -i)), 201)
        latencies = []
        t0 = time.perf_counter()
        for i in range(n):
            elapsed, _ = self.timed(
                lambda i=i: client.post("/tickets", json=self.ticket_payload(self.rng, i)), 201
            )
            latencies.append(elapsed)
        wall = time.perf_counter() - t0
        self.results.append(summarise("create: sequential (1 client)", latencies, wall))

    def create_concurrent(self, n: int, clients: int) -> None:
        latencies: list[float] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        per_client = n // clients
        barrier = threading.Barrier(clients + 1)

        def work(k: int) -> None:
            rng = random.Random(1000 + k)
            local = []
            with self.new_client("l1") as client:
                client.get("/me")  # open the connection before the clock starts
                barrier.wait()
                try:
                    for i in range(per_client):
                        elapsed, _ = self.timed(
                            lambda i=i: client.post(
                                "/tickets", json=self.ticket_payload(rng, 100_000 * k + i)
                            ),
                            201,
                        )
                        local.append(elapsed)
                except BaseException as exc:
                    errors.append(exc)
            with lock:
                latencies.extend(local)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        barrier.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise RuntimeError(f"concurrent creation failed: {errors[0]!r}")
        self.results.append(summarise(f"create: {clients} concurrent clients", latencies, wall))

    def get_series(
        self, name: str, role: str, paths: list[tuple[str, dict[str, Any] | list[Any]]], warmup: int
    ) -> list[Any]:
        client = self.client(role)
        for path, params in paths[:warmup]:
            self.timed(lambda p=path, q=params: client.get(p, params=q))
        latencies, responses = [], []
        for path, params in paths:
            elapsed, response = self.timed(lambda p=path, q=params: client.get(p, params=q))
            latencies.append(elapsed)
            responses.append(response)
        sizes = [len(r.content) for r in responses]
        is_json = responses[0].headers.get("content-type", "").startswith("application/json")
        items = (
            [len(r.json().get("items", [])) for r in responses[:1]]
            if is_json and "items" in responses[0].json()
            else None
        )
        extra: dict[str, Any] = {"bytes": int(statistics.median(sizes))}
        if items is not None:
            extra["items"] = items[0]
        self.results.append(summarise(name, latencies, **extra))
        return responses

    def floor(self, n: int, warmup: int) -> None:
        """The cheapest authenticated request (token check + one query): the per-request floor."""
        self.get_series("floor: GET /me (auth + 1 query)", "admin", [("/me", {})] * n, warmup)

    def queue(self, n: int, warmup: int) -> list[int]:
        q = self.facts.get("queue", {"line": "L2", "status": ["new", "assigned"]})
        params = (
            [("line", q["line"])]
            + [("status", s) for s in q["status"]]
            + [("ordering", "priority"), ("limit", "50")]
        )
        visible: list[int] = []
        for role in ("l2", "admin"):
            if role not in self.facts["tokens"]:
                continue
            label = f"queue: {q['line']} {'+'.join(q['status'])} as {self.facts['users'].get(role, role)}"
            responses = self.get_series(label, role, [("/tickets", params)] * n, warmup)
            first = responses[0].json()
            if role == "l2":
                visible = [t["id"] for t in first["items"]]
            cursor = first.get("next_cursor")
            if cursor and role == "admin":  # a deep page: follow the cursor to page 20
                deep, page = cursor, 2
                while deep and page < 20:
                    deep = (
                        self.client(role)
                        .get("/tickets", params=[*params, ("cursor", deep)])
                        .json()["next_cursor"]
                    )
                    page += 1
                if deep:
                    self.get_series(
                        f"queue page 20 (cursor) as {self.facts['users'].get(role, role)}",
                        role,
                        [("/tickets", [*params, ("cursor", deep)])] * max(20, n // 3),
                        warmup,
                    )
            if cursor:
                page2 = self.get_series(
                    f"queue page 2 (cursor) as {self.facts['users'].get(role, role)}",
                    role,
                    [("/tickets", [*params, ("cursor", cursor)])] * max(20, n // 3),
                    warmup,
                )
                if role == "l2":
                    visible += [t["id"] for t in page2[0].json()["items"]]
        return visible

    def detail(self, n: int, warmup: int, agent_ids: list[int]) -> None:
        lo, hi = self.facts["ticket_ids"]
        ids = [self.rng.randint(lo, hi) for _ in range(n)]
        responses = self.get_series(
            "detail: random id as admin", "admin", [(f"/tickets/{i}", {}) for i in ids], warmup
        )
        entries = statistics.median(len(r.json()["entries"]) for r in responses)
        self.results[-1]["entries_median"] = entries
        if agent_ids and "l2" in self.facts["tokens"]:
            ids = [self.rng.choice(agent_ids) for _ in range(n)]
            self.get_series(
                "detail: queue ticket as L2 agent", "l2", [(f"/tickets/{i}", {}) for i in ids], warmup
            )

    def html(self, n: int, warmup: int, agent_ids: list[int]) -> None:
        """The agent workspace as a browser gets it: the queue page and the ticket page rendered
        as HTML, signed in with a session (issue 3's benchmark)."""
        root = self.base.removesuffix("/api/v1")
        q = self.facts.get("queue", {"line": "L2", "status": ["new", "assigned"]})
        for role in ("l2", "admin"):
            username = self.facts["users"].get(role)
            if not username or "password" not in self.facts:
                continue
            client = self.http_client(root)
            client.get("/login/")
            response = client.post(
                "/login/",
                data={
                    "username": username,
                    "password": self.facts["password"],
                    "csrfmiddlewaretoken": client.cookies["csrftoken"],
                },
                headers={"Referer": root + "/login/"},
            )
            if response.status_code != 302:
                raise RuntimeError(f"sign-in as {username} failed: {response.status_code}")
            params = [("status", s) for s in q["status"]]
            key = f"html_{role}"
            self._clients[key] = client
            self.get_series(
                f"html: queue page ({'+'.join(q['status'])}) as {username}",
                key,
                [("/desk/", params)] * n,
                warmup,
            )
            if role == "l2" and agent_ids:
                ids = [self.rng.choice(agent_ids) for _ in range(n)]
            else:
                lo, hi = self.facts["ticket_ids"]
                ids = [self.rng.randint(lo, hi) for _ in range(n)]
            self.get_series(
                f"html: ticket page as {username}", key, [(f"/desk/t/{i}/", {}) for i in ids], warmup
            )

    def text(self, n: int, warmup: int) -> None:
        for kind, word in self.facts.get("words", {"common": "printer"}).items():
            self.get_series(
                f"text q={word} ({kind}) as admin", "admin", [("/tickets", {"q": word})] * n, warmup
            )
        word = self.facts.get("words", {}).get("common", "printer")
        if "l2" in self.facts["tokens"]:
            self.get_series(f"text q={word} as L2 agent", "l2", [("/tickets", {"q": word})] * n, warmup)
        self.get_series(
            "list: all tickets, ordering=-updated as admin",
            "admin",
            [("/tickets", {"ordering": "-updated"})] * max(10, n // 5),
            min(warmup, 3),
        )
        lo, hi = self.facts["ticket_ids"]
        number = f"TD-{(lo + hi) // 2:06d}"
        self.get_series(
            f"text q={number} (ticket number) as admin", "admin", [("/tickets", {"q": number})] * n, warmup
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", default="http://127.0.0.1:8100")
    parser.add_argument("--facts", type=Path, help="JSON written by load_tickets.py --tokens-out")
    parser.add_argument("--token", help="a single bearer token to use for every scenario")
    parser.add_argument("--pid", type=int, help="server process id (for peak memory)")
    parser.add_argument("--port", type=int, help="find the server process listening on this port")
    parser.add_argument("--create", type=int, default=1000, help="tickets created sequentially")
    parser.add_argument("--create-concurrent", type=int, default=1000, help="tickets created concurrently")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=300, help="requests per read scenario")
    parser.add_argument("--text-requests", type=int, default=100, help="requests per text-filter word")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument(
        "--skip", default="", help="comma-separated scenarios to skip: floor,create,queue,detail,html,text"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--client",
        choices=["stdlib", "httpx"],
        default="stdlib",
        help="HTTP client: the thin stdlib one (default since 2026-11-27) or httpx (the earlier series)",
    )
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    if args.facts:
        facts = json.loads(args.facts.read_text())
    elif args.token:
        facts = {"tokens": {"admin": args.token}, "users": {"admin": "token user"}}
    else:
        sys.exit("give --facts or --token")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    bench = Bench(args.base_url, facts, random.Random(args.seed))
    bench.client_kind = args.client
    if "ticket_ids" not in facts:  # single token: derive the id range from the list
        items = (
            bench.client("admin").get("/tickets", params={"ordering": "-created", "limit": 1}).json()["items"]
        )
        facts["ticket_ids"] = [1, items[0]["id"]] if items else [1, 1]
    pid = args.pid or (pid_for_port(args.port) if args.port else None)
    mem_before = memory(pid) if pid else {}
    load_before = Path("/proc/loadavg").read_text().split()[:3]

    started = time.perf_counter()
    agent_ids: list[int] = []
    # Reads first (on the loaded data as it is), creation last.
    if "floor" not in skip:
        bench.floor(args.requests, args.warmup)
    if "queue" not in skip:
        agent_ids = bench.queue(args.requests, args.warmup)
    if "detail" not in skip:
        bench.detail(args.requests, args.warmup, agent_ids)
    if "html" not in skip:
        bench.html(args.requests, args.warmup, agent_ids)
    if "text" not in skip:
        bench.text(args.text_requests, min(args.warmup, 5))
    if "create" not in skip and "l1" in facts["tokens"] and facts.get("contacts"):
        bench.create_sequential(args.create, args.warmup)
        bench.create_concurrent(args.create_concurrent, args.clients)
    mem_after = memory(pid) if pid else {}
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}", flush=True)
    if pid:
        print(
            f"server pid {pid} (worker {mem_after.get('pid')}): RSS before {mem_before.get('VmRSS')} MiB, "
            f"after {mem_after.get('VmRSS')} MiB, "
            f"peak (VmHWM) {mem_after.get('VmHWM')} MiB",
            flush=True,
        )
    report = {
        "label": args.label,
        "base_url": args.base_url,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "client_python": platform.python_version(),
        "client": args.client,
        "duration_s": round(time.perf_counter() - started, 1),
        "server_pid": pid,
        "memory_mib": {"before": mem_before, "after": mem_after},
        "loadavg": {"before": load_before, "after": load_after},
        "results": bench.results,
    }
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
