"""Type stub of the compiled row encoder (``_fastmrt.c``)."""

from collections.abc import Sequence
from typing import Final

from typing_extensions import Buffer

FIELDS: Final[tuple[str, ...]]
NEED: Final[int]
BLOCK: Final[int]
FALLBACK: Final[int]
STOP: Final[int]
LIMIT: Final[int]

class Converter:
    rows: int
    records: int
    parse_errors: int
    masked_prefixes: int
    block_rows: int
    time_range: tuple[int, int] | None
    rowless: tuple[int, int]
    def __init__(
        self,
        fields: Sequence[int],
        collector: str,
        source_path: str,
        source_sha256: str,
        known_types: Sequence[int],
        max_record_len: int,
        block_size: int,
        max_rowless_run: int,
    ) -> None: ...
    def feed(self, data: Buffer, /) -> None: ...
    def run(self) -> int: ...
    def pending(self) -> tuple[int, int, int, int, int, bytes] | None: ...
    def add_rows(self, data: Buffer, n: int, /) -> None: ...
    def add_parse_error(self) -> None: ...
    def add_record(self, offset: int, /) -> None: ...
    def set_peers(self, peers: Sequence[tuple[str, int]] | None, /) -> None: ...
    def take_block(self) -> tuple[bytes, int]: ...
    def leftover(self) -> tuple[int, bytes]: ...

def find_bz2_magic(buf: Buffer, start_bit: int, /) -> tuple[int, int] | None: ...
def bz2_bits(buf: Buffer, bit: int, n: int, /) -> int: ...
def bz2_block(buf: Buffer, start_bit: int, end_bit: int, level: int, /) -> bytes: ...
