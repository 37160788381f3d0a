"""Decode one whole MRT record (bytes) into mrtparse's dict form.

mrtparse's ``Reader`` only reads files, so each record framed by :mod:`cloudz.convert.framing`
is handed to it through a ``BytesIO``. Two gaps of mrtparse 2.2.0 are covered here:

* a prefix with host bits set ("10.0.0.1/8") makes mrtparse reject the whole record; the record
  is decoded again with a prefix reader that clears the host bits, so its routes are kept
  (stored in network form, "10.0.0.0/8");
* BGP4MP_ENTRY (OpenBGPD's RIB dumps) is not decoded at all; :func:`decode_bgp4mp_entry` reads
  its fixed fields and lets mrtparse decode the path attributes;
* RIB_GENERIC(_ADDPATH) is misread (a 3-byte AFI); :func:`decode_rib_generic` reads it;
* mrtparse keeps no attribute's bytes and trusts its own parse position over the attribute
  length; :func:`_unpack_attr_framed` (installed on ``BgpAttr`` once, at import) ends every
  attribute where its length says (RFC 4271 §4.3) and keeps its flags and payload as
  ``raw_value`` for the ``other_attributes`` column.
"""

from __future__ import annotations

import io
import ipaddress
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import mrtparse
from mrtparse import base as mrt_base

BGP4MP_TYPES: Final = (16, 17)
BGP4MP_ENTRY: Final = 2
TABLE_DUMP_V2: Final = 13
RIB_GENERIC: Final = 6
RIB_GENERIC_ADDPATH: Final = 12
EXTENDED_LENGTH: Final = 0x10


class RecordDecodeError(Exception):
    """A whole record that mrtparse (or our BGP4MP_ENTRY reader) could not decode."""


def _lenient_val_addr(self: Any, af: int, plen: int = -1) -> str:
    """mrtparse's ``val_addr`` without the host-bit check: clears host bits instead."""
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
    if plen % 8:
        buf[-1] &= (0xFF << (8 - plen % 8)) & 0xFF
    self.p += n
    return socket.inet_ntop(family, bytes(buf) + b"\x00" * (plen_max // 8 - n))


_MRTPARSE_ATTR_UNPACK: Final = mrtparse.BgpAttr.unpack


def _unpack_attr_framed(self: Any) -> int:
    """``BgpAttr.unpack`` that frames by the attribute length (RFC 4271 §4.3) and keeps bytes.

    mrtparse returns how far its value decoder read, which for a malformed value (an ORIGIN of
    length 0, a NEXT_HOP of length 5) is not where the next attribute starts; the length field
    is. An attribute running past the buffer is an error rather than a silent short read.
    """
    _MRTPARSE_ATTR_UNPACK(self)
    data = self.data
    start = 4 if data["flag"] & EXTENDED_LENGTH else 3
    end = start + data["length"]
    if end > len(self.buf):
        raise mrt_base.MrtFormatError(
            f"attribute type {_first_key(data['type'])} of length {data['length']} runs past "
            f"the {len(self.buf)} bytes left"
        )
    data["raw_value"] = bytes(self.buf[start:end])
    self.p = end
    return int(end)


def _first_key(d: Any) -> int:
    return int(next(iter(d)))


mrtparse.BgpAttr.unpack = _unpack_attr_framed


@contextmanager
def _host_bits_cleared() -> Iterator[None]:
    # mrtparse keeps its decoder state in module globals already, so it is single-threaded
    # by nature; swapping one method for the duration of one record adds no new hazard.
    cls = mrt_base.Base
    strict = cls.val_addr
    cls.val_addr = _lenient_val_addr
    try:
        yield
    finally:
        cls.val_addr = strict


def _mrtparse(raw: bytes) -> dict[str, Any]:
    entry = next(mrtparse.Reader(io.BytesIO(raw)))
    if entry.err:
        raise RecordDecodeError(str(entry.err_msg))
    data: dict[str, Any] = entry.data
    return data


def decode_record(raw: bytes, mrt_type: int, subtype: int) -> dict[str, Any]:
    """mrtparse's dict for one record (header + body); :class:`RecordDecodeError` if it can't."""
    if mrt_type in BGP4MP_TYPES and subtype == BGP4MP_ENTRY:
        return decode_bgp4mp_entry(raw)
    if mrt_type == TABLE_DUMP_V2 and subtype in (RIB_GENERIC, RIB_GENERIC_ADDPATH):
        return decode_rib_generic(raw)
    try:
        return _mrtparse(raw)
    except Exception as first:  # mrtparse raises more than MrtFormatError on bad input
        try:
            with _host_bits_cleared():
                return _mrtparse(raw)
        except Exception:
            pass
        if isinstance(first, RecordDecodeError):
            raise first
        raise RecordDecodeError(f"{type(first).__name__}: {first}") from first


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
    pbuf = bytearray(body[p : p + nbytes])
    if len(pbuf) != nbytes:
        raise ValueError("prefix runs past the record")
    p += nbytes
    network = ipaddress.ip_network(
        (bytes(pbuf) + b"\x00" * (max_len // 8 - nbytes), plen), strict=False
    )
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
    pbuf = body[p + 1 : p + 1 + nbytes]
    if len(pbuf) != nbytes:
        raise ValueError("prefix runs past the record")
    p += 1 + nbytes
    network = ipaddress.ip_network(
        (bytes(pbuf) + b"\x00" * (max_len // 8 - nbytes), plen), strict=False
    )
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
