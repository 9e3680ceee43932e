"""The FPGA board emulator: a DeviceCore behind a pty (or any pyserial URL), paced like a UART.

Pacing: bytes are taken off the line no faster than ``baud / 10`` per second (8N1) and replies go
out at the same rate, so the host sees the throughput, latency and back-pressure of a real
UART. Without a baud rate the emulator runs unpaced (as fast as the pty goes) for quick tests.
One thread runs the whole event loop, so a RUN blocks the line exactly as a busy device would.
"""
from __future__ import annotations

import errno
import os
import select
import threading
import time
import tty

from .device import DeviceConfig, DeviceCore
from .faults import FaultConfig, FaultInjector

PACED_RX_S = 0.002        # line time taken off the pty at once when paced (184 B at 921600)
PACED_TX_S = 0.001        # line time put on the pty at once
UNPACED_CHUNK = 1 << 16
IDLE_WAIT_S = 0.02
RX_FIFO = 1024            # bytes of the emulated UART's receive FIFO (see step())


class PtyEndpoint:
    """A pseudo-terminal whose slave path the host opens; optionally a stable symlink to it
    (like /dev/serial/by-id/...), re-pointed when the emulated cable is plugged back in."""

    def __init__(self, link: str | None = None):
        self.link = link
        self.master = self.slave = -1
        self._open()

    def _open(self) -> None:
        m, s = os.openpty()
        tty.setraw(s)
        os.set_blocking(m, False)
        self.master, self.slave = m, s  # holding the slave keeps reads on the master from EIO
        self.tty_path = os.ttyname(s)
        if self.link:
            tmp = f"{self.link}.{os.getpid()}.tmp"
            os.symlink(self.tty_path, tmp)
            os.replace(tmp, self.link)

    @property
    def path(self) -> str:
        return self.link or self.tty_path

    def fileno(self) -> int:
        return self.master

    def read(self, n: int) -> bytes:
        try:
            return os.read(self.master, n)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as e:
            if e.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> int:
        try:
            return os.write(self.master, data)
        except (BlockingIOError, InterruptedError):
            return 0

    def disconnect(self) -> None:
        """The cable is pulled: the host's open port fails with an I/O error."""
        if self.link:
            try:
                os.unlink(self.link)
            except FileNotFoundError:
                pass
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)
        self.master = self.slave = -1

    def reconnect(self) -> None:
        self._open()

    def close(self) -> None:
        self.disconnect()


class SerialEndpoint:
    """An existing port or URL (a real UART, one end of a socat pair, socket://). A disconnect
    here is the line going quiet: the port itself stays open."""

    def __init__(self, url: str, baud: int):
        import serial
        self.port = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=0)
        self.path = url
        self.down = False

    def fileno(self) -> int | None:
        try:
            return self.port.fileno()
        except Exception:
            return None

    def read(self, n: int) -> bytes:
        data = self.port.read(min(n, self.port.in_waiting or 1))
        return b"" if self.down else data

    def write(self, data: bytes) -> int:
        if self.down:
            return len(data)
        import serial
        try:
            return self.port.write(data) or 0
        except serial.SerialTimeoutException:
            return 0

    def disconnect(self) -> None:
        self.down = True

    def reconnect(self) -> None:
        self.port.reset_input_buffer()
        self.down = False

    def close(self) -> None:
        self.port.close()


