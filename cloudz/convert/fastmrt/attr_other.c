/* attr_other.c: every attribute without a column of its own, kept raw (type, flags, value) in
 * other_attributes: checked first where mrtparse checks them (9, ORIGINATOR_ID, RFC 4456; 10,
 * CLUSTER_LIST; 26, AIGP, RFC 7311), any other code as it is. 128, ATTR_SET (RFC 6368), is
 * left to the reference (attrs.c). */
#include "fastmrt.h"

/* AIGP: TLVs exactly filling the attribute, each at least 3 bytes */
static int check_aigp(const uint8_t *p, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 3) return FALLBACK;
        size_t l = rd16(p + pos + 1);
        if (l < 3 || l > len - pos) return FALLBACK;
        pos += l;
    }
    return OK;
}

/* OK when mrtparse would read this value as it is, else FALLBACK */
int attr_other_check(int type, const uint8_t *v, size_t alen) {
    switch (type) {
    case 9: /* ORIGINATOR_ID */
        if (alen != 4) return FALLBACK;
        break;
    case 10: /* CLUSTER_LIST */
        if (alen % 4) return FALLBACK;
        break;
    case 26: /* AIGP */
        if (check_aigp(v, alen)) return FALLBACK;
        break;
    }
    return OK;
}

int attr_other_keep(RawAttr **others, size_t *nothers, size_t *others_cap, uint8_t type,
                    uint8_t flags, const uint8_t *v, size_t alen) {
    if (*nothers == *others_cap) {
        size_t nc = *others_cap ? *others_cap * 2 : 16;
        RawAttr *q = PyMem_Realloc(*others, nc * sizeof(RawAttr));
        if (!q) {
            PyErr_NoMemory();
            return PYERR;
        }
        *others = q;
        *others_cap = nc;
    }
    (*others)[*nothers].type = type;
    (*others)[*nothers].flags = flags;
    (*others)[*nothers].val = v;
    (*others)[*nothers].len = (uint32_t)alen;
    (*nothers)++;
    return OK;
}

int attr_other_encode(Buf *b, const RawAttr *others, size_t nothers) {
    if (nothers) {
        if (b_long(b, (int64_t)nothers)) return PYERR;
        for (size_t i = 0; i < nothers; i++) {
            const RawAttr *x = &others[i];
            if (b_long(b, x->type) || b_long(b, x->flags) || b_long(b, x->len) ||
                buf_reserve(b, x->len))
                return PYERR;
            memcpy(b->p + b->len, x->val, x->len);
            b->len += x->len;
        }
    }
    if (b_byte(b, 0)) return PYERR;
    return OK;
}
