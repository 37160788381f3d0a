"""Decode one whole MRT record (bytes) into mrtparse's dict form.

mrtparse's ``Reader`` only reads files, so each record framed by :mod:`cloudz.convert.framing`
is handed to it through a ``BytesIO``. Gaps of mrtparse 2.2.0 are covered here:

* a prefix with host bits set ("11.13.0.0/13") makes mrtparse reject it; RFC 4271 §4.3 says
  trailing bits are irrelevant, so every prefix is read with the host bits cleared ("11.8.0.0/13",
  as a current ``bgpdump -m`` prints it) and counted in :class:`RecordNotes`;
* mrtparse reads a list of prefixes past the end of its field and drops the whole record on a
  truncated last prefix; :func:`_val_nlri` reads each field within its length and keeps the
  complete prefixes before a bad one (noted as a repair);
* BGP4MP_ENTRY (OpenBGPD's RIB dumps) is not decoded at all; :func:`decode_bgp4mp_entry` reads
  its fixed fields and lets mrtparse decode the path attributes;
* RIB_GENERIC(_ADDPATH) is misread (a 3-byte AFI); :func:`decode_rib_generic` reads it;
* mrtparse keeps no attribute's bytes and trusts its own parse position over the attribute
  length; :func:`_unpack_attr_framed` (installed on ``BgpAttr`` once, at import) ends every
  attribute where its length says (RFC 4271 §4.3) and keeps its flags and payload as
  ``raw_value`` for the ``other_attributes`` column. An attribute whose value does not decode
  but whose length frames it is kept raw (``undecodable``), so the record's routes are kept.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import mrtparse
from mrtparse import base as mrt_base

from cloudz.convert.drops import (
    DROP_ATTRIBUTE_OVERRUN,
    REPAIR_ATTRIBUTE,
    REPAIR_NLRI_TRUNCATED,
    REPAIR_PREFIX_LENGTH,
    RecordDecodeError,
)

BGP4MP_TYPES: Final = (16, 17)
BGP4MP_ENTRY: Final = 2
TABLE_DUMP_V2: Final = 13
RIB_GENERIC: Final = 6
RIB_GENERIC_ADDPATH: Final = 12
EXTENDED_LENGTH: Final = 0x10


@dataclass
class RecordNotes:
    """What decoding one record had to repair: the report sums these over the file."""

    masked_prefixes: int = 0
    repairs: Counter[str] = field(default_factory=Counter)


_notes = RecordNotes()
"""The notes of the record being decoded (mrtparse's decoder state is module-global already)."""


def _host_mask(last: int, plen: int) -> int:
    """``last`` (the prefix's last byte) without the bits past ``plen``."""
    return last & (0xFF << (8 - plen % 8)) & 0xFF if plen % 8 else last


def _lenient_val_addr(self: Any, af: int, plen: int = -1) -> str:
    """mrtparse's ``val_addr`` that clears host bits (RFC 4271 §4.3) and counts them."""
    if af == 1:
        plen_max, family = 32, socket.AF_INET
    elif af == 2:
        plen_max, family = 128, socket.AF_INET6
    else:
        raise mrt_base.MrtFormatError(f"Unsupported AFI {af}")
    if plen < 0:
        plen = plen_max
    elif plen > plen_max:
        raise mrt_base.MrtFormatError(f"Invalid prefix length {plen}")
    n = (plen + 7) // 8
    self.chk_buf(n)
    buf = bytearray(self.buf[self.p : self.p + n])
    if n and buf[-1] != _host_mask(buf[-1], plen):
        buf[-1] = _host_mask(buf[-1], plen)
        _notes.masked_prefixes += 1
    self.p += n
    return socket.inet_ntop(family, bytes(buf) + b"\x00" * (plen_max // 8 - n))


mrt_base.Base.val_addr = _lenient_val_addr

_L3VPN_SAFIS: Final = (128, 129)
_MRTPARSE_VAL_NLRI: Final = mrt_base.Base.val_nlri


def _read_nlri(
    buf: bytes, start: int, end: int, af: int, saf: int, add_path: bool
) -> tuple[list[dict[str, Any]], str | None]:
    """The prefixes of ``buf[start:end]``, and why the rest was left unread (None: all read)."""
    out: list[dict[str, Any]] = []
    p = start
    while p < end:
        nlri = mrtparse.Nlri(buf[p:end])  # a prefix never runs past its own field
        try:
            p += nlri.unpack(af, saf, add_path=1 if add_path else 0)
        except mrt_base.MrtFormatError as e:
            too_long = "Invalid prefix length" in str(getattr(e, "msg", e))
            return out, REPAIR_PREFIX_LENGTH if too_long else REPAIR_NLRI_TRUNCATED
        out.append(nlri.data)
    return out, None


def _val_nlri(self: Any, n: int, af: int, saf: int = 0) -> list[dict[str, Any]]:
    """mrtparse's ``val_nlri`` (prefixes up to offset ``n``), keeping what can be kept.

    As mrtparse does, a list that does not read as plain prefixes, or holds one twice, is
    tried as ADD-PATH (RFC 7911) prefixes (BIRD writes those in non-ADD-PATH subtypes). When
    neither reads whole, the complete prefixes before the first bad one are kept: the field's
    length delimits it, so the bad one cannot shift the rest of the message.
    """
    if saf in _L3VPN_SAFIS:  # never rows (rows.ROUTE_SAFIS): mrtparse's own reading
        return list(_MRTPARSE_VAL_NLRI(self, n, af, saf))
    masked = _notes.masked_prefixes
    add_path = bool(mrt_base.is_add_path())
    if not add_path:
        plain, why = _read_nlri(self.buf, self.p, n, af, saf, add_path=False)
        keys = {(d["prefix"], d["length"]) for d in plain}
        if why is None and len(keys) == len(plain):
            self.p = n
            return plain
        _notes.masked_prefixes = masked
    listed, why = _read_nlri(self.buf, self.p, n, af, saf, add_path=True)
    if why is None or add_path:
        if why is not None:
            _notes.repairs[why] += 1
        self.p = n
        return listed
    _notes.masked_prefixes = masked
    plain, why = _read_nlri(self.buf, self.p, n, af, saf, add_path=False)
    if why is not None:
        _notes.repairs[why] += 1
    self.p = n
    return plain


mrt_base.Base.val_nlri = _val_nlri

_MRTPARSE_ATTR_UNPACK: Final = mrtparse.BgpAttr.unpack


def _unpack_attr_framed(self: Any) -> int:
    """``BgpAttr.unpack`` that frames by the attribute length (RFC 4271 §4.3) and keeps bytes.

    mrtparse returns how far its value decoder read, which for a malformed value (an ORIGIN of
    length 0, a NEXT_HOP of length 5) is not where the next attribute starts; the length field
    is. An attribute running past the buffer is an error rather than a silent short read (its
    end, and so every later attribute, is unknown). A value that does not decode, or whose
    decoder read past the attribute's length, is kept raw and marked ``undecodable``: the
    other attributes and the prefixes stay sound, as bgpdump keeps them too.
    """
    buf = self.buf
    if len(buf) < 3:
        raise mrt_base.MrtFormatError(f"attribute header cut short ({len(buf)} bytes)")
    flag, attr_type = buf[0], buf[1]
    start = 4 if flag & EXTENDED_LENGTH else 3
    if len(buf) < start:
        raise mrt_base.MrtFormatError("attribute length cut short")
    length = int.from_bytes(buf[2:start], "big")
    end = start + length
    if end > len(buf):
        raise RecordDecodeError(
            f"attribute type {attr_type} of length {length} runs past the {len(buf)} bytes left",
            DROP_ATTRIBUTE_OVERRUN,
        )
    masked, repairs = _notes.masked_prefixes, _notes.repairs.copy()
    try:
        read = _MRTPARSE_ATTR_UNPACK(self)
        failure = None if read <= end else f"value read {read - end} bytes past its length"
    except Exception as e:  # mrtparse raises more than MrtFormatError on bad values
        failure = f"{type(e).__name__}: {e}"
    if failure is not None:
        _notes.masked_prefixes, _notes.repairs = masked, repairs
        _notes.repairs[REPAIR_ATTRIBUTE] += 1
        self.data = {"flag": flag, "type": {attr_type: ""}, "length": length}
        self.data["undecodable"] = failure
    self.data["raw_value"] = bytes(buf[start:end])
    self.p = end
    return int(end)


mrtparse.BgpAttr.unpack = _unpack_attr_framed


def _mrtparse(raw: bytes) -> dict[str, Any]:
    entry = next(mrtparse.Reader(io.BytesIO(raw)))
    if entry.err:
        raise RecordDecodeError(str(entry.err_msg))
    data: dict[str, Any] = entry.data
    return data


@contextmanager
def noting(notes: RecordNotes) -> Iterator[RecordNotes]:
    """Decode with ``notes`` collecting the repairs (one record at a time, like mrtparse)."""
    global _notes
    outer = _notes
    _notes = notes
    try:
        yield notes
    finally:
        _notes = outer


def decode_record(
    raw: bytes, mrt_type: int, subtype: int, notes: RecordNotes | None = None
) -> dict[str, Any]:
    """mrtparse's dict for one record (header + body); :class:`RecordDecodeError` if it can't.

    ``notes`` (if given) receives what had to be repaired: masked prefixes, dropped tails.
    """
    with noting(RecordNotes() if notes is None else notes):
        if mrt_type in BGP4MP_TYPES and subtype == BGP4MP_ENTRY:
            return decode_bgp4mp_entry(raw)
        if mrt_type == TABLE_DUMP_V2 and subtype in (RIB_GENERIC, RIB_GENERIC_ADDPATH):
            return decode_rib_generic(raw)
        try:
            return _mrtparse(raw)
        except RecordDecodeError:
            raise
        except Exception as e:  # mrtparse raises more than MrtFormatError on bad input
            raise RecordDecodeError(f"{type(e).__name__}: {e}") from e


def masked_network(
    packed: bytes, plen: int, max_len: int
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network of ``packed`` (a prefix's bytes, or a whole address), host bits cleared
    (RFC 4271 §4.3: they are irrelevant) and counted in the record's notes when any was set."""
    full = bytes(packed) + b"\x00" * (max_len // 8 - len(packed))
    network = ipaddress.ip_network((full, plen), strict=False)
    if network.network_address.packed != full:
        _notes.masked_prefixes += 1
    return network


def _addr(buf: bytes, afi: int) -> str:
    if afi == 1:
        return str(ipaddress.IPv4Address(buf))
    return socket.inet_ntop(socket.AF_INET6, buf)


def decode_bgp4mp_entry(raw: bytes) -> dict[str, Any]:
    """Decode a BGP4MP_ENTRY record (MRT draft, written by OpenBGPD's RIB dumps).

    Layout after the MRT header: AS, AS, ifindex, AFI, address, address, view, status,
    originated time, AFI, SAFI, next hop length, next hop, prefix length, prefix, attribute
    length, attributes. OpenBGPD puts its *local* address first and the peer's second (checked
    against its TABLE_DUMP of the same RIB, ``openbgpd_rib_table``), so the second address
    and AS are the peer's. AS numbers in its attributes are 2 bytes, as in BGP4MP_MESSAGE.
    """
    try:
        return _decode_bgp4mp_entry(raw)
    except (struct.error, IndexError, ValueError, KeyError, mrt_base.MrtFormatError) as e:
        raise RecordDecodeError(f"bad BGP4MP_ENTRY: {type(e).__name__}: {e}") from e


def _decode_bgp4mp_entry(raw: bytes) -> dict[str, Any]:
    ts, _t, _st, length = struct.unpack_from(">IHHI", raw, 0)
    body = raw[12 : 12 + length]
    if len(body) != length:
        raise ValueError("record shorter than its length")
    first_as, second_as, _ifindex, afi = struct.unpack_from(">HHHH", body, 0)
    p = 8
    alen = {1: 4, 2: 16}[afi]
    first_ip = _addr(body[p : p + alen], afi)
    second_ip = _addr(body[p + alen : p + 2 * alen], afi)
    p += 2 * alen
    _view, _status, originated, route_afi, safi, nh_len = struct.unpack_from(">HHIHBB", body, p)
    p += 12
    nh_afi = 1 if nh_len == 4 else 2
    next_hop = _addr(body[p : p + min(nh_len, 16)], nh_afi) if nh_len in (4, 16, 32) else None
    p += nh_len
    plen = body[p]
    p += 1
    max_len = {1: 32, 2: 128}[route_afi]
    if plen > max_len:
        raise ValueError(f"prefix length {plen} > {max_len}")
    nbytes = (plen + 7) // 8
    if len(body) < p + nbytes:
        raise ValueError("prefix runs past the record")
    network = masked_network(body[p : p + nbytes], plen, max_len)
    p += nbytes
    (attr_len,) = struct.unpack_from(">H", body, p)
    p += 2
    end = p + attr_len
    if end > len(body):
        raise ValueError("attributes run past the record")
    mrt_base.as_len(2)
    mrt_base.af_num(route_afi, safi)
    mrt_base.is_add_path(False)
    attrs: list[dict[str, Any]] = []
    while p < end:
        attr = mrtparse.BgpAttr(body[p:end])
        p += attr.unpack()
        attrs.append(attr.data)
    return {
        "timestamp": {ts: ""},
        "type": {16: "BGP4MP"},
        "subtype": {BGP4MP_ENTRY: "BGP4MP_ENTRY"},
        "length": length,
        "local_as": str(first_as),
        "local_ip": first_ip,
        "peer_as": str(second_as),
        "peer_ip": second_ip,
        "originated_time": {originated: ""},
        "afi": route_afi,
        "safi": safi,
        "next_hop": next_hop,
        "prefix": str(network.network_address),
        "length_bits": plen,
        "path_attributes": attrs,
    }


def decode_rib_generic(raw: bytes) -> dict[str, Any]:
    """Decode a RIB_GENERIC (RFC 6396 §4.3.3) or RIB_GENERIC_ADDPATH (RFC 8050 §4) record.

    Sequence number, AFI (2 bytes), SAFI, one NLRI, entry count, then RIB entries as in the
    AFI/SAFI-specific subtypes (with a path id after the originated time for ADD-PATH), decoded
    by mrtparse. Only IPv4/IPv6 unicast/multicast NLRI (a prefix length and prefix) are read;
    the caller skips other SAFIs before calling this. Returns the AFI/SAFI-specific form.
    """
    try:
        return _decode_rib_generic(raw)
    except (struct.error, IndexError, ValueError, KeyError, mrt_base.MrtFormatError) as e:
        raise RecordDecodeError(f"bad RIB_GENERIC: {type(e).__name__}: {e}") from e


def _decode_rib_generic(raw: bytes) -> dict[str, Any]:
    ts, _t, subtype, length = struct.unpack_from(">IHHI", raw, 0)
    body = raw[12 : 12 + length]
    if len(body) != length:
        raise ValueError("record shorter than its length")
    seq, afi, safi = struct.unpack_from(">IHB", body, 0)
    if afi not in (1, 2):
        raise ValueError(f"RIB_GENERIC AFI {afi} not supported")
    p = 7
    plen = body[p]
    max_len = 32 if afi == 1 else 128
    if plen > max_len:
        raise ValueError(f"prefix length {plen} > {max_len}")
    nbytes = (plen + 7) // 8
    if len(body) < p + 1 + nbytes:
        raise ValueError("prefix runs past the record")
    network = masked_network(body[p + 1 : p + 1 + nbytes], plen, max_len)
    p += 1 + nbytes
    (count,) = struct.unpack_from(">H", body, p)
    p += 2
    mrt_base.as_len(4)
    mrt_base.af_num(afi, safi)
    mrt_base.is_add_path(subtype == RIB_GENERIC_ADDPATH)
    entries = []
    for _ in range(count):
        entry = mrtparse.RibEntries(body[p:])
        p += entry.unpack()
        entries.append(entry.data)
    if p != len(body):
        raise ValueError(f"{len(body) - p} bytes after the last RIB entry")
    return {
        "timestamp": {ts: ""},
        "sequence_number": seq,
        "prefix": _addr(network.network_address.packed, afi),
        "length": plen,
        "entry_count": count,
        "rib_entries": entries,
    }
