"""The device's protocol state machine, driven frame by frame (no line, no timing)."""
import hashlib
import zlib

import numpy as np
import pytest

from edgecomp.packed import write_ecm
from edgecomp.runtime import Runtime
from edgecomp.testing.random_qmodels import random_qmodel
from firmware_io import messages as M
from firmware_io.device import DeviceConfig, DeviceCore
from firmware_io.frame import Deframer, Frame, encode_frame


class Host:
    """Minimal host: numbers requests, decodes the device's answers."""

    def __init__(self, core, seq=1000):
        self.core, self.seq = core, seq
        self.deframer = Deframer(65535)

    def raw(self, wire: bytes) -> list[Frame]:
        return [f for w in self.core.receive(wire) for f in self.deframer.feed(w)]

    def send(self, name, payload=b"", seq=None, version=M.PROTOCOL_MAJOR) -> list[Frame]:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return self.raw(encode_frame(M.MESSAGES[name].code, seq, payload, version))

    def call(self, name, payload=b"", **kw) -> tuple[str, dict]:
        (f,) = self.send(name, payload, **kw)
        reply = M.type_name(f.type)
        return reply, M.unpack(reply, f.payload)

    def hello(self, session=7):
        return self.call("HELLO", M.pack("HELLO", session=session, host_max_payload=8192))


def error_name(fields):
    return M.ERROR_NAMES[fields["code"]]


@pytest.fixture(scope="module")
def image():
    return write_ecm(random_qmodel(11))


def test_requests_before_hello_get_no_session_and_hello_reports_caps():
    core = DeviceCore(DeviceConfig(memory_size=5000, io_size=300, max_payload=512, window=4))
    h = Host(core)
    kind, f = h.call("VERIFY")
    assert kind == "ERROR" and error_name(f) == "NO_SESSION"
    kind, caps = h.hello()
    assert kind == "CAPS"
    assert (caps["version_major"], caps["memory_size"], caps["io_size"], caps["max_payload"],
            caps["window"], caps["active_size"]) == (1, 5000, 300, 512, 4, 0)
    assert caps["encodings"] == sum(1 << k for k in (1, 2, 9, 10, 11, 12, 13))
    assert caps["device_id"] == b"edgecomp FPGA emulator"
    assert core.counters["sessions"] == 1 and core.counters["errors_sent"] == 1


def test_gap_is_nakked_once_and_cumulative_ack_covers_it(image):
    core = DeviceCore()
    h = Host(core)
    h.hello()
    h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=hashlib.sha256(image).digest()))
    base = h.seq
    w = lambda off: M.pack("WRITE", image[off:off + 100], region=0, offset=off)  # noqa: E731
    # frames base+1 and base+2 are "lost"; base+3 arrives first
    out = h.send("WRITE", w(200), seq=base + 3)
    assert [(M.type_name(f.type), f.seq) for f in out] == [
        ("NAK", base + 1), ("NAK", base + 2), ("ACK", base + 3)]
    assert M.unpack("ACK", out[-1].payload)["next_expected"] == base + 1
    out = h.send("WRITE", w(300), seq=base + 4)  # no second NAK for the same gap
    assert [M.type_name(f.type) for f in out] == ["ACK"]
    h.send("WRITE", w(0), seq=base + 1)
    out = h.send("WRITE", w(100), seq=base + 2)
    assert M.unpack("ACK", out[-1].payload)["next_expected"] == base + 5
    assert core.counters["naks_sent"] == 2 and core.held.total == 400
    assert bytes(core.memory[:400]) == image[:400]


def test_duplicates_are_answered_from_the_cache_not_executed_twice(image):
    core = DeviceCore()
    h = Host(core)
    h.hello()
    sha = hashlib.sha256(image).digest()
    first = h.send("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))
    h.send("WRITE", M.pack("WRITE", image, region=0, offset=0))
    again = h.send("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha), seq=h.seq - 1)
    assert again == first  # replayed bytes: still "NEW, 0 held", though 2912+ bytes are held
    assert M.unpack("BEGUN", again[0].payload) == {"status": 0, "held": 0}
    dup_write = h.send("WRITE", M.pack("WRITE", image, region=0, offset=0), seq=h.seq)
    assert M.type_name(dup_write[0].type) == "ACK"
    assert core.counters["duplicates"] == 2 and core.counters["writes"] == 1
    # a new BEGIN of the same image resumes with everything held
    kind, b = h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))
    assert b == {"status": M.BEGUN_STATUS["RESUME"], "held": len(image)}


