/* attr_04_05_med_local_pref.c: path attributes 4, MULTI_EXIT_DISC, and 5, LOCAL_PREF
 * (RFC 4271 5.1.4, 5.1.5): one 32-bit number each. */
#include "fastmrt.h"

int attr_04_med_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen != 4) return FALLBACK;
    a->has_med = 1;
    a->med = rd32(v);
    return OK;
}

int attr_04_med_encode(Buf *b, const Attrs *a) {
    if (a->has_med ? (b_byte(b, 2) || b_long(b, a->med)) : b_byte(b, 0)) return PYERR;
    return OK;
}

int attr_05_local_pref_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen != 4) return FALLBACK;
    a->has_lp = 1;
    a->lp = rd32(v);
    return OK;
}

int attr_05_local_pref_encode(Buf *b, const Attrs *a) {
    if (a->has_lp ? (b_byte(b, 2) || b_long(b, a->lp)) : b_byte(b, 0)) return PYERR;
    return OK;
}
