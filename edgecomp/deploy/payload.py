"""The upload: one tar stream with the model, the self-test vectors and (when the board must
build) the runtime sources. Made in memory: models and sources are a few MB at most."""
from __future__ import annotations

import io
import tarfile
import time

from .golden import Golden, PackedModel
from .sources import RuntimeSources


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time())  # not 0: tar warns about implausibly old time stamps
    tar.addfile(info, io.BytesIO(data))


def make_payload(pm: PackedModel, golden: Golden, sources: RuntimeSources | None) -> bytes:
    buf = io.BytesIO()
    # ustar: understood by GNU tar and busybox alike.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        if sources is not None:
            for rel in sources.files:
                path = sources.root / rel
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                _add(tar, f"runtime-src/{rel}", path.read_bytes(), mode)
        _add(tar, "selftest/input.bin", golden.input)
        _add(tar, "selftest/expected.bin", golden.expected)
        # Last and biggest: an interrupted upload is most likely cut inside the model.
        _add(tar, "model.ecm", pm.data)
    return buf.getvalue()
