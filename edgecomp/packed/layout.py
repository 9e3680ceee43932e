"""Constants and struct layouts of the .ecm format (docs/format.md sections 1-3)."""
import struct

MAGIC = b"EDGECMP\0"
VERSION_MAJOR = 1
VERSION_MINOR = 1  # 1.1: ops 11-17, blob kinds 7-8, weight encodings of kinds 9-13
HEADER_SIZE = 64
SECTION_ENTRY_SIZE = 32
SECTION_ALIGN = 64
BLOB_ALIGN = 16
TRAILER_SIZE = 32  # SHA-256
MIN_FILE_SIZE = HEADER_SIZE + SECTION_ENTRY_SIZE + TRAILER_SIZE

HEADER = struct.Struct("<8sHHIQIIQ24s")
SECTION_ENTRY = struct.Struct("<IIQQII")
TENSOR_RECORD = struct.Struct("<IIBBH4ifi")
NODE_HEAD = struct.Struct("<HHIIIIII")
BLOB_REF = struct.Struct("<IIQQ")
GRAPH_HEAD = struct.Struct("<IIII")

SEC_GRAPH, SEC_DATA, SEC_STRINGS, SEC_LABELS, SEC_METADATA = 1, 2, 3, 4, 5
SECTION_NAMES = {1: "GRAPH", 2: "DATA", 3: "STRINGS", 4: "LABELS", 5: "METADATA"}
REQUIRED_SECTIONS = (SEC_GRAPH, SEC_DATA, SEC_STRINGS)
VENDOR_SECTION_MIN = 1000
MAX_SECTIONS = 64

FLAG_DYNAMIC_FIXED_POINT = 1

# Limits from docs/format.md 2.
MAX_TENSORS = 65535
MAX_NODES = 65535
MAX_OUTPUTS = 16
MAX_NODE_INPUTS = 64
MAX_PARAMS = 64
MAX_BLOBS = 8
MAX_DIM = 65535
MAX_ELEMENTS = 1 << 28


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a
