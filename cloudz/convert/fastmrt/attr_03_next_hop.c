/* attr_03_next_hop.c: path attribute 3, NEXT_HOP (RFC 4271 5.1.3); a value of another length
 * than an address's is a null next hop (mrtparse). The MP_REACH next hop: attr_14_15. */
#include "fastmrt.h"

int attr_03_next_hop_parse(Attrs *a, const uint8_t *v, size_t alen) {
    a->has_nh = 1;
    if (alen == 4 || alen == 16) {
        a->nh_len = fmt_addr(a->nh, v, alen == 4 ? 1 : 2);
        if (a->nh_len < 0) return FALLBACK;
    } else {
        a->nh_null = 1;
    }
    return OK;
}

int attr_03_next_hop_encode(Buf *b, const Attrs *a) {
    if (a->has_nh && !a->nh_null) {
        if (b_byte(b, 2) || b_str(b, a->nh, (size_t)a->nh_len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    return OK;
}
