/* table_dump_v2.c: MRT type 13, TABLE_DUMP_V2 (RFC 6396 4.3; RFC 8050 ADD-PATH): RIB entries,
 * one row per peer entry. The PEER_INDEX_TABLE (subtype 1) is read in Python (peer_index.py)
 * and handed to the converter (set_peers). */
#include "fastmrt.h"

/* TABLE_DUMP_V2 RIB_IPV{4,6}_{UNICAST,MULTICAST}[_ADDPATH] */
int do_td2_rib(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len, int64_t index) {
    if (!c->have_peers) return FALLBACK;
    int generic = st == 6 || st == 12;
    int addpath = st >= 8;
    int afi = (st == 2 || st == 3 || st == 8 || st == 9) ? 1 : 2;
    size_t pos = 5;
    if (generic) { /* sequence, AFI (2), SAFI, prefix length, prefix (decode.py) */
        if (len < 8) return FALLBACK;
        afi = (int)rd16(p + 4);
        int safi = p[6];
        if ((afi != 1 && afi != 2) || safi < 1 || safi > 3) return FALLBACK;
        pos = 8;
    } else if (len < 5) {
        return FALLBACK;
    }
    int plen = p[pos - 1];
    if (plen > (afi == 1 ? 32 : 128)) return FALLBACK;
    size_t nb = (size_t)(plen + 7) / 8;
    if (len - pos < nb + 2) return FALLBACK;
    Pfx x;
    memset(&x, 0, sizeof x);
    x.plen = (uint8_t)plen;
    memcpy(x.addr, p + pos, nb);
    c->masked += mask_host_bits(x.addr, plen);
    pos += nb;
    char prefix[64];
    int prefix_len = fmt_prefix(prefix, &x, afi);
    if (prefix_len < 0) return FALLBACK;
    size_t count = rd16(p + pos);
    pos += 2;
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000;
    r.mrt_type = addpath ? "TABLE_DUMP2_AP" : "TABLE_DUMP2";
    r.mrt_type_len = strlen(r.mrt_type);
    r.entry = "B";
    r.entry_len = 1;
    r.prefix = prefix;
    r.prefix_len = prefix_len;
    r.has_orig = 1;
    r.record_index = index;
    for (size_t e = 0; e < count; e++) {
        size_t need = addpath ? 12 : 8;
        if (len - pos < need) return FALLBACK;
        size_t pi = rd16(p + pos);
        uint32_t orig = rd32(p + pos + 2);
        pos += 6;
        if (addpath) {
            r.has_path_id = 1;
            r.path_id = rd32(p + pos);
            pos += 4;
        }
        size_t alen = rd16(p + pos);
        pos += 2;
        if (len - pos < alen) return FALLBACK;
        if (pi >= (size_t)c->npeers) return FALLBACK;
        uint32_t tag = (uint32_t)(CTX_TD2 << 8 | afi);
        uint64_t hash = 0;
        r.ae = ac_get(c, p + pos, alen, tag, &hash);
        if (!r.ae) {
            int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, p + pos, alen, 4,
                                 CTX_TD2, afi, &c->attrs);
            if (rr) return rr;
            if (c->attrs.mp_nlri) { /* a full MP_REACH: mrtparse decodes (and checks) its NLRI */
                rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, c->attrs.mp_nlri,
                                c->attrs.mp_nlri_len, afi, addpath, &c->masked);
                if (rr) return rr;
            }
            if (encode_attrs(c, &c->attrs, 0, 4)) return PYERR;
            if (!c->attrs.mp_nlri) ac_put(c, p + pos, alen, tag, hash);
            r.ae = &c->ae;
        }
        pos += alen;
        r.peer_enc = c->peers[pi].enc;
        r.peer_enc_len = c->peers[pi].enc_len;
        r.peer_asn = c->peers[pi].asn;
        r.orig = (int64_t)orig * 1000000;
        r.nh_which = r.ae->nh_mp;
        if (emit_row(c, &r)) return PYERR;
    }
    if (pos != len) return FALLBACK; /* trailing bytes: let the reference decide */
    return OK;
}
