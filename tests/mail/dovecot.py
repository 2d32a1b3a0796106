"""A real Dovecot IMAP server for tests and benchmarks, run as a plain process (no systemd).

``Dovecot().start()`` writes a configuration into a fresh temporary directory (sockets, state,
logs, the passwd file and the Maildir all live there), starts ``dovecot -F -c CONFIG`` on a free
port of 127.0.0.1 and returns once a LOGIN succeeds. Each instance is independent, so every
pytest-xdist worker (one session each) or benchmark run gets its own server. The helpers talk
IMAP through IMAPClient, as a mail client filling the mailbox would.

No pytest here: ``tests/mail/conftest.py`` wraps it in fixtures, ``bench/`` may import it as is::

    with Dovecot() as server:
        server.append(raw)
        ...
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from imapclient import RECENT, IMAPClient  # type: ignore[import-untyped]

DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
# Dovecot's master runs as root (we are root in CI) and drops to the ``mail`` user for the login
# and mail processes; the Maildir belongs to that user. Run by someone else (a developer's
# account), the server runs everything as that account instead.
MAIL_USER = "mail"


class DovecotMissing(RuntimeError):
    """``/usr/sbin/dovecot`` is not installed (Debian: ``apt-get install dovecot-imapd``)."""


class DovecotFailed(RuntimeError):
    """The server did not start; the message carries the end of its log."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One Dovecot instance with one mail user (``user`` / ``password``)."""

    host = "127.0.0.1"
    user = "desk@tierdesk.test"
    password = "imap-test-password"  # a throwaway server on 127.0.0.1

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="tierdesk-dovecot-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    # --- Life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> Dovecot:
        if not os.access(DOVECOT, os.X_OK):
            raise DovecotMissing(
                f"{DOVECOT} is missing: install Debian's dovecot-imapd (`apt-get install "
                "dovecot-imapd`; .ci/run does it) to run the IMAP tests against a real server."
            )
        account = pwd.getpwnam(MAIL_USER) if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        # The login and mail processes (not root) must reach their sockets and the Maildir.
        self.root.chmod(0o755)
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        os.chown(home, account.pw_uid, account.pw_gid)
        (self.root / "passwd").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{account.pw_uid}:{account.pw_gid}::{home}::\n"
        )
        # A port picked now may be taken by someone else before Dovecot binds it: try again.
        for _attempt in range(3):
            self.port = _free_port()
            self._write_config(account)
            if self._launch(timeout):
                return self
        raise DovecotFailed(f"Dovecot did not start on 127.0.0.1:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=15)
            self.process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _write_config(self, account: pwd.struct_passwd) -> None:
        root = self.root
        (root / "dovecot.conf").write_text(
            f"""# Written by tests/mail/dovecot.py: a throwaway server, everything under {root}.
protocols = imap
listen = {self.host}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
# Plain LOGIN without TLS, on 127.0.0.1 only.
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login answers within half a second instead of 2 s, and does not slow down the next
# ones from 127.0.0.1 (defaults against password guessing; tests log in wrongly on purpose).
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
default_internal_user = {account.pw_name}
default_internal_group = {account.pw_name}
default_login_user = {account.pw_name}
first_valid_uid = {account.pw_uid}
last_valid_uid = {account.pw_uid}
first_valid_gid = {account.pw_gid}
mail_location = maildir:{root}/home/Maildir
mail_fsync = never
# IDLE learns of new mail through inotify; where that is unavailable, look every second.
mailbox_idle_check_interval = 1 secs
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
protocol imap {{
  # Tests open several sessions at once (a watcher, concurrent polls, the helpers).
  mail_max_userip_connections = 100
}}
"""
        )

    def _launch(self, timeout: float) -> bool:
        """Start the master; True once a LOGIN works, False if it died (e.g. the port was
        taken). Raises when it neither dies nor answers in time."""
        stderr = (self.root / "stderr.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (fixed binary, our own config)
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
        stderr.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with self.client():
                    return True
            except OSError:
                time.sleep(0.05)
        self.stop_process()
        raise DovecotFailed(f"Dovecot did not answer on {self.host}:{self.port}:\n{self.log_tail()}")

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)

    def kick(self) -> None:
        """Disconnect every session of the test user (``doveadm kick``), as a server restart or
        an administrator would."""
        subprocess.run(  # noqa: S603 (fixed binary, our own config)
            [DOVEADM, "-c", str(self.root / "dovecot.conf"), "kick", self.user],
            check=True,
            capture_output=True,
            timeout=30,
        )

    # --- Mail helpers ---------------------------------------------------------------------------

    @contextmanager
    def client(self, timeout: float = 10.0) -> Iterator[IMAPClient]:
        """A logged-in IMAP session of the test user, logged out afterwards."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=timeout)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            try:
                client.logout()
            except (OSError, IMAPClient.Error):
                client.shutdown()

    def append(self, raw: bytes, folder: str = "INBOX", flags: Iterable[bytes | str] = ()) -> int:
        """Deliver ``raw`` into ``folder`` (IMAP APPEND); returns its UID."""
        with self.client() as client:
            response = client.append(folder, raw, flags=tuple(flags))
        # b"[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(response.split(b"]", 1)[0].split()[-1])

    def append_many(self, raws: Iterable[bytes], folder: str = "INBOX") -> int:
        """Deliver many messages over one session (benchmarks); returns how many."""
        count = 0
        with self.client() as client:
            for raw in raws:
                client.append(folder, raw)
                count += 1
        return count

    def messages(self, folder: str = "INBOX") -> list[tuple[int, tuple[bytes, ...], bytes]]:
        """``(uid, flags, raw)`` of every message in ``folder``, in UID order (read-only: looking
        does not change the flags). ``\\Recent`` is left out: it tells a session which messages
        it is the first to see, it is not a state of the message."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"]) if uids else {}
        return [
            (uid, tuple(f for f in data[b"FLAGS"] if f != RECENT), bytes(data[b"BODY[]"]))
            for uid, data in sorted(fetched.items())
        ]

    def folders(self) -> list[str]:
        with self.client() as client:
            return sorted(name for _flags, _sep, name in client.list_folders())

    def mailbox_settings(self) -> dict[str, object]:
        """The fields of a ``Mailbox`` that polls this server (plain IMAP on 127.0.0.1)."""
        return {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_security": "none",
            "imap_username": self.user,
            "imap_password": self.password,
        }

    def create_folder(self, name: str) -> None:
        with self.client() as client:
            client.create_folder(name)

    def clear(self) -> None:
        """Remove every message and every folder but INBOX: each test starts from an empty
        mailbox (and a processed folder that does not exist yet)."""
        with self.client() as client:
            names = [name for _flags, _sep, name in client.list_folders()]
            # Children before their parents.
            for name in sorted(names, key=len, reverse=True):
                if name.upper() != "INBOX" and client.folder_exists(name):
                    # (A parent created only to hold a child vanishes with it.)
                    client.delete_folder(name)
            client.select_folder("INBOX")
            uids = client.search("ALL")
            if uids:
                client.add_flags(uids, [b"\\Deleted"], silent=True)
                client.expunge()
            client.unselect_folder()
