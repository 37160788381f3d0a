/* bgp4mp.c: MRT types 16, BGP4MP, and 17, BGP4MP_ET (RFC 6396 4.4, 4.5; RFC 8050 ADD-PATH):
 * STATE_CHANGE rows, and the UPDATE messages' rows (withdrawals, then announcements);
 * other messages give no rows. */
#include "fastmrt.h"

static int emit_pfx_list(Conv *c, Row *r, int afi) {
    char prefix[64];
    for (size_t i = 0; i < c->pfx.n; i++) {
        const Pfx *x = &c->pfx.v[i];
        int n = fmt_prefix(prefix, x, afi);
        if (n < 0) return FALLBACK;
        r->prefix = prefix;
        r->prefix_len = n;
        r->has_path_id = x->has_path_id;
        r->path_id = x->path_id;
        if (emit_row(c, r)) return PYERR;
    }
    return OK;
}

/* cloudz.convert.rows._is_update, on header + body */
static int is_update(const uint8_t *raw, size_t rawlen, int t, int st) {
    size_t p = 12 + (t == BGP4MP_ET ? 4 : 0);
    p += (st == 1 || st == 6 || st == 8 || st == 10) ? 4 : 8;
    if (rawlen < p + 4) return 1;
    int afi = (int)rd16(raw + p + 2);
    p += 4 + (afi == 1 ? 8 : 32);
    p += 18;
    return rawlen <= p || raw[p] == 2;
}

int do_bgp4mp(Conv *c, uint32_t ts, int t, int st, const uint8_t *raw, size_t rawlen,
              int64_t index) {
    const uint8_t *p = raw + 12;
    size_t len = rawlen - 12, pos = 0;
    int64_t micros = 0;
    int is_state = st == 0 || st == 5;
    if (!is_state && !is_update(raw, rawlen, t, st)) return OK; /* OPEN, KEEPALIVE...: no rows */
    if (t == BGP4MP_ET) {
        if (len < 4) return FALLBACK;
        micros = rd32(p);
        if (micros > 999999) return FALLBACK; /* no fraction of a second: rows.py repairs it */
        pos = 4;
    }
    int as_w = (st == 0 || st == 1 || st == 6 || st == 8 || st == 10) ? 2 : 4;
    if (len - pos < (size_t)(2 * as_w + 4)) return FALLBACK;
    uint32_t peer_as = as_w == 2 ? rd16(p + pos) : rd32(p + pos);
    pos += (size_t)(2 * as_w) + 2;
    int afi = (int)rd16(p + pos);
    pos += 2;
    if (afi != 1 && afi != 2) return FALLBACK;
    size_t al = afi == 1 ? 4 : 16;
    if (len - pos < 2 * al) return FALLBACK;
    const uint8_t *peer_ip = p + pos;
    pos += 2 * al;
    int et = t == BGP4MP_ET;
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000 + micros;
    r.record_index = index;
    char ip[48];
    Peer pe;
    if (is_state) {
        if (len - pos < 4) return FALLBACK;
        int n = fmt_addr(ip, peer_ip, afi);
        if (n < 0) return FALLBACK;
        enc_peer(&pe, ip, (size_t)n);
        r.mrt_type = et ? "BGP4MP_ET" : "BGP4MP";
        r.mrt_type_len = strlen(r.mrt_type);
        r.entry = "STATE";
        r.entry_len = 5;
        r.peer_enc = pe.enc;
        r.peer_enc_len = pe.enc_len;
        r.peer_asn = peer_as;
        r.prefix_len = -1;
        r.has_state = 1;
        r.old_state = (int)rd16(p + pos);
        r.new_state = (int)rd16(p + pos + 2);
        return emit_row(c, &r);
    }
    if (st != 1 && st != 4 && !(st >= 6 && st <= 11)) return FALLBACK;
    /* BGP message: marker, length, type, then the UPDATE */
    const uint8_t *m = p + pos;
    size_t mlen = len - pos;
    if (mlen < 23) return FALLBACK;
    if (rd16(m + 16) != mlen || m[18] != 2) return FALLBACK;
    size_t mp = 19;
    size_t wlen = rd16(m + mp);
    mp += 2;
    if (mlen - mp < wlen + 2) return FALLBACK;
    const uint8_t *wd = m + mp;
    mp += wlen;
    size_t alen = rd16(m + mp);
    mp += 2;
    if (mlen - mp < alen) return FALLBACK;
    const uint8_t *at = m + mp;
    mp += alen;
    const uint8_t *nlri = m + mp;
    size_t nlri_len = mlen - mp;
    int addpath = st >= 8;
    int local = st == 6 || st == 7 || st == 10 || st == 11;
    int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, at, alen, as_w, CTX_MSG, 0,
                         &c->attrs);
    if (rr) return rr;
    const Attrs *a = &c->attrs;
    char mt[32];
    int mtl = snprintf(mt, sizeof mt, "BGP4MP%s%s%s", et ? "_ET" : "", local ? "_LOCAL" : "",
                       addpath ? "_AP" : "");
    /* *_LOCAL too: the peer's fields, as bgpdump 1.6.2 prints them (rows.py) */
    int n = fmt_addr(ip, peer_ip, afi);
    if (n < 0) return FALLBACK;
    enc_peer(&pe, ip, (size_t)n);
    r.mrt_type = mt;
    r.mrt_type_len = (size_t)mtl;
    r.peer_enc = pe.enc;
    r.peer_enc_len = pe.enc_len;
    r.peer_asn = peer_as;
    /* withdrawals: IPv4, then MP_UNREACH */
    r.entry = "W";
    r.entry_len = 1;
    if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, wd, wlen, 1, addpath, &c->masked)))
        return rr;
    if ((rr = emit_pfx_list(c, &r, 1))) return rr;
    if (a->has_mp_unreach) {
        if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, a->mpu_nlri, a->mpu_nlri_len,
                             a->mpu_afi, addpath, &c->masked)))
            return rr;
        if ((rr = emit_pfx_list(c, &r, a->mpu_afi))) return rr;
    }
    /* announcements: IPv4 with NEXT_HOP, then MP_REACH with its next hop */
    if (encode_attrs(c, a, as_w == 2, as_w)) return PYERR;
    r.entry = "A";
    r.ae = &c->ae;
    r.nh_which = 0;
    if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, nlri, nlri_len, 1, addpath,
                         &c->masked)))
        return rr;
    if ((rr = emit_pfx_list(c, &r, 1))) return rr;
    if (a->has_mp_reach) {
        r.nh_which = 1;
        if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, a->mp_nlri, a->mp_nlri_len,
                             a->mp_afi, addpath, &c->masked)))
            return rr;
        if ((rr = emit_pfx_list(c, &r, a->mp_afi))) return rr;
    }
    return OK;
}
