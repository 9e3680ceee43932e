"""docs/protocol.md must say what the code does: every table, and the numbers in the prose."""
import inspect
import re
import struct
from pathlib import Path

import pytest

from firmware_io import client, device, messages as M, window
from firmware_io.chunking import MIN_CHUNK
from firmware_io.emulator import RX_FIFO
from firmware_io.frame import wire_size

DOC = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
TYPES = {"B": "u8", "H": "u16", "I": "u32", "Q": "u64", "32s": "u8[32]", "3s": "u8[3]"}


def table_after(heading: str) -> list[list[str]]:
    """Rows (cells stripped, header and rule dropped) of the first table after ``heading``."""
    start = DOC.index(heading)
    rows = []
    for line in DOC[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows or line.startswith("#"):
            break
    assert len(rows) >= 3, f"no table after {heading!r}"
    return rows[2:]


def layout(fields, tail):
    rows, off = [], 0
    for name, code in fields:
        rows.append((str(off), TYPES[code], name))
        off += struct.calcsize("<" + code)
    if tail:
        rows.append((str(off), "bytes", tail))
    return rows


def test_title_carries_the_code_version():
    assert DOC.startswith(f"# The edgecomp serial protocol, version "
                          f"{M.PROTOCOL_MAJOR}.{M.PROTOCOL_MINOR}\n")


def test_header_table():
    rows = [tuple(r[:3]) for r in table_after("### 2.1 Header")]
    fields = list(zip(("version", "type", "length", "seq"), ("B", "B", "H", "I")))
    assert M.HEADER.format.lstrip("<") == "BBHI"
    assert rows == layout(fields, None)
    assert f"### 2.1 Header ({M.HEADER.size} bytes)" in DOC


def test_message_type_table():
    rows = table_after("## 3. Message types")
    want = [(f"0x{m.code:02X}", m.name, "host", M.REPLIES[m.name]) for m in M.HOST_MESSAGES]
    want += [(f"0x{m.code:02X}", m.name, "device", "-") for m in M.DEVICE_MESSAGES]
    assert [tuple(r) for r in rows] == want


@pytest.mark.parametrize("msg", M.HOST_MESSAGES + M.DEVICE_MESSAGES, ids=lambda m: m.name)
def test_payload_tables(msg):
    heading = f"#### `0x{msg.code:02X}` {msg.name}\n"
    assert heading in DOC
    if not msg.fields and msg.tail is None:
        section = DOC[DOC.index(heading):].split("\n\n")[1]
        assert section.startswith("Empty payload.")
        return
    rows = [tuple(r[:3]) for r in table_after(heading)]
    assert rows == layout(msg.fields, msg.tail)


def test_regions_encodings_errors_and_counters():
    assert {r[1]: int(r[0]) for r in table_after("### 3.1 Memory regions")} == M.REGIONS
    assert {r[1]: int(r[0]) for r in table_after("### 3.2 Weight encodings")} == M.ENCODINGS
    assert {r[1]: int(r[0]) for r in table_after("## 5. Error codes")} == M.ERROR_CODES
    rows = table_after("## 6. Device counters")
    assert [r[1] for r in rows] == list(M.DEVICE_COUNTERS)
    assert [int(r[0]) for r in rows] == list(range(len(M.DEVICE_COUNTERS)))


def test_statuses_and_flags_in_the_prose():
    begun = dict(M.BEGUN_STATUS)
    assert all(f"{v} {k}" in DOC for k, v in begun.items())
    assert all(f"{v} {k}" in DOC for k, v in M.VERIFY_STATUS.items())
    assert all(f"{v} {k}" in DOC for k, v in M.RESET_MODES.items())
    assert M.BEGIN_FLAG_RESTART == 1 and "bit 0 RESTART" in DOC


def _defaults(fn):
    return {k: v.default for k, v in inspect.signature(fn).parameters.items()}


@pytest.mark.parametrize("phrase, value", [
    (r"keeps the last (\d+) replies", device.REPLY_CACHE),
    (r"\(at most\s+(\d+)\):", device.MAX_GAP_NAKS),
    (r"window of requests in flight: (\d+) frames", _defaults(client.FpgaClient)["window"]),
    (r"the host sends (\d+)\)", client.HOST_MAX_PAYLOAD),
    (r"doubles \(up to (\d+) s\)", _defaults(window.Requester)["max_rto"]),
    (r"HELLO uses its own timeout\s+\((0\.\d+) s", _defaults(client.FpgaClient)["hello_timeout"]),
    (r"doubling\) and (\d+) tries", _defaults(client.FpgaClient)["hello_tries"]),
    (r"A request resent (\d+) times", _defaults(client.FpgaClient)["max_retries"]),
    (r"retrying for up to (\d+) s", _defaults(client.FpgaClient)["reconnect_timeout"]),
    (r"between (\d+) bytes and its maximum", MIN_CHUNK),
    (r"\((\d+) by default", _defaults(client.FpgaClient)["chunk"]),
    (r"HASHes of (\d+) KiB blocks", client.REPAIR_BLOCK >> 10),
    (r"then of (\d+) KiB blocks", client.REPAIR_SUBBLOCK >> 10),
    (r"\(up to (\d+) rounds\)", _defaults(client.FpgaClient.flash)["verify_rounds"]),
    (r"overhead \((\d+) for WRITE\)", wire_size(M.MESSAGES["WRITE"].struct.size)),
    (r"takes at most (\d+) bytes on the line", wire_size(1024 + 8)),
    (r"at most (\d+) bytes, naming", 200),
    (r"a (\d+) KiB receive FIFO", RX_FIFO >> 10),
])
def test_numbers_in_the_prose(phrase, value):
    m = re.search(phrase, DOC)
    assert m, f"docs/protocol.md no longer says {phrase!r}"
    assert float(m.group(1)) == float(value), (phrase, m.group(1), value)


def test_error_messages_are_capped_as_documented():
    src = inspect.getsource(device.DeviceCore._error)
    assert "[:200]" in src


def test_benchmark_section_has_measurements():
    section = DOC[DOC.index("<!-- benchmark:begin -->"):DOC.index("<!-- benchmark:end -->")]
    assert "not measured yet" not in section
    effs = [float(x) for x in re.findall(r"\| (\d+\.\d)% \|", section)]
    assert effs, "no efficiency column in the benchmark table"
    row = [ln for ln in section.splitlines() if ln.startswith("| 921600 | clean")]
    assert row and float(re.findall(r"(\d+\.\d)%", row[0])[0]) >= 85.0


def test_emulator_fault_options_exist():
    from edgecomp.cli import build_parser

    sub = next(a for a in build_parser()._subparsers._group_actions
               if hasattr(a, "choices") and a.choices and "fpga-sim" in a.choices)
    known = {s for act in sub.choices["fpga-sim"]._actions for s in act.option_strings}
    documented = set(re.findall(r"`?(--[a-z][a-z-]+)", DOC[DOC.index("## 10. The emulator"):
                                                        DOC.index("## 11.")]))
    assert documented and documented <= known, documented - known
    assert {"--pty", "--bit-error-rate", "--disconnect-at", "--reset-at"} <= documented
