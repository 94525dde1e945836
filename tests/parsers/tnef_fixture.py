"""A winmail.dat (TNEF, MS-OXTNEF) built in the tests: a message whose only body is Outlook's
compressed RTF (PR_RTF_COMPRESSED, MS-OXRTFCP), as Outlook sends it in "Rich Text" format."""

from __future__ import annotations

import struct

from compressed_rtf import compress  # type: ignore[import-untyped]  # ships no types

_SIGNATURE = 0x223E9F78
_LEVEL_MESSAGE = 1
_ATT_TNEF_VERSION = 0x00089006
_ATT_MAPI_PROPS = 0x00069003
_PT_BINARY = 0x0102
_PR_RTF_COMPRESSED = 0x1009


def _attribute(attribute_id: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    head = struct.pack("<BII", _LEVEL_MESSAGE, attribute_id, len(data))
    return head + data + struct.pack("<H", checksum)


def tnef_with_rtf_body(rtf: bytes) -> bytes:
    compressed = compress(rtf, compressed=True)
    padding = b"\x00" * (-len(compressed) % 4)
    prop = struct.pack("<HHII", _PT_BINARY, _PR_RTF_COMPRESSED, 1, len(compressed))
    props = struct.pack("<I", 1) + prop + compressed + padding
    return (
        struct.pack("<IH", _SIGNATURE, 0x0001)
        + _attribute(_ATT_TNEF_VERSION, struct.pack("<I", 0x00010000))
        + _attribute(_ATT_MAPI_PROPS, props)
    )
