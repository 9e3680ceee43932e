"""firmware_io: stream packed models to the FPGA accelerator over a serial link, reliably.

Host side: ``FpgaClient`` (flash with resume, run, stats, reset). Device side: ``DeviceCore``
(the protocol state machine) and ``Emulator`` (the core behind a pty, paced like a UART, with
fault injection). The protocol is specified in docs/protocol.md.
"""
from .client import FpgaClient
from .reports import DeviceInfo, FlashReport, RunResult
from .device import DeviceConfig, DeviceCore
from .emulator import Emulator, PtyEndpoint, SerialEndpoint
from .errors import (DeviceCapabilityError, DeviceError, DeviceMemoryError, LinkError,
                     LinkLostError, NoAnswerError, PortBusyError, PortNotFoundError,
                     SessionLostError, TransferError, VersionMismatchError)
from .faults import FaultConfig, FaultInjector
from .messages import PROTOCOL_MAJOR, PROTOCOL_MINOR

__all__ = [
    "DeviceCapabilityError", "DeviceConfig", "DeviceCore", "DeviceError", "DeviceInfo",
    "DeviceMemoryError", "Emulator", "FaultConfig", "FaultInjector", "FlashReport", "FpgaClient",
    "LinkError", "LinkLostError", "NoAnswerError", "PROTOCOL_MAJOR", "PROTOCOL_MINOR",
    "PortBusyError", "PortNotFoundError", "PtyEndpoint", "RunResult", "SerialEndpoint",
    "SessionLostError", "TransferError", "VersionMismatchError",
]
