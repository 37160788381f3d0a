/* attr_01_origin.c: path attribute 1, ORIGIN (RFC 4271 5.1.1): "IGP", "EGP", "INCOMPLETE", or
 * the number of any other value (as mrtparse and bgpdump leave it). */
#include "fastmrt.h"

int attr_01_origin_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen != 1) return FALLBACK;
    a->has_origin = 1;
    a->origin = v[0];
    return OK;
}

int attr_01_origin_encode(Buf *b, const Attrs *a) {
    if (a->has_origin) {
        static const char *names[3] = {"IGP", "EGP", "INCOMPLETE"};
        if (b_byte(b, 2)) return PYERR;
        if (a->origin < 3) {
            if (b_str(b, names[a->origin], strlen(names[a->origin]))) return PYERR;
        } else {
            char tmp[12];
            int n = fmt_u32(tmp, a->origin);
            if (b_str(b, tmp, (size_t)n)) return PYERR;
        }
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    return OK;
}
