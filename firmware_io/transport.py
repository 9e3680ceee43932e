"""Open serial ports through pyserial (real ports, ptys, loop://, socket://), with clear errors."""
from __future__ import annotations

import errno
import os

import serial

from .errors import LinkError, PortBusyError, PortNotFoundError

# Reads return after this long without data, so the host can run its retransmission timers.
READ_POLL_S = 0.005


def _available_ports() -> str:
    try:
        from serial.tools import list_ports
        names = sorted(p.device for p in list_ports.comports())
    except Exception:  # listing is a courtesy; never let it mask the real error
        names = []
    return ", ".join(names[:8]) if names else "none found"


def is_device_path(url: str) -> bool:
    return "://" not in url


def open_port(url: str, baud: int, write_timeout: float = 2.0) -> serial.SerialBase:
    """Open ``url`` at ``baud`` 8N1 with an exclusive lock (device paths), or raise LinkError."""
    if baud <= 0:
        raise LinkError(f"baud rate must be positive, got {baud}")
    local = is_device_path(url)
    if local and not os.path.exists(url):
        raise PortNotFoundError(f"serial port {url} does not exist (available ports: "
                                f"{_available_ports()})")
    kwargs = dict(baudrate=baud, timeout=READ_POLL_S, write_timeout=write_timeout)
    if local:
        kwargs["exclusive"] = True  # flock: a second process gets "busy", not interleaved bytes
    try:
        return serial.serial_for_url(url, **kwargs)
    except serial.SerialException as e:
        code = e.errno if isinstance(e.errno, int) else None
        text = str(e)
        if code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "exclusively lock" in text:
            raise PortBusyError(f"serial port {url} is busy: another program has it open "
                                "(close it, or find it with `fuser " + url + "`)") from None
        if code == errno.ENOENT:
            raise PortNotFoundError(f"serial port {url} does not exist (available ports: "
                                    f"{_available_ports()})") from None
        if code == errno.EACCES:
            raise LinkError(f"no permission to open {url} (add your user to the dialout "
                            "group)") from None
        raise LinkError(f"cannot open serial port {url}: {text}") from None
    except ValueError as e:  # pyserial rejects bad URLs and settings with ValueError
        raise LinkError(f"cannot open serial port {url}: {e}") from None
