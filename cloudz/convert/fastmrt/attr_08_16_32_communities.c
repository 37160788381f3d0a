/* attr_08_16_32_communities.c: path attributes 8, COMMUNITIES (RFC 1997: "AS:value"), 16,
 * EXTENDED_COMMUNITIES (RFC 4360: 16 hex digits) and 32, LARGE_COMMUNITY (RFC 8092:
 * "a:b:c"); each column an array of strings, empty when absent. */
#include "fastmrt.h"

int attr_08_communities_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen % 4) return FALLBACK;
    a->comm = v;
    a->comm_len = alen;
    return OK;
}

int attr_08_communities_encode(Buf *b, const Attrs *a) {
    if (a->comm_len) {
        size_t n = a->comm_len / 4;
        if (b_long(b, (int64_t)n) || buf_reserve(b, n * 13)) return PYERR;
        for (size_t i = 0; i < n; i++) {
            char tmp[12];
            uint32_t v = rd32(a->comm + 4 * i);
            int l = fmt_u32(tmp, v >> 16);
            tmp[l++] = ':';
            l += fmt_u32(tmp + l, v & 0xFFFF);
            b->p[b->len++] = (uint8_t)(l * 2); /* zigzag of l < 64: one varint byte */
            memcpy(b->p + b->len, tmp, (size_t)l);
            b->len += (size_t)l;
        }
    }
    if (b_byte(b, 0)) return PYERR;
    return OK;
}

int attr_16_ext_communities_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen % 8) return FALLBACK;
    a->ext = v;
    a->ext_len = alen;
    return OK;
}

int attr_16_ext_communities_encode(Buf *b, const Attrs *a) {
    if (a->ext_len) {
        static const char hex[] = "0123456789abcdef";
        size_t n = a->ext_len / 8;
        if (b_long(b, (int64_t)n) || buf_reserve(b, n * 17)) return PYERR;
        for (size_t i = 0; i < n; i++) {
            b->p[b->len++] = 32; /* zigzag(16) */
            for (int j = 0; j < 8; j++) {
                uint8_t x = a->ext[8 * i + j];
                b->p[b->len++] = (uint8_t)hex[x >> 4];
                b->p[b->len++] = (uint8_t)hex[x & 15];
            }
        }
    }
    if (b_byte(b, 0)) return PYERR;
    return OK;
}

int attr_32_large_communities_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen % 12) return FALLBACK;
    a->large = v;
    a->large_len = alen;
    return OK;
}

int attr_32_large_communities_encode(Buf *b, const Attrs *a) {
    if (a->large_len) {
        size_t n = a->large_len / 12;
        if (b_long(b, (int64_t)n) || buf_reserve(b, n * 34)) return PYERR;
        for (size_t i = 0; i < n; i++) {
            char tmp[36];
            const uint8_t *q = a->large + 12 * i;
            int l = fmt_u32(tmp, rd32(q));
            tmp[l++] = ':';
            l += fmt_u32(tmp + l, rd32(q + 4));
            tmp[l++] = ':';
            l += fmt_u32(tmp + l, rd32(q + 8));
            b->p[b->len++] = (uint8_t)(l * 2); /* zigzag of l < 64 */
            memcpy(b->p + b->len, tmp, (size_t)l);
            b->len += (size_t)l;
        }
    }
    if (b_byte(b, 0)) return PYERR;
    return OK;
}
