"""A real, throw-away Dovecot IMAP server on 127.0.0.1 for tests and benchmarks.

``dovecot_server()`` writes a self-contained configuration into a temporary
directory (passwd-file users, Maildir storage, a plain port with STARTTLS and an
implicit-TLS port with a test certificate made by openssl), starts Dovecot in
the foreground on free ports and stops it afterwards. As root, mail is owned by
a dedicated system user (created with ``useradd`` when missing).
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

MAIL_USER = "triage-mail"
DOVECOT_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")


class DovecotUnavailable(RuntimeError):
    """Dovecot or openssl is not installed."""


def dovecot_binary() -> str:
    """The path of the dovecot binary; raise ``DovecotUnavailable`` when it is not installed."""
    found = shutil.which("dovecot") or next((p for p in DOVECOT_CANDIDATES if os.access(p, os.X_OK)), None)
    if found is None:
        raise DovecotUnavailable("dovecot is not installed (apt-get install dovecot-imapd, or ./dev test as root)")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _mail_owner() -> tuple[str, int, int]:
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return pw.pw_name, pw.pw_uid, pw.pw_gid
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(MAIL_USER)
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def make_certificate(directory: Path, name: str = "server") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1; returns (cert, key)."""
    if shutil.which("openssl") is None:
        raise DovecotUnavailable("openssl is not installed (apt-get install openssl)")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@dataclass
class Dovecot:
    """A running test Dovecot: where it listens, its test CA, and helpers to fill mailboxes."""

    root: Path
    host: str
    port: int
    tls_port: int
    ca_file: Path
    config: Path
    passwd: Path
    users: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _pool: list[str] = field(default_factory=list)

    def fresh_user(self) -> str:
        """A user made at start whose mailbox nobody has used yet (password ``secret``)."""
        if not self._pool:
            return self.add_user(f"late{len(self.users)}")
        return self._pool.pop(0)

    def add_user(self, name: str, password: str = "secret") -> str:
        """Create (or re-password) a user; returns once Dovecot accepts it (it re-reads the file each second)."""
        self.users[name] = password
        self._write_passwd()
        if self.process is not None:
            deadline = time.monotonic() + 5
            while True:
                try:
                    self.client(name).logout()
                    break
                except Exception:  # not visible yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        return name

    def _write_passwd(self) -> None:
        temporary = self.passwd.with_suffix(".tmp")
        temporary.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.users.items()), encoding="utf-8")
        temporary.replace(self.passwd)

    def client(self, user: str) -> IMAPClient:
        """A logged-in IMAPClient on the plain port."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, messages: list[bytes], folder: str = "INBOX",
               msg_time: datetime | None = None) -> list[int]:
        """APPEND messages to a folder (created when missing); returns their UIDs."""
        uids = []
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                response = client.append(folder, raw, msg_time=msg_time)
                uids.append(_appenduid(response))
        return uids

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir directory of a user's folder (Maildir++ layout)."""
        base = self.root / "home" / user / "Maildir"
        return base if folder == "INBOX" else base / f".{folder}"

    def start(self) -> None:
        """Start Dovecot in the foreground; return once it accepts connections."""
        self.process = subprocess.Popen([dovecot_binary(), "-F", "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited at start: {error.strip()} {self.log()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start listening on {self.port}: {self.log()[-2000:]}")

    def stop(self) -> None:
        """Stop Dovecot and wait until its master has exited."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def log(self) -> str:
        """Dovecot's own log so far."""
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _appenduid(response: bytes) -> int:
    # b'[APPENDUID 1700000000 7] Append completed.'
    text = response.decode(errors="replace")
    if "APPENDUID" in text:
        return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])
    return 0


_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
mail_max_userip_connections = 500
default_vsz_limit = 512M
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{dh}
{internal}
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
  process_min_avail = 2
  {chroot}
}}
service imap {{
  process_limit = 1024
}}
service anvil {{
  {chroot}
  # No auth penalty: failed logins in one test must not slow down the next.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""


@contextmanager
def dovecot_server(pool: int = 200) -> Iterator[Dovecot]:
    """Start a throw-away Dovecot on free ports with ``pool`` users ready; stop it and remove its files after."""
    dovecot_binary()
    owner, uid, gid = _mail_owner()
    root = Path(tempfile.mkdtemp(prefix="triage-dovecot-"))
    os.chmod(root, 0o755)
    try:
        cert, key = make_certificate(root)
        (root / "home").mkdir()
        os.chown(root / "home", uid, gid)
        internal = ""
        chroot = ""
        if os.geteuid() != 0:
            group = grp.getgrgid(gid).gr_name
            internal = (f"default_internal_user = {owner}\ndefault_login_user = {owner}\n"
                        f"default_internal_group = {group}")
            chroot = "chroot ="
        dh = "ssl_dh = </usr/share/dovecot/dh.pem" if Path("/usr/share/dovecot/dh.pem").is_file() else ""
        port, tls_port = free_port(), free_port()
        config = root / "dovecot.conf"
        config.write_text(_CONFIG.format(root=root, uid=uid, gid=gid, cert=cert, key=key, dh=dh, internal=internal,
                                         port=port, tls_port=tls_port, chroot=chroot), encoding="utf-8")
        passwd = root / "passwd"
        server = Dovecot(root=root, host="127.0.0.1", port=port, tls_port=tls_port, ca_file=cert,
                         config=config, passwd=passwd)
        server._pool = [f"box{n}" for n in range(1, pool + 1)]
        server.users.update({name: "secret" for name in server._pool})
        server._write_passwd()
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
