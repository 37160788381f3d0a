/* table_dump.c: MRT type 12, TABLE_DUMP (RFC 6396 4.2): one RIB entry per record, 2-byte AS
 * numbers, the subtype its AFI. */
#include "fastmrt.h"

/* TABLE_DUMP (v1), subtype = AFI */
int do_td1(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len, int64_t index) {
    if (st != 1 && st != 2) return FALLBACK;
    size_t alen_ = st == 1 ? 4 : 16;
    /* view, seq, prefix, length, status, originated, peer ip, peer as, attr len */
    size_t fixed = 4 + alen_ + 1 + 1 + 4 + alen_ + 2 + 2;
    if (len < fixed) return FALLBACK;
    size_t pos = 4;
    char prefix[64];
    uint8_t addr[16];
    memcpy(addr, p + pos, alen_);
    int plen = p[pos + alen_];
    if ((size_t)plen <= alen_ * 8) { /* the whole address is stored: clear every host bit */
        int changed = mask_host_bits(addr, plen);
        size_t whole = (size_t)(plen + 7) / 8;
        for (size_t i = whole; i < alen_; i++) {
            changed |= addr[i] != 0;
            addr[i] = 0;
        }
        c->masked += changed;
    }
    int n = fmt_addr(prefix, addr, st);
    if (n < 0) return FALLBACK;
    pos += alen_;
    prefix[n++] = '/';
    n += fmt_u32(prefix + n, p[pos]);
    pos += 2; /* length, status */
    uint32_t orig = rd32(p + pos);
    pos += 4;
    char peer[48];
    int pn;
    if (st == 2) {
        int nonzero = 0;
        for (int i = 4; i < 16; i++) nonzero |= p[pos + i];
        pn = fmt_addr(peer, p + pos, nonzero ? 2 : 1);
    } else {
        pn = fmt_addr(peer, p + pos, 1);
    }
    if (pn < 0) return FALLBACK;
    pos += alen_;
    uint32_t peer_as = rd16(p + pos);
    size_t alen = rd16(p + pos + 2);
    pos += 4;
    if (len - pos != alen) return FALLBACK;
    uint32_t tag = (uint32_t)CTX_TD1 << 8;
    uint64_t hash = 0;
    const AttrEnc *ae = ac_get(c, p + pos, alen, tag, &hash);
    if (!ae) {
        int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, p + pos, alen, 2, CTX_TD1,
                             0, &c->attrs);
        if (rr) return rr;
        if (encode_attrs(c, &c->attrs, 1, 2)) return PYERR;
        ac_put(c, p + pos, alen, tag, hash);
        ae = &c->ae;
    }
    Peer pe;
    enc_peer(&pe, peer, (size_t)pn);
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000;
    r.mrt_type = "TABLE_DUMP";
    r.mrt_type_len = 10;
    r.entry = "B";
    r.entry_len = 1;
    r.peer_enc = pe.enc;
    r.peer_enc_len = pe.enc_len;
    r.peer_asn = peer_as;
    r.prefix = prefix;
    r.prefix_len = n;
    r.has_orig = 1;
    r.orig = (int64_t)orig * 1000000;
    r.record_index = index;
    r.ae = ae;
    r.nh_which = ae->nh_mp;
    return emit_row(c, &r);
}
