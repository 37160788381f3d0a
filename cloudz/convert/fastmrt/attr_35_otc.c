/* attr_35_otc.c: path attribute 35, ONLY_TO_CUSTOMER (RFC 9234): one 32-bit AS number. */
#include "fastmrt.h"

int attr_35_otc_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen != 4) return FALLBACK;
    a->has_otc = 1;
    a->otc = rd32(v);
    return OK;
}

int attr_35_otc_encode(Buf *b, const Attrs *a) {
    if (a->has_otc ? (b_byte(b, 2) || b_long(b, a->otc)) : b_byte(b, 0)) return PYERR;
    return OK;
}
