"""Why a deploy or rollback failed, one class per cause the user can act on.

Every class is an EdgecompError (the CLI prints it as one line) and names the board.
"""
from __future__ import annotations

from ..errors import EdgecompError


class DeployError(EdgecompError):
    """A deploy or rollback on one board failed; the board's active model is unchanged."""

    detail: str = ""  # longer board output behind the one-line message (build log, self-test)


class TargetError(DeployError, ValueError):
    """A --board value or a --hosts file line cannot be parsed."""


class SshError(DeployError, ConnectionError):
    """ssh itself failed (exit status 255) for a reason not covered below."""


class HostUnreachableError(SshError):
    """No SSH connection: unknown host name, refused, timed out, no route."""


class AuthRefusedError(SshError):
    """The board refused every key / method offered."""


class HostKeyError(SshError):
    """The board's host key is unknown or changed (known_hosts)."""


class MissingToolError(DeployError):
    """The board lacks a tool the deploy needs (make, tar, a POSIX shell)."""


class NoCompilerError(MissingToolError):
    """The board has no C compiler to build the runtime with."""


class DiskFullError(DeployError, OSError):
    """The board's file system has no room for the runtime or the model."""


class BuildError(DeployError):
    """The runtime failed to build on the board."""


class SelfTestError(DeployError):
    """The board's output for the golden input differs from the host's (or the run failed)."""


class RemoteError(DeployError):
    """A step on the board failed (I/O error, corrupt transfer, missing deployment...)."""


class NothingToRollBackError(RemoteError):
    """The board has no previous deployment."""
