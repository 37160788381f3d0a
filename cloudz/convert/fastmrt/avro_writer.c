/* avro_writer.c: one row, Avro binary-encoded (Avro 1.11) in the schema's field order, into the
 * current block; its attribute columns copied from an attribute set's encoding. */
#include "fastmrt.h"

/* The attribute column that follows each one in an AttrEnc's bytes (encode_attrs, attrs.c,
 * writes them in this order), or -1: where the schema lists them in the same order, a row
 * copies them with one memcpy (5M small copies were ~2 % of a RIB's instructions). */
static int next_enc(int f) {
    switch (f) {
    case F_AS_PATH:
        return F_ORIGIN;
    case F_LOCAL_PREF:
        return F_MED;
    case F_MED:
        return F_ATOMIC;
    case F_ATOMIC:
        return F_AGGREGATOR;
    case F_AGGREGATOR:
        return F_COMMUNITIES;
    case F_COMMUNITIES:
        return F_LARGE;
    case F_LARGE:
        return F_EXT;
    case F_EXT:
        return F_OTC;
    case F_OTC:
        return F_OTHER;
    case F_AS_PATH_ASNS:
        return F_ORIGIN_ASNS;
    case F_ORIGIN_ASNS:
        return F_AGGR_ASN;
    case F_AGGR_ASN:
        return F_AGGR_IP;
    default:
        return -1;
    }
}

void plan_runs(Conv *c) {
    for (int i = c->nfields - 1; i >= 0; i--) {
        int f = c->fields[i];
        c->run[i] = 1;
        if (i + 1 < c->nfields && next_enc(f) >= 0 && c->fields[i + 1] == next_enc(f))
            c->run[i] = (uint8_t)(1 + c->run[i + 1]);
    }
}

int emit_row(Conv *c, const Row *r) {
    if (c->has_window && (r->ts < c->win_lo || r->ts >= c->win_hi)) {
        c->time_dropped++; /* dated outside the file's window: counted, not written */
        return OK;
    }
    size_t bound = 200 + c->collector.len + c->source_path.len + c->source_sha.len +
                   r->mrt_type_len + r->entry_len + r->peer_enc_len +
                   (r->prefix_len > 0 ? (size_t)r->prefix_len : 0);
    if (r->ae) bound += r->ae->enc.len;
    if (buf_reserve(&c->out, bound)) return PYERR;
    uint8_t *o = c->out.p + c->out.len;
    const AttrEnc *ae = r->ae;
    for (int i = 0; i < c->nfields; i++) {
        int f = c->fields[i];
        switch (f) {
        case F_TIMESTAMP:
            o = put_long(o, r->ts);
            break;
        case F_COLLECTOR:
            memcpy(o, c->collector.p, c->collector.len);
            o += c->collector.len;
            break;
        case F_SOURCE_PATH:
            memcpy(o, c->source_path.p, c->source_path.len);
            o += c->source_path.len;
            break;
        case F_SOURCE_SHA:
            memcpy(o, c->source_sha.p, c->source_sha.len);
            o += c->source_sha.len;
            break;
        case F_MRT_TYPE:
            o = put_str(o, r->mrt_type, r->mrt_type_len);
            break;
        case F_ENTRY_TYPE:
            o = put_str(o, r->entry, r->entry_len);
            break;
        case F_PEER_IP:
            memcpy(o, r->peer_enc, r->peer_enc_len);
            o += r->peer_enc_len;
            break;
        case F_PEER_ASN:
            o = put_long(o, r->peer_asn);
            break;
        case F_PREFIX:
            if (r->prefix_len < 0) {
                *o++ = 0;
            } else {
                *o++ = 2;
                o = put_str(o, r->prefix, (size_t)r->prefix_len);
            }
            break;
        case F_PATH_ID:
            if (r->has_path_id) {
                *o++ = 2;
                o = put_long(o, r->path_id);
            } else {
                *o++ = 0;
            }
            break;
        case F_NEXT_HOP:
            if (ae) {
                memcpy(o, ae->enc.p + ae->nh_off[r->nh_which], ae->nh_len[r->nh_which]);
                o += ae->nh_len[r->nh_which];
            } else {
                *o++ = 0;
            }
            break;
        case F_AS_PATH:
        case F_ORIGIN:
        case F_LOCAL_PREF:
        case F_MED:
        case F_ATOMIC:
        case F_AGGREGATOR:
        case F_COMMUNITIES:
        case F_LARGE:
        case F_EXT:
        case F_OTC:
        case F_OTHER:
        case F_AS_PATH_ASNS:
        case F_ORIGIN_ASNS:
        case F_AGGR_ASN:
        case F_AGGR_IP: {
            int n = c->run[i];
            if (ae) {
                int last = c->fields[i + n - 1];
                size_t from = ae->off[f], len = ae->off[last] + ae->len[last] - from;
                memcpy(o, ae->enc.p + from, len);
                o += len;
            } else {
                memset(o, 0, (size_t)n); /* null branch, false, empty array: one 0 each */
                o += n;
            }
            i += n - 1;
            break;
        }
        case F_OLD_STATE:
        case F_NEW_STATE:
            if (r->has_state) {
                *o++ = 2;
                o = put_long(o, f == F_OLD_STATE ? r->old_state : r->new_state);
            } else {
                *o++ = 0;
            }
            break;
        case F_ORIGINATED:
            if (r->has_orig) {
                *o++ = 2;
                o = put_long(o, r->orig);
            } else {
                *o++ = 0;
            }
            break;
        case F_RECORD_INDEX:
            o = put_long(o, r->record_index);
            break;
        case F_IP_VERSION: /* of the prefix; null without one (STATE rows) */
            if (r->prefix_len < 0) {
                *o++ = 0;
            } else {
                *o++ = 2;
                *o++ = memchr(r->prefix, ':', (size_t)r->prefix_len) ? 12 : 8; /* 6, 4 */
            }
            break;
        case F_ROW_INDEX:
            o = put_long(o, c->rows);
            break;
        }
    }
    c->out.len = (size_t)(o - c->out.p);
    c->rows++;
    c->block_rows++;
    if (!c->have_ts || r->ts < c->ts_min) c->ts_min = r->ts;
    if (!c->have_ts || r->ts > c->ts_max) c->ts_max = r->ts;
    c->have_ts = 1;
    return OK;
}

void enc_peer(Peer *pe, const char *ip, size_t n) {
    uint8_t *o = put_str(pe->enc, ip, n);
    pe->enc_len = (uint8_t)(o - pe->enc);
}
