/* attr_14_15_mp_reach.c: path attributes 14, MP_REACH_NLRI, and 15, MP_UNREACH_NLRI (RFC 4760):
 * AFI, SAFI, next hop and NLRI; in a TABLE_DUMP_V2 RIB entry also the abbreviated MP_REACH of
 * RFC 6396 4.3.4 (next hop only). The NLRI themselves are read by the record's part. */
#include "fastmrt.h"

/* rib_afi: TD2 only, the AFI of the RIB subtype (abbreviated MP_REACH next hop) */
int attr_14_mp_reach_parse(Attrs *a, const uint8_t *v, size_t alen, int ctx, int rib_afi) {
    if (ctx == CTX_TD2 && alen >= 2 && (rd16(v) == 1 || rd16(v) == 2 || rd16(v) == 25)) {
        /* mrtparse reads a full MP_REACH when it starts with a known AFI (Quagga
         * writes them); the caller checks its NLRI. Other AFIs than the RIB's would
         * change mrtparse's notion of the RIB's AFI: leave those to it. */
        if (alen < 5) return FALLBACK;
        int afi = (int)rd16(v), safi = v[2], nhl = v[3];
        if (afi != rib_afi || (safi != 1 && safi != 2)) return FALLBACK;
        if (!((afi == 1 && nhl == 4) || (afi == 2 && (nhl == 16 || nhl == 32))))
            return FALLBACK;
        if (alen < (size_t)4 + nhl + 1) return FALLBACK;
        a->mp_nh_len = fmt_addr(a->mp_nh, v + 4, afi);
        if (a->mp_nh_len < 0) return FALLBACK;
        a->has_mp_reach = 1;
        a->mp_afi = afi;
        a->mp_safi = safi;
        a->mp_nlri = v + 4 + nhl + 1;
        a->mp_nlri_len = alen - 4 - nhl - 1;
    } else if (ctx == CTX_TD2) {
        /* abbreviated form (RFC 6396 4.3.4): next hop length, next hop */
        if (alen < 1) return FALLBACK;
        int nhl = v[0];
        if (!((rib_afi == 1 && nhl == 4) || (rib_afi == 2 && (nhl == 16 || nhl == 32))))
            return FALLBACK;
        if (alen != (size_t)nhl + 1) return FALLBACK;
        a->mp_nh_len = fmt_addr(a->mp_nh, v + 1, rib_afi);
        if (a->mp_nh_len < 0) return FALLBACK;
        a->has_mp_reach = 1;
    } else if (ctx == CTX_MSG) {
        if (alen < 5) return FALLBACK;
        int afi = (int)rd16(v), safi = v[2], nhl = v[3];
        if (safi != 1 && safi != 2) return FALLBACK;
        if (!((afi == 1 && nhl == 4) || (afi == 2 && (nhl == 16 || nhl == 32))))
            return FALLBACK;
        if (alen < (size_t)4 + nhl + 1) return FALLBACK;
        a->mp_nh_len = fmt_addr(a->mp_nh, v + 4, afi);
        if (a->mp_nh_len < 0) return FALLBACK;
        a->has_mp_reach = 1;
        a->mp_afi = afi;
        a->mp_safi = safi;
        a->mp_nlri = v + 4 + nhl + 1;
        a->mp_nlri_len = alen - 4 - nhl - 1;
    } else {
        return FALLBACK;
    }
    return OK;
}

int attr_14_mp_reach_next_hop_encode(Buf *b, const Attrs *a) {
    if (a->has_mp_reach) {
        if (b_byte(b, 2) || b_str(b, a->mp_nh, (size_t)a->mp_nh_len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    return OK;
}

int attr_15_mp_unreach_parse(Attrs *a, const uint8_t *v, size_t alen, int ctx) {
    if (ctx != CTX_MSG || alen < 3) return FALLBACK;
    a->mpu_afi = (int)rd16(v);
    a->mpu_safi = v[2];
    if ((a->mpu_afi != 1 && a->mpu_afi != 2) || (a->mpu_safi != 1 && a->mpu_safi != 2))
        return FALLBACK;
    a->has_mp_unreach = 1;
    a->mpu_nlri = v + 3;
    a->mpu_nlri_len = alen - 3;
    return OK;
}