def test_commit_requires_complete_matching_loadable_image(image):
    core = DeviceCore(DeviceConfig(memory_size=len(image)))
    h = Host(core)
    h.hello()
    sha = hashlib.sha256(image).digest()
    kind, f = h.call("BEGIN", M.pack("BEGIN", size=len(image) + 1, sha256=sha))
    assert error_name(f) == "NO_MEMORY" and f["detail"] == len(image)
    assert f"does not fit in {len(image)} bytes".encode() in f["message"]
    h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))
    h.call("WRITE", M.pack("WRITE", image[:1000], region=0, offset=0))
    kind, f = h.call("COMMIT", M.pack("COMMIT", sha256=sha))
    assert error_name(f) == "INCOMPLETE" and f["detail"] == 1000
    kind, f = h.call("WRITE", M.pack("WRITE", b"x", region=0, offset=len(image)))
    assert error_name(f) == "OUT_OF_RANGE"
    h.call("WRITE", M.pack("WRITE", image[1000:], region=0, offset=1000))
    core.memory[500] ^= 0x04  # corruption the frame CRCs cannot see
    kind, v = h.call("VERIFY")
    assert v["status"] == M.VERIFY_STATUS["MISMATCH"] and v["held"] == len(image)
    kind, f = h.call("COMMIT", M.pack("COMMIT", sha256=sha))
    assert error_name(f) == "HASH_MISMATCH" and core.active is None
    kind, f = h.call("HASH", M.pack("HASH", region=0, offset=0, length=1000))
    assert f["sha256"] != hashlib.sha256(image[:1000]).digest()
    h.call("WRITE", M.pack("WRITE", image[:1000], region=0, offset=0))
    kind, c = h.call("COMMIT", M.pack("COMMIT", sha256=sha))
    assert kind == "COMMITTED" and c == {"size": len(image), "sha256": sha}
    assert core.active == image
    assert (core.counters["commits"], core.counters["commit_rejects"],
            core.counters["verify_mismatches"]) == (1, 1, 1)


def test_image_the_loader_rejects_is_never_committed(image):
    bad = bytearray(image)
    bad[70] ^= 0xFF  # inside the section table: the .ecm checks fail, the hash is "right"
    bad = bytes(bad)
    core = DeviceCore()
    h = Host(core)
    h.hello()
    sha = hashlib.sha256(bad).digest()
    h.call("BEGIN", M.pack("BEGIN", size=len(bad), sha256=sha))
    h.call("WRITE", M.pack("WRITE", bad, region=0, offset=0))
    kind, f = h.call("COMMIT", M.pack("COMMIT", sha256=sha))
    assert error_name(f) == "IMAGE_REJECTED" and len(f["message"]) > 10
    assert core.active is None and core.counters["commit_rejects"] == 1


def test_run_is_bit_exact_and_checks_its_input(image):
    core = DeviceCore()
    h = Host(core)
    h.hello()
    sha = hashlib.sha256(image).digest()
    h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))
    h.call("WRITE", M.pack("WRITE", image, region=0, offset=0))
    kind, f = h.call("RUN", M.pack("RUN", input_len=1, input_crc=0))
    assert error_name(f) == "NO_MODEL"
    assert h.call("COMMIT", M.pack("COMMIT", sha256=sha))[0] == "COMMITTED"
    rt = Runtime(image)
    n = int(np.prod(rt.input_shape))
    kind, f = h.call("RUN", M.pack("RUN", input_len=n + 1, input_crc=0))
    assert error_name(f) == "BAD_INPUT" and f["detail"] == n
    x = np.random.default_rng(0).integers(-128, 128, rt.input_shape).astype(np.int8)
    h.call("WRITE", M.pack("WRITE", x.tobytes()[:-1], region=1, offset=0))
    kind, f = h.call("RUN", M.pack("RUN", input_len=n, input_crc=zlib.crc32(x.tobytes())))
    assert error_name(f) == "BAD_INPUT" and b"holds" in f["message"]
    h.call("WRITE", M.pack("WRITE", x.tobytes()[-1:], region=1, offset=n - 1))
    kind, f = h.call("RUN", M.pack("RUN", input_len=n, input_crc=1234))
    assert error_name(f) == "BAD_INPUT" and b"CRC" in f["message"]
    kind, r = h.call("RUN", M.pack("RUN", input_len=n, input_crc=zlib.crc32(x.tobytes())))
    assert kind == "RESULT"
    expect = rt.run(x).tobytes()
    assert r["output"] == expect and r["output_len"] == len(expect)
    assert r["output_crc"] == zlib.crc32(expect)
    assert 0 < r["executed_macs"] <= r["dense_macs"] and r["weight_bytes"] > 0
    kind, d = h.call("READ", M.pack("READ", region=2, offset=1, length=len(expect) - 1))
    assert d["data"] == expect[1:]
    # the input was consumed: running again without a new upload is refused
    kind, f = h.call("RUN", M.pack("RUN", input_len=n, input_crc=zlib.crc32(x.tobytes())))
    assert error_name(f) == "BAD_INPUT"


