"""Serial link and device errors: all EdgecompError, so the CLI prints each as one line."""
from __future__ import annotations

from edgecomp.errors import EdgecompError


class LinkError(EdgecompError, IOError):
    """Base of every serial-link problem."""


class PortNotFoundError(LinkError):
    """The serial port does not exist."""


class PortBusyError(LinkError):
    """Another process holds the serial port."""


class LinkLostError(LinkError):
    """The port vanished or failed mid-session (cable pulled, device re-enumerated)."""


class NoAnswerError(LinkError):
    """The device did not answer a request in time, after every retry."""


class SessionLostError(LinkError):
    """The device reset or forgot our session; the caller re-greets it and resumes."""


class VersionMismatchError(LinkError):
    """The device speaks another major version of the serial protocol."""


class DeviceError(EdgecompError, RuntimeError):
    """The device answered a request with an ERROR frame."""

    def __init__(self, code: int, name: str, message: str, detail: int = 0):
        super().__init__(f"device error {name}: {message}" if message else f"device error {name}")
        self.code, self.name, self.message, self.detail = code, name, message, detail


class DeviceMemoryError(EdgecompError, MemoryError):
    """The image does not fit in the device's memory."""


class DeviceCapabilityError(EdgecompError, ValueError):
    """The device cannot hold or run this model (encoding, format version, buffer sizes)."""


class TransferError(EdgecompError, RuntimeError):
    """The image could not be delivered intact (hash mismatch after every repair attempt)."""
