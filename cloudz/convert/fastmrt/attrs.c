/* attrs.c: a path attribute list (RFC 4271 4.3): each attribute's header read here, its value
 * by its own part (attr_<type code>_*.c), and the attribute columns of one set written in the
 * order the attribute-set cache keeps them. */
#include "fastmrt.h"

/* rib_afi: TD2 only, the AFI of the RIB subtype (abbreviated MP_REACH next hop) */
int parse_attrs(RawAttr **others, size_t *nothers, size_t *others_cap, const uint8_t *p,
                size_t len, int as_w, int ctx, int rib_afi, Attrs *a) {
    size_t pos = 0;
    memset(a, 0, sizeof *a);
    *nothers = 0;
    while (pos < len) {
        if (len - pos < 3) return FALLBACK;
        uint8_t flags = p[pos], type = p[pos + 1];
        size_t alen, hl;
        if (flags & 0x10) {
            if (len - pos < 4) return FALLBACK;
            alen = rd16(p + pos + 2);
            hl = 4;
        } else {
            alen = p[pos + 2];
            hl = 3;
        }
        if (len - pos - hl < alen) return FALLBACK;
        const uint8_t *v = p + pos + hl;
        pos += hl + alen;
        if (a->seen[type >> 3] & (1 << (type & 7))) return FALLBACK;
        a->seen[type >> 3] |= (uint8_t)(1 << (type & 7));
        int r;
        switch (type) {
        case 1:
            r = attr_01_origin_parse(a, v, alen);
            break;
        case 2:
            r = attr_02_as_path_parse(a, v, alen, as_w);
            break;
        case 3:
            r = attr_03_next_hop_parse(a, v, alen);
            break;
        case 4:
            r = attr_04_med_parse(a, v, alen);
            break;
        case 5:
            r = attr_05_local_pref_parse(a, v, alen);
            break;
        case 6:
            r = attr_06_atomic_aggregate_parse(a, v, alen);
            break;
        case 7:
            r = attr_07_aggregator_parse(a, v, alen);
            break;
        case 8:
            r = attr_08_communities_parse(a, v, alen);
            break;
        case 14:
            r = attr_14_mp_reach_parse(a, v, alen, ctx, rib_afi);
            break;
        case 15:
            r = attr_15_mp_unreach_parse(a, v, alen, ctx);
            break;
        case 16:
            r = attr_16_ext_communities_parse(a, v, alen);
            break;
        case 17:
            r = attr_17_as4_path_parse(a, v, alen);
            break;
        case 18:
            r = attr_18_as4_aggregator_parse(a, v, alen);
            break;
        case 32:
            r = attr_32_large_communities_parse(a, v, alen);
            break;
        case 35:
            r = attr_35_otc_parse(a, v, alen);
            break;
        case 128: /* ATTR_SET: mrtparse recurses; leave it to the reference */
            return FALLBACK;
        default: /* kept raw (attr_other.c): 9, 10, 26 checked first */
            if (attr_other_check(type, v, alen)) return FALLBACK;
            r = attr_other_keep(others, nothers, others_cap, type, flags, v, alen);
            break;
        }
        if (r) return r;
    }
    return OK;
}

/* one column: its bytes in ae->enc at off[f], len[f] */
#define COLUMN(f, call)                                                                        \
    do {                                                                                       \
        ae->off[f] = b->len;                                                                   \
        if (call) return PYERR;                                                                \
        ae->len[f] = b->len - ae->off[f];                                                      \
    } while (0)

/* encode the attribute columns of one attribute set into c->ae */
int encode_attrs(Conv *c, const Attrs *a, int two_byte_as, int as_w) {
    AttrEnc *ae = &c->ae;
    Buf *b = &ae->enc;
    b->len = 0;
    COLUMN(F_AS_PATH, attr_02_17_as_path_encode(c, b, a, two_byte_as, as_w));
    COLUMN(F_ORIGIN, attr_01_origin_encode(b, a));
    /* next hops: NEXT_HOP's, MP_REACH's; a row takes one (nh_which) */
    ae->nh_off[0] = b->len;
    if (attr_03_next_hop_encode(b, a)) return PYERR;
    ae->nh_len[0] = b->len - ae->nh_off[0];
    ae->nh_off[1] = b->len;
    if (attr_14_mp_reach_next_hop_encode(b, a)) return PYERR;
    ae->nh_len[1] = b->len - ae->nh_off[1];
    ae->nh_mp = a->has_mp_reach;
    COLUMN(F_LOCAL_PREF, attr_05_local_pref_encode(b, a));
    COLUMN(F_MED, attr_04_med_encode(b, a));
    COLUMN(F_ATOMIC, attr_06_atomic_aggregate_encode(b, a));
    COLUMN(F_AGGREGATOR, attr_07_18_aggregator_encode(b, a, two_byte_as));
    COLUMN(F_COMMUNITIES, attr_08_communities_encode(b, a));
    COLUMN(F_LARGE, attr_32_large_communities_encode(b, a));
    COLUMN(F_EXT, attr_16_ext_communities_encode(b, a));
    COLUMN(F_OTC, attr_35_otc_encode(b, a));
    COLUMN(F_OTHER, attr_other_encode(b, c->others, c->nothers));
    /* the research columns: the AS path as numbers (c->path, set by the AS path's encoding
     * above), the aggregator apart */
    COLUMN(F_AS_PATH_ASNS, attr_02_17_as_path_asns_encode(b, c->path));
    COLUMN(F_ORIGIN_ASNS, attr_02_17_origin_asns_encode(b, c->path));
    COLUMN(F_AGGR_ASN, attr_07_18_aggregator_asn_encode(b, a, two_byte_as));
    COLUMN(F_AGGR_IP, attr_07_18_aggregator_ip_encode(b, a, two_byte_as));
    return OK;
}
