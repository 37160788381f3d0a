"""Why a record was dropped whole or kept in part: the keys the conversion report counts.

Its own module, free of mrtparse, so the compiled path can name them without loading the
reference decoder.
"""

from __future__ import annotations

from typing import Final

# why a record was dropped whole (ConversionReport.drops) or kept in part (.repairs)
DROP_MALFORMED: Final = "malformed_record"
DROP_ATTRIBUTE_OVERRUN: Final = "attribute_overrun"
DROP_NO_PEER_INDEX: Final = "rib_entry_without_peer"
DROP_UNSUPPORTED: Final = "unsupported_subtype"
REPAIR_NLRI_TRUNCATED: Final = "nlri_truncated"
REPAIR_PREFIX_LENGTH: Final = "prefix_length_invalid"
REPAIR_ATTRIBUTE: Final = "attribute_undecodable"
REPAIR_PEER_MISSING: Final = "rib_entry_peer_missing"
"""A TABLE_DUMP_V2 RIB entry whose peer index is past the PEER_INDEX_TABLE: that entry is
left out (counted per entry), the record's other entries are kept."""
REPAIR_ATTRIBUTE_REPEATED: Final = "attribute_repeated"
"""An attribute type that appears again in one attribute list: the first counts (RFC 7606
§3 g), each later one is kept raw in ``other_attributes`` (counted per repeat)."""
REPAIR_MICROSECONDS: Final = "microseconds_invalid"
"""A BGP4MP_ET microseconds field over 999,999: the row keeps the header's second."""


class RecordDecodeError(Exception):
    """A whole record that mrtparse (or one of our own readers) could not decode.

    ``reason`` is one of the ``DROP_*`` keys the conversion report counts drops by.
    """

    def __init__(self, message: str, reason: str = DROP_MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason
