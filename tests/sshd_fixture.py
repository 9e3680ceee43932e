"""A real OpenSSH server on 127.0.0.1 for the deploy tests.

``SshServer`` starts the system's sshd in the foreground on a free port with a temporary host
key, a temporary authorized_keys file and a temporary config (StrictModes and PAM off, pid file
in the temp dir), and writes a client ssh config whose host aliases use a temporary identity and
known_hosts file. Nothing outside the temp dir is touched, except creating sshd's privilege
separation directory when the system has none (a container that never ran the ssh service).

Client aliases (all log in as the current user):
  ``board``        the normal key;
  ``board-nocc``   a second key whose authorized_keys entry sets PATH to a directory holding
                   every tool of /usr/bin and /bin except the C compilers (a board without one);
  ``board-badkey`` a key that is not authorized (authentication refused);
  ``board-down``   a port nothing listens on (host unreachable).
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
COMPILER = re.compile(r"^(cc|c89|c99|gcc|g\+\+|c\+\+|clang|clang\+\+|tcc|cpp)(-[\d.]+)?$"
                      r"|-(gcc|g\+\+|cc|clang)(-[\d.]+)?$|^clang-[\d.]+$|^gcc-[\d.]+$")


def find_sshd() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return next((p for p in SSHD_CANDIDATES if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f",
                    str(path)], check=True, stdin=subprocess.DEVNULL)
    return path.with_suffix(".pub").read_text().strip()


def _no_compiler_bin(dest: Path) -> Path:
    """A PATH directory with every tool of the system except C compilers."""
    dest.mkdir()
    for d in ("/usr/local/bin", "/usr/bin", "/bin"):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = dest / name
            if COMPILER.search(name) or target.exists() or target.is_symlink():
                continue
            target.symlink_to(os.path.join(d, name))
    return dest


class SshServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.user = pwd.getpwuid(os.geteuid()).pw_name  # who sshd will let in
        self.port = free_port()
        self.down_port = free_port()
        self.proc: subprocess.Popen | None = None
        self.config = root / "ssh_config"
        self.log = root / "sshd.log"

    # -- setup --------------------------------------------------------------------------------
    def _write_files(self) -> Path:
        r = self.root
        host_pub = _keygen(r / "host_ed25519", "edgecomp-test-host")
        user_pub = _keygen(r / "id_board", "board")
        nocc_pub = _keygen(r / "id_nocc", "nocc")
        _keygen(r / "id_bad", "bad")
        nocc_path = _no_compiler_bin(r / "nocc-bin")
        (r / "authorized_keys").write_text(
            f"{user_pub}\nenvironment=\"PATH={nocc_path}\" {nocc_pub}\n")
        (r / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        sshd_config = r / "sshd_config"
        sshd_config.write_text(f"""\
Port {self.port}
ListenAddress 127.0.0.1
HostKey {r / 'host_ed25519'}
PidFile {r / 'sshd.pid'}
AuthorizedKeysFile {r / 'authorized_keys'}
AllowUsers {self.user}
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PermitUserEnvironment yes
MaxStartups 64
MaxSessions 64
LogLevel ERROR
""")
        hosts = []
        for alias, key, port in (("board", "id_board", self.port),
                                 ("board-nocc", "id_nocc", self.port),
                                 ("board-badkey", "id_bad", self.port),
                                 ("board-down", "id_board", self.down_port)):
            hosts.append(f"""\
Host {alias}
  HostName 127.0.0.1
  Port {port}
  User {self.user}
  IdentityFile {r / key}
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile {r / 'known_hosts'}
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  PasswordAuthentication no
  KbdInteractiveAuthentication no
  ConnectTimeout 5
  LogLevel ERROR
""")
        self.config.write_text("\n".join(hosts))
        return sshd_config

    def start(self) -> "SshServer":
        sshd = find_sshd()
        if sshd is None:
            raise FileNotFoundError("no sshd: install openssh-server (scripts/setup.sh does)")
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege separation dir
        config = self._write_files()
        with open(self.log, "wb") as log:
            # -D: stay in the foreground (we own the process), -e: log to stderr.
            self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: "
                                   f"{self.log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- client -------------------------------------------------------------------------------
    def ssh_args(self) -> list[str]:
        """Extra ssh options every client call needs (the temporary config)."""
        return ["-F", str(self.config), "-o", "BatchMode=yes"]
