"""Decode one whole MRT record (bytes) into mrtparse's dict form.

mrtparse's ``Reader`` only reads files, so each record framed by :mod:`cloudz.convert.framing`
is handed to it through a ``BytesIO``. Two gaps of mrtparse 2.2.0 are covered here:

* a prefix with host bits set ("10.0.0.1/8") makes mrtparse reject the whole record; the record
  is decoded again with a prefix reader that clears the host bits, so its routes are kept
  (stored in network form, "10.0.0.0/8");
* BGP4MP_ENTRY (OpenBGPD's RIB dumps) is not decoded at all; :func:`decode_bgp4mp_entry` reads
  its fixed fields and lets mrtparse decode the path attributes.
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