class Emulator:
    def __init__(self, endpoint, core: DeviceCore | None = None, baud: int | None = None,
                 faults: FaultConfig | None = None, config: DeviceConfig | None = None,
                 executor_factory=None):
        self.endpoint = endpoint
        self.faults = FaultInjector(faults or FaultConfig())
        if core is None:
            kwargs = {} if executor_factory is None else {"executor_factory": executor_factory}
            core = DeviceCore(config, **kwargs)
        self.core = core
        core.memory_fault = self.faults.memory_fault
        core.frame_filter = lambda f: not self.faults.drop_frame("rx")
        self.baud = baud
        self._byte_s = 10.0 / baud if baud else 0.0
        self._rx_chunk = max(64, int(PACED_RX_S / self._byte_s)) if baud else UNPACED_CHUNK
        self._tx_chunk = max(16, int(PACED_TX_S / self._byte_s)) if baud else UNPACED_CHUNK
        self._tx = bytearray()
        self._rx_pending: tuple[bytes, float] | None = None
        self._rx_free = self._tx_free = 0.0
        self._stall_until = self._down_until = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def path(self) -> str:
        return self.endpoint.path

    # -- running ----------------------------------------------------------------------------

    def start(self) -> "Emulator":
        self._thread = threading.Thread(target=self._run_guarded, name="fpga-emulator",
                                        daemon=True)
        self._thread.start()
        return self

    def _run_guarded(self) -> None:
        try:
            self.run()
        except BaseException as e:  # surfaced by stop() so a test sees the emulator's crash
            self.error = e

    def request_stop(self) -> None:
        """Ask the loop to end (safe from a signal handler or another thread)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.endpoint.close()
        if self.error is not None:
            raise RuntimeError(f"emulator thread failed: {self.error!r}") from self.error

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def run(self) -> None:
        while not self._stop.is_set():
            self.step()

    def step(self) -> None:
        now = time.monotonic()
        if now < self._stall_until:
            time.sleep(min(self._stall_until - now, IDLE_WAIT_S))
            return
        if self._down_until:
            if now < self._down_until:
                time.sleep(min(self._down_until - now, IDLE_WAIT_S))
                return
            self._down_until = 0.0
            self.endpoint.reconnect()
        self._pump_tx(now)
        wait = IDLE_WAIT_S
        if self._rx_pending is not None:
            data, ready = self._rx_pending
            if now >= ready:
                self._rx_pending = None
                self._deliver(data, now)
                return
            wait = ready - now
        else:
            raw = self.endpoint.read(self._rx_chunk)
            if raw:
                data = self.faults.corrupt(raw, "rx")
                if self.baud:
                    # the line runs while the controller is busy: bytes that waited in the pty
                    # were received into the UART's FIFO meanwhile, so a late poll does not
                    # stretch line time (for at most a FIFO's worth of bytes)
                    slack = RX_FIFO * self._byte_s
                    ready = max(now - slack, self._rx_free) + len(raw) * self._byte_s
                    self._rx_free = ready
                    self._rx_pending = (data, ready)
                else:
                    self._deliver(data, now)
                return
        if self._tx:
            wait = min(wait, max(0.0, self._tx_free - now))
        fd = self.endpoint.fileno()
        if wait <= 0:
            return
        if self._rx_pending is None and fd is not None and fd >= 0:
            select.select([fd], [], [], wait)
        else:
            time.sleep(wait)

    def _deliver(self, data: bytes, now: float) -> None:
        replies = self.core.receive(data)
        for event in self.faults.events(self.core.counters["rx_bytes"]):
            if event == "stall":
                self._stall_until = now + self.faults.config.stall_time
            elif event == "reset":
                self._tx.clear()
                replies = [self.core.reset()]  # whatever it was about to say is lost
            elif event == "disconnect":
                self._tx.clear()
                replies = []
                self._rx_pending = None
                self.endpoint.disconnect()
                self._down_until = now + self.faults.config.disconnect_time
        for wire in replies:
            if self.faults.drop_frame("tx"):
                continue
            self._tx += self.faults.corrupt(wire, "tx")

    def _pump_tx(self, now: float) -> None:
        if not self._tx or (self.baud and now < self._tx_free):
            return
        k = self._tx_chunk
        n = self.endpoint.write(bytes(self._tx[:k]))
        if n:
            del self._tx[:n]
            self.core.count_tx(n)
            self._tx_free = max(now, self._tx_free) + n * self._byte_s
        else:
            self._tx_free = now + 0.001  # the host is not reading: try again shortly

    # -- reporting --------------------------------------------------------------------------

    def summary(self) -> dict:
        return {"device": dict(self.core.counters), "faults": dict(self.faults.counts),
                "faults_total": self.faults.total}
