"""E-mail import throughput (issue 5's benchmark): messages per second from a real IMAP server
(Dovecot, started here with the test harness) and from the LMTP listener.

Builds ``--messages`` messages of mixed size and kind from the benchmark database's contacts:
plain requests (1-6 KB), requests with a PDF-sized attachment (60-600 KB), replies threaded to
earlier ones by In-Reply-To, HTML-only mail with an inline image, and Russian mail in koi8-r. The
IMAP run appends them all to Dovecot first (not timed), then times one poll that imports every
message and flags it; the LMTP run times an MTA's sequential deliveries and those of 4
connections at once. Every run uses fresh Message-IDs, so nothing is a duplicate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tierdesk_bench \\
        .venv/bin/python bench/bench_mail.py --messages 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.config.settings")
# Thousands of messages from a few hundred senders within a minute: no storm protection here.
os.environ.setdefault("TIERDESK_MAIL_SENDER_RATE", "1000000/60")
os.environ.setdefault("TIERDESK_DATA_DIR", tempfile.mkdtemp(prefix="tierdesk-mailbench-"))

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from tests.mail.dovecot import Dovecot  # noqa: E402
from tierdesk.accounts.models import User  # noqa: E402
from tierdesk.mail import lmtp  # noqa: E402
from tierdesk.mail.imap import import_handler, poll_mailbox  # noqa: E402
from tierdesk.mail.import_pool import ImportPool  # noqa: E402
from tierdesk.mail.models import InboundMessage, Mailbox  # noqa: E402


def contacts(limit: int = 500) -> list[str]:
    """Addresses of contacts whose organisation claims their domain (as real clients' are)."""
    return list(
        User.objects.filter(role="customer", is_active=True, organisation__is_active=True)
        .exclude(email="")
        .order_by("?")
        .values_list("email", flat=True)[:limit]
    )


def build(count: int, senders: list[str], run: str, rng: random.Random) -> list[bytes]:
    messages: list[bytes] = []
    ids: list[tuple[str, str]] = []
    for i in range(count):
        sender = rng.choice(senders)
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = "support@bench.test"
        msg["Message-ID"] = f"<bench.{run}.{i}@client.example>"
        kind = rng.random()
        line = "The application stops responding when I open the monthly report."
        paragraph = "\n".join([line] * rng.randint(15, 90))
        if kind < 0.10 and ids:
            parent_id, parent_sender = rng.choice(ids)
            msg.replace_header("From", parent_sender)
            msg["Subject"] = "Re: request"
            msg["In-Reply-To"] = parent_id
            msg["References"] = parent_id
            msg.set_content(f"Still broken after the restart.\n\nOn Monday you wrote:\n> {paragraph[:400]}\n")
        elif kind < 0.15:
            msg["Subject"] = "Screenshot of the error"
            msg.set_content(
                f"<html><body><p>{paragraph}</p><img src='cid:shot{i}@c'></body></html>", subtype="html"
            )
            msg.add_related(rng.randbytes(20_000), maintype="image", subtype="png", cid=f"<shot{i}@c>")
        elif kind < 0.20:
            msg["Subject"] = "Не работает принтер в бухгалтерии"
            msg.set_content("Принтер не печатает с утра, горит красная лампа.\n" * 30, charset="koi8-r")
        else:
            msg["Subject"] = f"Report {i} does not open"
            msg.set_content(paragraph)
            if kind > 0.80:
                msg.add_attachment(
                    rng.randbytes(rng.randint(60_000, 600_000)),
                    maintype="application",
                    subtype="pdf",
                    filename=f"report-{i}.pdf",
                )
        messages.append(msg.as_bytes())
        ids.append((msg["Message-ID"], msg["From"]))
    return messages


def summary(label: str, count: int, seconds: float, total_bytes: int) -> None:
    print(
        f"{label:<34} {count:>5} messages  {total_bytes / 1e6:7.1f} MB  {seconds:7.2f} s  "
        f"{count / seconds:7.1f} messages/s",
        flush=True,
    )


def bench_imap(messages: list[bytes], processes: int = 1) -> None:
    with Dovecot() as server:
        t0 = time.perf_counter()
        server.append_many(messages)
        print(f"(appended {len(messages)} messages to Dovecot in {time.perf_counter() - t0:.1f} s)")
        mailbox, _created = Mailbox.objects.update_or_create(
            name="bench-imap",
            defaults={"address": "support@bench.test", **server.mailbox_settings()},
        )
        before = InboundMessage.objects.count()
        pool = ImportPool(processes) if processes > 1 else None
        if pool is not None:  # the workers start (and set Django up) before the clock starts
            pool.start()
        t0 = time.perf_counter()
        handled = poll_mailbox(mailbox, pool.handler(mailbox) if pool else import_handler(mailbox))
        seconds = time.perf_counter() - t0
        if pool is not None:
            pool.close()
        assert handled == len(messages), f"{handled} of {len(messages)} handled"
        assert InboundMessage.objects.count() - before == len(messages)
        assert all(flags == (b"\\Seen",) for _uid, flags, _raw in server.messages())
        label = "IMAP poll (fetch, import, flag)" + (f", {processes} processes" if processes > 1 else "")
        summary(label, handled, seconds, sum(map(len, messages)))


def bench_lmtp(messages: list[bytes], connections: int) -> None:
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    port_box: list[int] = []

    async def main() -> None:
        executor = ThreadPoolExecutor(max_workers=lmtp.workers(), thread_name_prefix="lmtp-import")
        factory = lmtp.protocol_factory(lmtp.ImportHandler(executor, lmtp.deliver_in_thread))
        server = await asyncio.get_running_loop().create_server(factory, host="127.0.0.1", port=0)
        port_box.append(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()
        executor.shutdown()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    while not port_box:
        time.sleep(0.01)

    def send(chunk: list[bytes]) -> None:
        with smtplib.LMTP("127.0.0.1", port_box[0]) as client:
            for raw in chunk:
                # On the wire lines end in CRLF (smtplib leaves bytes as they are).
                wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                client.sendmail("mta@bench.test", ["support@bench.test"], wire)

    before = InboundMessage.objects.count()
    t0 = time.perf_counter()
    if connections == 1:
        send(messages)
    else:
        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(send, [messages[k::connections] for k in range(connections)]))
    seconds = time.perf_counter() - t0
    loop.call_soon_threadsafe(stop.set)
    thread.join(30)
    assert InboundMessage.objects.count() - before == len(messages)
    summary(f"LMTP, {connections} connection(s)", len(messages), seconds, sum(map(len, messages)))


def bench_lmtp_processes(messages: list[bytes], processes: int, connections: int) -> None:
    """The production listener, `tierdesk lmtp_server --processes N`, as its own process."""
    port = _free_port()
    command = [sys.executable, str(ROOT / "manage.py"), "lmtp_server", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--processes", str(processes)],
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        def send(chunk: list[bytes]) -> None:
            with smtplib.LMTP("127.0.0.1", port) as client:
                for raw in chunk:
                    wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                    client.sendmail("mta@bench.test", ["support@bench.test"], wire)

        before = InboundMessage.objects.count()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(send, [messages[k::connections] for k in range(connections)]))
        seconds = time.perf_counter() - t0
        assert InboundMessage.objects.count() - before == len(messages)
        label = f"LMTP, {processes} processes, {connections} conn."
        summary(label, len(messages), seconds, sum(map(len, messages)))
    finally:
        server.terminate()
        server.wait(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--only", choices=["imap", "lmtp"], default=None)
    parser.add_argument(
        "--imap-processes", type=int, default=2, help="also measure IMAP with this many import processes"
    )
    args = parser.parse_args()
    rng = random.Random(5)
    senders = contacts()
    if not senders:
        sys.exit("no contacts in this database: load it first (bench/run.sh)")
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}; {len(senders)} senders")
    run = f"{int(time.time())}"
    if args.only in (None, "imap"):
        bench_imap(build(args.messages, senders, run + "i", rng))
        if args.imap_processes > 1:
            bench_imap(build(args.messages, senders, run + "j", rng), args.imap_processes)
    if args.only in (None, "lmtp"):
        bench_lmtp(build(args.messages, senders, run + "l", rng), 1)
        bench_lmtp(build(args.messages, senders, run + "c", rng), 4)
        bench_lmtp_processes(build(args.messages, senders, run + "p", rng), 2, 4)


if __name__ == "__main__":
    main()