def test_version_unknown_type_and_oversize_are_refused_politely():
    core = DeviceCore(DeviceConfig(max_payload=128))
    h = Host(core)
    (f,) = h.send("HELLO", M.pack("HELLO", session=1), version=2)
    assert f.version == 1 and M.unpack("ERROR", f.payload)["code"] == M.ERROR_CODES["BAD_VERSION"]
    assert M.unpack("ERROR", f.payload)["detail"] == 1
    h.hello()
    h.seq += 1
    (f,) = h.raw(encode_frame(0x42, h.seq, b""))
    assert M.unpack("ERROR", f.payload) == {
        "code": M.ERROR_CODES["UNKNOWN_TYPE"], "detail": 0x42,
        "message": b"unknown request type 0x42"}
    kind, f = h.call("WRITE", M.pack("WRITE", bytes(200), region=1, offset=0))
    assert error_name(f) == "TOO_LARGE" and f["detail"] == 128
    kind, f = h.call("BEGIN", b"\x01\x02")
    assert error_name(f) == "BAD_PAYLOAD" and b"BEGIN payload is 2 bytes" in f["message"]
    kind, f = h.call("RESET", M.pack("RESET", mode=9))
    assert error_name(f) == "BAD_PAYLOAD"


def test_reset_ends_the_session_and_erase_forgets_the_image(image):
    core = DeviceCore()
    h = Host(core)
    h.hello()
    sha = hashlib.sha256(image).digest()
    h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))
    h.call("WRITE", M.pack("WRITE", image[:2000], region=0, offset=0))
    kind, r = h.call("RESET", M.pack("RESET", mode=0))
    assert kind == "RESET_DONE" and r["boot_count"] == 2
    assert error_name(h.call("STATS")[1]) == "NO_SESSION"
    h.hello(session=8)
    assert h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))[1] == {
        "status": M.BEGUN_STATUS["RESUME"], "held": 2000}  # memory survived the reset
    h.call("RESET", M.pack("RESET", mode=1))
    h.hello(session=9)
    assert h.call("BEGIN", M.pack("BEGIN", size=len(image), sha256=sha))[1] == {
        "status": M.BEGUN_STATUS["NEW"], "held": 0}
    kind, s = h.call("STATS")
    vals = [int.from_bytes(s["counters"][i:i + 8], "little") for i in range(0, 8 * s["count"], 8)]
    stats = dict(zip(M.DEVICE_COUNTERS, vals))
    assert s["count"] == len(M.DEVICE_COUNTERS)
    assert (stats["resets"], stats["sessions"], stats["writes"]) == (2, 3, 1)


def test_fuzzed_frames_never_crash_the_device(image):
    """Valid-CRC frames of every type with random payloads, plus raw garbage: the device answers
    each frame with a reply or an ERROR, and keeps working afterwards."""
    rng = np.random.default_rng(5)
    core = DeviceCore(DeviceConfig(memory_size=1 << 16, io_size=4096, max_payload=1024))
    h = Host(core)
    h.hello()
    codes = [m.code for m in M.HOST_MESSAGES] + [0x00, 0x81, 0xFF, 0x7F]
    answered = 0
    for i in range(3000):
        code = int(rng.choice(codes))
        if code == M.MESSAGES["HELLO"].code or code == M.MESSAGES["RESET"].code:
            continue  # they legitimately change the session; covered elsewhere
        n = int(rng.choice([0, 1, 4, 8, 12, 40, int(rng.integers(0, 1100))]))
        payload = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        if rng.random() < 0.5 and n >= 8:  # make offsets/lengths small enough to be accepted
            payload = payload[:4] + int(rng.integers(0, 5000)).to_bytes(4, "little") + \
                payload[8:]
        out = h.raw(encode_frame(code, h.seq + 1 + i, payload))
        answered += len(out) >= 1
        if rng.random() < 0.1:
            assert h.raw(rng.integers(0, 256, 50, dtype=np.uint8).tobytes()) == []
    assert answered >= 2500
    c = core.counters
    assert c["errors_sent"] > 500 and c["crc_errors"] + c["malformed"] + c["overruns"] > 0
    # still a working device for a new session
    h.seq += 5000
    h.hello(session=99)
    sha = hashlib.sha256(image).digest()
    assert h.call("BEGIN", M.pack("BEGIN", size=len(image), flags=1, sha256=sha))[0] == "BEGUN"
    for off in range(0, len(image), 1000):
        assert h.call("WRITE", M.pack("WRITE", image[off:off + 1000], region=0,
                                      offset=off))[0] == "ACK"
    assert h.call("COMMIT", M.pack("COMMIT", sha256=sha))[0] == "COMMITTED"
