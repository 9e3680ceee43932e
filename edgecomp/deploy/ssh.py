"""Run commands on a board with the user's own OpenSSH client.

Using the ssh binary (not a Python SSH library) means ~/.ssh/config, keys, agents, ProxyJump
and ControlMaster all work as they do for the user. ssh's exit status 255 means ssh itself
failed; its stderr tells why, and ``ssh_failure`` turns that into an error class.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field

from .errors import AuthRefusedError, HostKeyError, HostUnreachableError, SshError
from .target import Board

SSH_FAILED = 255

# Our defaults come after the user's options: for -o settings ssh keeps the first value it
# sees, so anything the user passes wins. BatchMode: never hang on a password prompt (boards
# are reached with keys or an agent; pass -o BatchMode=no to allow prompts on one board).
DEFAULT_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                   "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4")

_UNREACHABLE = ("Could not resolve hostname", "Name or service not known",
                "Connection refused", "Connection timed out", "Operation timed out",
                "No route to host", "Network is unreachable", "Connection reset",
                "Connection closed by", "kex_exchange_identification",
                "Temporary failure in name resolution", "banner exchange")
_AUTH = ("Permission denied", "Too many authentication failures",
         "no more authentication methods")
_HOST_KEY = ("Host key verification failed", "REMOTE HOST IDENTIFICATION HAS CHANGED",
             "No ED25519 host key is known", "host key is known")


def _summary(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def ssh_failure(board: Board, stderr: str) -> SshError:
    """The error for an ssh exit status 255, from ssh's stderr."""
    msg = _summary(stderr)
    if any(s in stderr for s in _HOST_KEY):
        return HostKeyError(f"{board.destination}: host key verification failed ({msg}); "
                            f"check known_hosts for this board")
    if any(s in stderr for s in _AUTH):
        return AuthRefusedError(f"{board.destination}: authentication refused ({msg}); check "
                                f"the user name, the key or agent, and ~/.ssh/config")
    if any(s in stderr for s in _UNREACHABLE):
        return HostUnreachableError(f"{board.destination}: host unreachable ({msg})")
    return SshError(f"{board.destination}: ssh failed ({msg})")


@dataclass
class Ssh:
    """How to call ssh: the program (may carry arguments, like rsync -e) and extra options."""

    program: str = field(default_factory=lambda: os.environ.get("EDGECOMP_SSH", "ssh"))
    options: list[str] = field(default_factory=list)

    def argv(self, board: Board, remote_command: str) -> list[str]:
        prog = shlex.split(self.program)
        if not prog:
            raise SshError("the ssh program is empty (--ssh / EDGECOMP_SSH)")
        return [*prog, *self.options, *DEFAULT_OPTIONS, "--", board.destination,
                remote_command]

    def run(self, board: Board, remote_argv: list[str], stdin: bytes = b"",
            timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run remote_argv on the board (quoted for its login shell); stdout/stderr as text.

        Raises the SshError subclass for ssh's own failures; any other exit status is the
        remote command's and is returned for the caller to interpret."""
        cmd = " ".join(shlex.quote(a) for a in remote_argv)
        try:
            proc = subprocess.run(self.argv(board, cmd), input=stdin, capture_output=True,
                                  timeout=timeout)
        except FileNotFoundError as e:
            raise SshError(f"cannot run the ssh client {e.filename!r}: install OpenSSH or "
                           f"pass --ssh") from None
        except subprocess.TimeoutExpired:
            raise SshError(f"{board.destination}: no answer within {timeout:.0f}s") from None
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode == SSH_FAILED:
            raise ssh_failure(board, err)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
