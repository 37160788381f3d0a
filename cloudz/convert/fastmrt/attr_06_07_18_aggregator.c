/* attr_06_07_18_aggregator.c: path attributes 6, ATOMIC_AGGREGATE, 7, AGGREGATOR, and 18,
 * AS4_AGGREGATOR (RFC 4271 5.1.6, 5.1.7; RFC 6793 4.2.3): the aggregator column is "ASN IP",
 * AS4_AGGREGATOR's when a 2-byte-AS record's AGGREGATOR says AS_TRANS (23456). */
#include "fastmrt.h"

int attr_06_atomic_aggregate_parse(Attrs *a, const uint8_t *v, size_t alen) {
    a->atomic = 1;
    return OK;
}

int attr_06_atomic_aggregate_encode(Buf *b, const Attrs *a) {
    return b_byte(b, a->atomic ? 1 : 0) ? PYERR : OK;
}

/* 2-byte AS when shorter than 8 (mrtparse) */
int attr_07_aggregator_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen == 6) {
        a->aggr_as = rd16(v);
        a->aggr_ip = v + 2;
    } else if (alen == 8) {
        a->aggr_as = rd32(v);
        a->aggr_ip = v + 4;
    } else {
        return FALLBACK;
    }
    a->has_aggr = 1;
    return OK;
}

int attr_18_as4_aggregator_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (alen != 8) return FALLBACK;
    a->has_as4aggr = 1;
    a->as4aggr_as = rd32(v);
    a->as4aggr_ip = v + 4;
    return OK;
}

/* the aggregator the row shows: AS4_AGGREGATOR's in place of a 2-byte record's AS_TRANS */
static int pick(const Attrs *a, int two_byte_as, uint32_t *aggr_as, const uint8_t **aggr_ip) {
    *aggr_as = a->aggr_as;
    *aggr_ip = a->aggr_ip;
    if (two_byte_as && a->has_aggr && a->has_as4aggr && a->aggr_as == 23456) {
        *aggr_as = a->as4aggr_as;
        *aggr_ip = a->as4aggr_ip;
    }
    return a->has_aggr;
}

int attr_07_18_aggregator_asn_encode(Buf *b, const Attrs *a, int two_byte_as) {
    uint32_t aggr_as;
    const uint8_t *aggr_ip;
    if (!pick(a, two_byte_as, &aggr_as, &aggr_ip)) return b_byte(b, 0) ? PYERR : OK;
    if (buf_reserve(b, 11)) return PYERR;
    b->p[b->len++] = 2;
    b->len = (size_t)(put_long(b->p + b->len, aggr_as) - b->p);
    return OK;
}

int attr_07_18_aggregator_ip_encode(Buf *b, const Attrs *a, int two_byte_as) {
    uint32_t aggr_as;
    const uint8_t *aggr_ip;
    if (!pick(a, two_byte_as, &aggr_as, &aggr_ip)) return b_byte(b, 0) ? PYERR : OK;
    char tmp[20];
    int n = fmt_addr(tmp, aggr_ip, 1);
    return b_byte(b, 2) || b_str(b, tmp, (size_t)n) ? PYERR : OK;
}

int attr_07_18_aggregator_encode(Buf *b, const Attrs *a, int two_byte_as) {
    uint32_t aggr_as;
    const uint8_t *aggr_ip;
    int has_aggr = pick(a, two_byte_as, &aggr_as, &aggr_ip);
    if (has_aggr) {
        char tmp[32];
        int n = fmt_u32(tmp, aggr_as);
        tmp[n++] = ' ';
        n += fmt_addr(tmp + n, aggr_ip, 1);
        if (b_byte(b, 2) || b_str(b, tmp, (size_t)n)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    return OK;
}
