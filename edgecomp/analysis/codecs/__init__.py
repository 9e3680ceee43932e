"""Activation codecs of seed 002: run-length (Eyeriss), sparsity map (NullHop), DCT pruning.

``parse_codec("rle" | "spm" | "dct:K" | "raw")`` returns a codec; every codec encodes an int8
tensor with its zero point into an exact byte stream (``Encoded``) and decodes it back.
"""
from __future__ import annotations

from ...errors import EdgecompError
from .base import Codec, Encoded, RawCodec, chunk_starts, spatial, tile_size
from .dct import TRIANGULAR_K, DctCodec
from .rle import RleCodec
from .spm import SpmCodec

__all__ = ["Codec", "Encoded", "RawCodec", "RleCodec", "SpmCodec", "DctCodec", "TRIANGULAR_K",
           "parse_codec", "chunk_starts", "spatial", "tile_size"]


def parse_codec(spec: str) -> Codec:
    text = str(spec).strip().lower()
    if text == "raw":
        return RawCodec()
    if text == "rle":
        return RleCodec()
    if text == "spm":
        return SpmCodec()
    name, sep, arg = text.partition(":")
    if name == "dct" and sep:
        try:
            k = int(arg)
        except ValueError:
            raise EdgecompError(f"codec {spec!r}: K in dct:K must be an integer 1..64") from None
        return DctCodec(k)
    raise EdgecompError(f"unknown activation codec {spec!r}: use raw, rle, spm or dct:K "
                        "(K = DCT coefficients kept per 8x8 tile, 1..64)")
