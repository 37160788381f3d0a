/*
 * _fastmrt: the hot loop of the MRT -> Avro converter, in C.
 *
 * A Converter is fed decompressed MRT bytes. It frames records exactly as
 * cloudz/convert/framing.py does, decodes the common record kinds (TABLE_DUMP,
 * TABLE_DUMP_V2 RIB entries incl. ADD-PATH, BGP4MP/BGP4MP_ET messages and state
 * changes) and appends Avro binary-encoded rows (Avro 1.11: zigzag varints,
 * union branch index, arrays as blocks) to the current block, in the field order
 * the schema gives (a tuple of field ids built by fast_path.py from the .avsc).
 *
 * The C decoder is strict: it accepts a record only when the mrtparse-based
 * Python row builder (the reference) would decode it to the same rows. Anything
 * unusual (malformed lengths, duplicate attributes, rare types...) rolls back what the
 * record wrote and is handed back to Python ("fallback"), which runs the
 * reference builder for that one record and appends its rows (encoded by
 * fastavro) to the same block. Damage is also left to Python's framing code.
 *
 * Prefixes with host bits set ("11.13.0.0/13") are stored with the bits cleared
 * (RFC 4271 4.3: trailing bits are irrelevant), as decode.py does, and counted
 * (masked_prefixes).
 *
 * Zero-filled records (an empty body, or nothing but zeros) stop the framing as
 * damage, like an unknown type; the Converter also counts records in a row that
 * gave no rows and stops with LIMIT past max_rowless_run (cloudz/convert/limits.py).
 *
 * Every read is bounds-checked against the record; nothing here trusts a length
 * field.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- field ids (the order of FIELD_NAMES below) ---------------------------------------- */
enum {
    F_TIMESTAMP, F_COLLECTOR, F_MRT_TYPE, F_ENTRY_TYPE, F_PEER_IP, F_PEER_ASN, F_PREFIX,
    F_PATH_ID, F_AS_PATH, F_ORIGIN, F_NEXT_HOP, F_LOCAL_PREF, F_MED, F_ATOMIC, F_AGGREGATOR,
    F_COMMUNITIES, F_LARGE, F_EXT, F_OLD_STATE, F_NEW_STATE, F_ORIGINATED, F_OTC, F_OTHER,
    F_SOURCE_PATH, F_SOURCE_SHA, F_RECORD_INDEX, F_ROW_INDEX, F_COUNT
};
static const char *FIELD_NAMES[F_COUNT] = {
    "timestamp", "collector", "mrt_type", "entry_type", "peer_ip", "peer_asn", "prefix",
    "path_id", "as_path", "origin", "next_hop", "local_pref", "med", "atomic_aggregate",
    "aggregator", "communities", "large_communities", "extended_communities", "old_state",
    "new_state", "originated_time", "only_to_customer", "other_attributes", "source_path",
    "source_sha256", "record_index", "row_index",
};
#define MAX_FIELDS 64

/* run() results */
enum { R_NEED = 0, R_BLOCK = 1, R_FALLBACK = 2, R_STOP = 3, R_LIMIT = 4 };
/* decoder results */
#define OK 0
#define FALLBACK (-1)
#define PYERR (-2)

#define TABLE_DUMP 12
#define TABLE_DUMP_V2 13
#define BGP4MP 16
#define BGP4MP_ET 17

/* ---- growable byte buffer --------------------------------------------------------------- */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    if (extra > ((size_t)1 << 40)) {
        PyErr_NoMemory();
        return -1;
    }
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + extra) nc *= 2;
    uint8_t *q = PyMem_Realloc(b->p, nc);
    if (!q) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = q;
    b->cap = nc;
    return 0;
}
static void buf_free(Buf *b) {
    PyMem_Free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Avro long (zigzag varint); at most 10 bytes */
static inline uint8_t *put_long(uint8_t *o, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        *o++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *o++ = (uint8_t)z;
    return o;
}
static inline uint8_t *put_str(uint8_t *o, const char *s, size_t n) {
    o = put_long(o, (int64_t)n);
    memcpy(o, s, n);
    return o + n;
}
static int b_long(Buf *b, int64_t v) {
    if (buf_reserve(b, 10)) return -1;
    b->len = (size_t)(put_long(b->p + b->len, v) - b->p);
    return 0;
}
static int b_str(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n + 10)) return -1;
    b->len = (size_t)(put_str(b->p + b->len, s, n) - b->p);
    return 0;
}
static int b_byte(Buf *b, uint8_t c) {
    if (buf_reserve(b, 1)) return -1;
    b->p[b->len++] = c;
    return 0;
}

static inline uint32_t rd16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t rd32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* decimal of a u32; returns length; out needs 10 bytes */
static inline int fmt_u32(char *out, uint32_t v) {
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* text of an address as socket.inet_ntop gives it; out needs 46 bytes */
static int fmt_addr(char *out, const uint8_t *a, int afi) {
    if (afi == 1) {
        int n = 0;
        for (int i = 0; i < 4; i++) {
            if (i) out[n++] = '.';
            n += fmt_u32(out + n, a[i]);
        }
        out[n] = 0;
        return n;
    }
    if (!inet_ntop(AF_INET6, a, out, 46)) return -1;
    return (int)strlen(out);
}

/* ---- prefixes ---------------------------------------------------------------------------- */
typedef struct {
    uint8_t plen;
    uint8_t addr[16];
    uint8_t has_path_id;
    uint32_t path_id;
} Pfx;

typedef struct {
    Pfx *v;
    size_t n, cap;
} PfxVec;

static int pfx_push(PfxVec *pv, Pfx **out) {
    if (pv->n == pv->cap) {
        size_t nc = pv->cap ? pv->cap * 2 : 64;
        Pfx *q = PyMem_Realloc(pv->v, nc * sizeof(Pfx));
        if (!q) {
            PyErr_NoMemory();
            return PYERR;
        }
        pv->v = q;
        pv->cap = nc;
    }
    *out = &pv->v[pv->n++];
    return OK;
}

static int pfx_cmp(const void *a, const void *b) {
    /* plen then address: what mrtparse's duplicate check compares */
    return memcmp(a, b, 17);
}

/* clears the bits of addr past plen in its last prefix byte; 1 if any was set */
static int mask_host_bits(uint8_t *addr, int plen) {
    if (!(plen & 7)) return 0;
    size_t last = (size_t)(plen - 1) / 8;
    uint8_t host = (uint8_t)(0xFF >> (plen & 7));
    if (!(addr[last] & host)) return 0;
    addr[last] &= (uint8_t)~host;
    return 1;
}

/* one reading of an NLRI list: plain prefixes or (addpath) ADD-PATH ones; FALLBACK when it
 * does not read whole (overrun, a length over the maximum) */
static int read_nlri(PfxVec *pv, const uint8_t *p, size_t len, int afi, int addpath,
                     int64_t *masked) {
    size_t pos = 0;
    int maxlen = afi == 1 ? 32 : 128;
    pv->n = 0;
    while (pos < len) {
        Pfx *x;
        uint32_t path_id = 0;
        if (addpath) {
            if (len - pos < 4) return FALLBACK;
            path_id = rd32(p + pos);
            pos += 4;
        }
        if (len - pos < 1) return FALLBACK;
        int plen = p[pos++];
        if (plen > maxlen) return FALLBACK;
        size_t nb = (size_t)(plen + 7) / 8;
        if (len - pos < nb) return FALLBACK;
        int r = pfx_push(pv, &x);
        if (r) return r;
        memset(x, 0, sizeof *x);
        x->plen = (uint8_t)plen;
        memcpy(x->addr, p + pos, nb);
        *masked += mask_host_bits(x->addr, plen);
        x->has_path_id = (uint8_t)addpath;
        x->path_id = path_id;
        pos += nb;
    }
    return OK;
}

/* NLRI list as decode.py reads it: host bits cleared and counted into *masked; FALLBACK on
 * anything it treats differently (overrun, length over the maximum). Without ADD-PATH, a list
 * holding a prefix twice is read again as ADD-PATH (as mrtparse does: BIRD writes ADD-PATH
 * NLRI in plain subtypes); if that reads whole it is the list, else the plain list is, its
 * duplicates kept (decode._val_nlri; one row per prefix listed, as bgpdump prints them). Here,
 * not in the reference: a file of UPDATEs repeating one prefix ran at the reference's ~45k
 * rows per CPU-second (issue 20, item 2). */
static int parse_nlri(PfxVec *pv, Pfx **sortbuf, size_t *sortcap, const uint8_t *p, size_t len,
                      int afi, int addpath, int64_t *masked) {
    int64_t plain_masked = 0;
    int r = read_nlri(pv, p, len, afi, addpath, &plain_masked);
    if (r) return r;
    if (!addpath && pv->n > 1) {
        if (*sortcap < pv->n) {
            Pfx *q = PyMem_Realloc(*sortbuf, pv->n * sizeof(Pfx));
            if (!q) {
                PyErr_NoMemory();
                return PYERR;
            }
            *sortbuf = q;
            *sortcap = pv->n;
        }
        memcpy(*sortbuf, pv->v, pv->n * sizeof(Pfx));
        qsort(*sortbuf, pv->n, sizeof(Pfx), pfx_cmp);
        int dup = 0;
        for (size_t i = 1; i < pv->n && !dup; i++)
            dup = !memcmp(&(*sortbuf)[i - 1], &(*sortbuf)[i], 17);
        if (dup) {
            int64_t ap_masked = 0;
            r = read_nlri(pv, p, len, afi, 1, &ap_masked);
            if (r == OK) {
                *masked += ap_masked;
                return OK;
            }
            if (r != FALLBACK) return r;
            plain_masked = 0;
            r = read_nlri(pv, p, len, afi, 0, &plain_masked);
            if (r) return r;
        }
    }
    *masked += plain_masked;
    return OK;
}

/* "addr/len" into out (needs 50 bytes) */
static int fmt_prefix(char *out, const Pfx *x, int afi) {
    int n = fmt_addr(out, x->addr, afi);
    if (n < 0) return -1;
    out[n++] = '/';
    n += fmt_u32(out + n, x->plen);
    return n;
}

/* ---- path attributes --------------------------------------------------------------------- */
typedef struct {
    uint8_t type, flags;
    const uint8_t *val;
    uint32_t len;
} RawAttr;

typedef struct {
    uint8_t seen[32];
    int has_origin;
    uint8_t origin;
    const uint8_t *as_path, *as4_path;
    size_t as_path_len, as4_path_len;
    int has_as_path, has_as4_path;
    int has_nh, nh_null;
    char nh[48];
    int nh_len;
    int has_med, has_lp;
    uint32_t med, lp;
    int atomic;
    int has_aggr, has_as4aggr;
    uint32_t aggr_as, as4aggr_as;
    const uint8_t *aggr_ip, *as4aggr_ip;
    const uint8_t *comm, *large, *ext;
    size_t comm_len, large_len, ext_len;
    int has_mp_reach, mp_afi, mp_safi;
    char mp_nh[48];
    int mp_nh_len;
    const uint8_t *mp_nlri;
    size_t mp_nlri_len;
    int has_mp_unreach, mpu_afi, mpu_safi;
    const uint8_t *mpu_nlri;
    size_t mpu_nlri_len;
    int has_otc;
    uint32_t otc;
} Attrs;

enum { CTX_TD1, CTX_TD2, CTX_MSG };

/* AS path segments: exactly filling the attribute, known types only */
static int check_segments(const uint8_t *p, size_t len, int w) {
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 2) return FALLBACK;
        uint8_t t = p[pos];
        size_t n = p[pos + 1];
        if (t < 1 || t > 4) return FALLBACK;
        pos += 2;
        if ((len - pos) / (size_t)w < n) return FALLBACK;
        pos += n * (size_t)w;
    }
    return OK;
}

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

/* rib_afi: TD2 only, the AFI of the RIB subtype (abbreviated MP_REACH next hop) */
static int parse_attrs(RawAttr **others, size_t *nothers, size_t *others_cap, const uint8_t *p,
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
        switch (type) {
        case 1: /* ORIGIN */
            if (alen != 1) return FALLBACK;
            a->has_origin = 1;
            a->origin = v[0];
            break;
        case 2: /* AS_PATH */
            if (check_segments(v, alen, as_w)) return FALLBACK;
            a->has_as_path = 1;
            a->as_path = v;
            a->as_path_len = alen;
            break;
        case 3: /* NEXT_HOP */
            a->has_nh = 1;
            if (alen == 4 || alen == 16) {
                a->nh_len = fmt_addr(a->nh, v, alen == 4 ? 1 : 2);
                if (a->nh_len < 0) return FALLBACK;
            } else {
                a->nh_null = 1;
            }
            break;
        case 4: /* MULTI_EXIT_DISC */
            if (alen != 4) return FALLBACK;
            a->has_med = 1;
            a->med = rd32(v);
            break;
        case 5: /* LOCAL_PREF */
            if (alen != 4) return FALLBACK;
            a->has_lp = 1;
            a->lp = rd32(v);
            break;
        case 6:
            a->atomic = 1;
            break;
        case 7: /* AGGREGATOR: 2-byte AS when shorter than 8 (mrtparse) */
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
            break;
        case 8:
            if (alen % 4) return FALLBACK;
            a->comm = v;
            a->comm_len = alen;
            break;
        case 9: /* ORIGINATOR_ID */
            if (alen != 4) return FALLBACK;
            goto other;
        case 10: /* CLUSTER_LIST */
            if (alen % 4) return FALLBACK;
            goto other;
        case 14: /* MP_REACH_NLRI */
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
            break;
        case 15: /* MP_UNREACH_NLRI */
            if (ctx != CTX_MSG || alen < 3) return FALLBACK;
            a->mpu_afi = (int)rd16(v);
            a->mpu_safi = v[2];
            if ((a->mpu_afi != 1 && a->mpu_afi != 2) || (a->mpu_safi != 1 && a->mpu_safi != 2))
                return FALLBACK;
            a->has_mp_unreach = 1;
            a->mpu_nlri = v + 3;
            a->mpu_nlri_len = alen - 3;
            break;
        case 16:
            if (alen % 8) return FALLBACK;
            a->ext = v;
            a->ext_len = alen;
            break;
        case 17: /* AS4_PATH */
            if (check_segments(v, alen, 4)) return FALLBACK;
            a->has_as4_path = 1;
            a->as4_path = v;
            a->as4_path_len = alen;
            break;
        case 18: /* AS4_AGGREGATOR */
            if (alen != 8) return FALLBACK;
            a->has_as4aggr = 1;
            a->as4aggr_as = rd32(v);
            a->as4aggr_ip = v + 4;
            break;
        case 26: /* AIGP */
            if (check_aigp(v, alen)) return FALLBACK;
            goto other;
        case 32:
            if (alen % 12) return FALLBACK;
            a->large = v;
            a->large_len = alen;
            break;
        case 35: /* ONLY_TO_CUSTOMER (RFC 9234) */
            if (alen != 4) return FALLBACK;
            a->has_otc = 1;
            a->otc = rd32(v);
            break;
        case 128: /* ATTR_SET: mrtparse recurses; leave it to the reference */
            return FALLBACK;
        default:
        other:
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
            break;
        }
    }
    return OK;
}

/* ---- AS path text ------------------------------------------------------------------------ */
typedef struct {
    int code;
    size_t start, n;
} Seg;

typedef struct {
    Seg *segs;
    size_t nsegs, segcap;
    uint32_t *asns;
    size_t nasns, asncap;
} SegVec;

static int segvec_load(SegVec *sv, const uint8_t *p, size_t len, int w) {
    size_t pos = 0;
    sv->nsegs = 0;
    sv->nasns = 0;
    while (pos < len) { /* already checked by check_segments */
        int code = p[pos];
        size_t n = p[pos + 1];
        pos += 2;
        if (sv->nsegs == sv->segcap) {
            size_t nc = sv->segcap ? sv->segcap * 2 : 16;
            Seg *q = PyMem_Realloc(sv->segs, nc * sizeof(Seg));
            if (!q) {
                PyErr_NoMemory();
                return PYERR;
            }
            sv->segs = q;
            sv->segcap = nc;
        }
        if (sv->nasns + n > sv->asncap) {
            size_t nc = sv->asncap ? sv->asncap : 64;
            while (nc < sv->nasns + n) nc *= 2;
            uint32_t *q = PyMem_Realloc(sv->asns, nc * sizeof(uint32_t));
            if (!q) {
                PyErr_NoMemory();
                return PYERR;
            }
            sv->asns = q;
            sv->asncap = nc;
        }
        Seg *s = &sv->segs[sv->nsegs++];
        s->code = code;
        s->start = sv->nasns;
        s->n = n;
        for (size_t i = 0; i < n; i++) {
            sv->asns[sv->nasns++] = w == 2 ? rd16(p + pos) : rd32(p + pos);
            pos += (size_t)w;
        }
    }
    return OK;
}

static inline int is_set(int code) { return code == 1 || code == 4; }

static size_t hop_count(const SegVec *sv) {
    size_t t = 0;
    for (size_t i = 0; i < sv->nsegs; i++) t += is_set(sv->segs[i].code) ? 1 : sv->segs[i].n;
    return t;
}

/* cloudz.convert.attributes.merge_as4_path: replaces m's segments (m aliases a's asns) */
static int merge_as4(SegVec *a, const SegVec *a4, SegVec *m) {
    size_t total = hop_count(a), total4 = hop_count(a4);
    m->nsegs = 0;
    m->nasns = 0;
    if (total < total4) return 1; /* keep a */
    size_t needed = total - total4, count = 0;
    size_t need_segs = a->nsegs + a4->nsegs, need_asns = a->nasns + a4->nasns;
    if (m->segcap < need_segs) {
        Seg *q = PyMem_Realloc(m->segs, (need_segs + 1) * sizeof(Seg));
        if (!q) {
            PyErr_NoMemory();
            return PYERR;
        }
        m->segs = q;
        m->segcap = need_segs + 1;
    }
    if (m->asncap < need_asns) {
        uint32_t *q = PyMem_Realloc(m->asns, (need_asns + 1) * sizeof(uint32_t));
        if (!q) {
            PyErr_NoMemory();
            return PYERR;
        }
        m->asns = q;
        m->asncap = need_asns + 1;
    }
    for (size_t i = 0; i < a->nsegs; i++) {
        if (count >= needed) break;
        const Seg *s = &a->segs[i];
        size_t take = is_set(s->code) ? s->n : (s->n < needed - count ? s->n : needed - count);
        Seg *d = &m->segs[m->nsegs++];
        d->code = s->code;
        d->start = m->nasns;
        d->n = take;
        memcpy(m->asns + m->nasns, a->asns + s->start, take * sizeof(uint32_t));
        m->nasns += take;
        count += is_set(s->code) ? 1 : take;
    }
    for (size_t i = 0; i < a4->nsegs; i++) {
        const Seg *s = &a4->segs[i];
        Seg *d = &m->segs[m->nsegs++];
        d->code = s->code;
        d->start = m->nasns;
        d->n = s->n;
        memcpy(m->asns + m->nasns, a4->asns + s->start, s->n * sizeof(uint32_t));
        m->nasns += s->n;
    }
    return 0;
}

/* cloudz.convert.attributes.as_path_text into t */
static int as_path_text(const SegVec *sv, Buf *t) {
    static const char open_[5] = {0, '{', 0, '(', '['};
    static const char close_[5] = {0, '}', 0, ')', ']'};
    t->len = 0;
    if (buf_reserve(t, sv->nsegs * 3 + sv->nasns * 11 + 4)) return PYERR;
    char *o = (char *)t->p;
    int prev = 2, space = 0;
    for (size_t i = 0; i < sv->nsegs; i++) {
        const Seg *s = &sv->segs[i];
        if (prev != 2) *o++ = close_[prev];
        if (space) *o++ = ' ';
        if (s->code != 2) *o++ = open_[s->code];
        space = 0;
        char sep = is_set(s->code) ? ',' : ' ';
        for (size_t j = 0; j < s->n; j++) {
            if (space) *o++ = sep;
            space = 1;
            o += fmt_u32(o, sv->asns[s->start + j]);
        }
        prev = s->code;
    }
    if (sv->nsegs && sv->segs[sv->nsegs - 1].code != 2) *o++ = close_[sv->segs[sv->nsegs - 1].code];
    t->len = (size_t)(o - (char *)t->p);
    return OK;
}

/* ---- the converter object ---------------------------------------------------------------- */
typedef struct {
    uint8_t enc[50]; /* Avro string: length + text */
    uint8_t enc_len;
    int64_t asn;
} Peer;

/* per attribute set: the encoded attribute columns */
typedef struct {
    Buf enc;
    size_t off[F_COUNT], len[F_COUNT];
    size_t nh_off[2], nh_len[2]; /* [0] NEXT_HOP, [1] MP_REACH next hop */
    int nh_mp;                   /* RIB rows: which next hop (MP when MP_REACH is present) */
} AttrEnc;

/* The attribute-set cache. A RIB repeats the same attribute bytes across prefixes and peers
 * (a peer's routes from one origin, prepends and communities alike), so the attribute columns
 * are encoded once per distinct set and the bytes reused: a direct-mapped table keyed by the
 * record kind, the RIB's AFI and the attribute bytes themselves (compared in full, the hash
 * only picks the slot). Parsing and encoding are pure functions of that key; sets whose
 * MP_REACH carries NLRI (checked per record) are never cached. Memory is bounded: at most
 * AC_SLOTS entries of at most AC_MAX_KEY + AC_MAX_ENC bytes each, allocated at their size. */
#define AC_SLOTS 4096
#define AC_MAX_KEY 1024
#define AC_MAX_ENC 4096

typedef struct {
    uint64_t hash;
    uint32_t key_len; /* 0: empty slot */
    uint32_t tag;
    uint8_t *key; /* key_len bytes of attributes, then the encoded columns (ae.enc.p) */
    size_t alloc;
    AttrEnc ae;
} ACEntry;

static inline uint64_t ac_hash(const uint8_t *p, size_t n, uint32_t tag) {
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)tag << 32) ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

typedef struct {
    PyObject_HEAD
    int nfields;
    uint8_t fields[MAX_FIELDS];
    uint8_t known_types[8192]; /* bitmap of the MRT types framing.py accepts */
    uint64_t max_len;
    Buf collector, source_path, source_sha; /* Avro-encoded strings */
    /* input */
    Buf in;
    size_t in_pos;
    uint64_t in_offset; /* stream offset of in.p[0] */
    int stopped;
    /* counters */
    int64_t records, rows, parse_errors;
    int64_t masked; /* prefixes whose host bits were cleared */
    /* records in a row that gave no rows (a fallback's rows arrive by add_rows), from where */
    int64_t rowless;
    uint64_t rowless_from, max_rowless;
    /* the time range of the rows written (microseconds); may be wider, never narrower */
    int64_t ts_min, ts_max;
    int have_ts;
    /* rows are written only when win_lo <= timestamp < win_hi (has_window), else counted */
    int has_window;
    int64_t win_lo, win_hi, time_dropped;
    /* TABLE_DUMP_V2 peers */
    Peer *peers;
    Py_ssize_t npeers;
    int have_peers;
    /* output */
    Buf out;
    int64_t block_rows;
    size_t block_size;
    /* the fallback record */
    PyObject *pending;
    /* scratch */
    PfxVec pfx;
    Pfx *sortbuf;
    size_t sortcap;
    RawAttr *others;
    size_t nothers, others_cap;
    SegVec sv, sv4, svm;
    Buf text;
    AttrEnc ae;
    Attrs attrs;
    ACEntry *ac; /* AC_SLOTS entries, allocated with the first RIB record */
} Conv;

/* one row's own columns; attribute columns come from an AttrEnc (or none) */
typedef struct {
    int64_t ts;
    const char *mrt_type;
    size_t mrt_type_len;
    const char *entry;
    size_t entry_len;
    const uint8_t *peer_enc;
    size_t peer_enc_len;
    int64_t peer_asn;
    const char *prefix;
    int prefix_len; /* -1: null */
    int has_path_id;
    int64_t path_id;
    const AttrEnc *ae; /* NULL: W and STATE rows */
    int nh_which;
    int has_state;
    int old_state, new_state;
    int has_orig;
    int64_t orig;
    int64_t record_index;
} Row;

static int emit_row(Conv *c, const Row *r) {
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
            if (ae) {
                memcpy(o, ae->enc.p + ae->off[f], ae->len[f]);
                o += ae->len[f];
            } else {
                *o++ = 0; /* null branch, false, empty array */
            }
            break;
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

/* encode the attribute columns of one attribute set into c->ae */
static int encode_attrs(Conv *c, const Attrs *a, int two_byte_as, int as_w) {
    AttrEnc *ae = &c->ae;
    Buf *b = &ae->enc;
    b->len = 0;
    /* AS path, with the RFC 6793 merge for 2-byte-AS records (bgpdump's process_asn32_trans) */
    int has_aggr = a->has_aggr;
    uint32_t aggr_as = a->aggr_as;
    const uint8_t *aggr_ip = a->aggr_ip;
    ae->off[F_AS_PATH] = b->len;
    if (a->has_as_path) {
        if (segvec_load(&c->sv, a->as_path, a->as_path_len, as_w)) return PYERR;
        const SegVec *use = &c->sv;
        if (two_byte_as) {
            int ignore_as4 = a->has_aggr && a->has_as4aggr;
            if (ignore_as4 && a->aggr_as == 23456) ignore_as4 = 0;
            if (!ignore_as4 && a->has_as4_path) {
                if (segvec_load(&c->sv4, a->as4_path, a->as4_path_len, 4)) return PYERR;
                int r = merge_as4(&c->sv, &c->sv4, &c->svm);
                if (r < 0) return PYERR;
                if (r == 0) use = &c->svm;
            }
        }
        if (as_path_text(use, &c->text)) return PYERR;
        if (b_byte(b, 2) || b_str(b, (const char *)c->text.p, c->text.len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    ae->len[F_AS_PATH] = b->len - ae->off[F_AS_PATH];
    if (two_byte_as && a->has_aggr && a->has_as4aggr && a->aggr_as == 23456) {
        aggr_as = a->as4aggr_as;
        aggr_ip = a->as4aggr_ip;
    }
    /* origin */
    ae->off[F_ORIGIN] = b->len;
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
    ae->len[F_ORIGIN] = b->len - ae->off[F_ORIGIN];
    /* next hops */
    ae->nh_off[0] = b->len;
    if (a->has_nh && !a->nh_null) {
        if (b_byte(b, 2) || b_str(b, a->nh, (size_t)a->nh_len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    ae->nh_len[0] = b->len - ae->nh_off[0];
    ae->nh_off[1] = b->len;
    if (a->has_mp_reach) {
        if (b_byte(b, 2) || b_str(b, a->mp_nh, (size_t)a->mp_nh_len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    ae->nh_len[1] = b->len - ae->nh_off[1];
    ae->nh_mp = a->has_mp_reach;
    /* local_pref, med */
    ae->off[F_LOCAL_PREF] = b->len;
    if (a->has_lp ? (b_byte(b, 2) || b_long(b, a->lp)) : b_byte(b, 0)) return PYERR;
    ae->len[F_LOCAL_PREF] = b->len - ae->off[F_LOCAL_PREF];
    ae->off[F_MED] = b->len;
    if (a->has_med ? (b_byte(b, 2) || b_long(b, a->med)) : b_byte(b, 0)) return PYERR;
    ae->len[F_MED] = b->len - ae->off[F_MED];
    ae->off[F_ATOMIC] = b->len;
    if (b_byte(b, a->atomic ? 1 : 0)) return PYERR;
    ae->len[F_ATOMIC] = 1;
    /* aggregator "ASN IP" */
    ae->off[F_AGGREGATOR] = b->len;
    if (has_aggr) {
        char tmp[32];
        int n = fmt_u32(tmp, aggr_as);
        tmp[n++] = ' ';
        n += fmt_addr(tmp + n, aggr_ip, 1);
        if (b_byte(b, 2) || b_str(b, tmp, (size_t)n)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    ae->len[F_AGGREGATOR] = b->len - ae->off[F_AGGREGATOR];
    /* communities */
    ae->off[F_COMMUNITIES] = b->len;
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
    ae->len[F_COMMUNITIES] = b->len - ae->off[F_COMMUNITIES];
    ae->off[F_LARGE] = b->len;
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
    ae->len[F_LARGE] = b->len - ae->off[F_LARGE];
    ae->off[F_EXT] = b->len;
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
    ae->len[F_EXT] = b->len - ae->off[F_EXT];
    ae->off[F_OTC] = b->len;
    if (a->has_otc ? (b_byte(b, 2) || b_long(b, a->otc)) : b_byte(b, 0)) return PYERR;
    ae->len[F_OTC] = b->len - ae->off[F_OTC];
    ae->off[F_OTHER] = b->len;
    if (c->nothers) {
        if (b_long(b, (int64_t)c->nothers)) return PYERR;
        for (size_t i = 0; i < c->nothers; i++) {
            const RawAttr *x = &c->others[i];
            if (b_long(b, x->type) || b_long(b, x->flags) || b_long(b, x->len) ||
                buf_reserve(b, x->len))
                return PYERR;
            memcpy(b->p + b->len, x->val, x->len);
            b->len += x->len;
        }
    }
    if (b_byte(b, 0)) return PYERR;
    ae->len[F_OTHER] = b->len - ae->off[F_OTHER];
    return OK;
}

static void enc_peer(Peer *pe, const char *ip, size_t n) {
    uint8_t *o = put_str(pe->enc, ip, n);
    pe->enc_len = (uint8_t)(o - pe->enc);
}

/* the cached encoding of these attribute bytes, or NULL (not cached, or out of memory) */
static const AttrEnc *ac_get(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t *hash) {
    if (!c->ac) {
        c->ac = PyMem_Calloc(AC_SLOTS, sizeof(ACEntry));
        if (!c->ac) return NULL; /* run uncached */
    }
    uint64_t h = ac_hash(p, n, tag);
    *hash = h;
    ACEntry *e = &c->ac[h & (AC_SLOTS - 1)];
    if (e->key_len == n + 1 && e->hash == h && e->tag == tag && !memcmp(e->key, p, n))
        return &e->ae;
    return NULL;
}

/* remember c->ae as the encoding of these attribute bytes (evicting the slot's entry) */
static void ac_put(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t h) {
    const AttrEnc *src = &c->ae;
    if (!c->ac || n > AC_MAX_KEY || src->enc.len > AC_MAX_ENC) return;
    ACEntry *e = &c->ac[h & (AC_SLOTS - 1)];
    size_t need = n + src->enc.len;
    if (e->alloc < need || e->alloc > 2 * need + 64) {
        uint8_t *q = PyMem_Realloc(e->key, need ? need : 1);
        if (!q) { /* keep going uncached */
            PyMem_Free(e->key);
            memset(e, 0, sizeof *e);
            return;
        }
        e->key = q;
        e->alloc = need;
    }
    memcpy(e->key, p, n);
    memcpy(e->key + n, src->enc.p, src->enc.len);
    e->ae = *src;
    e->ae.enc.p = e->key + n;
    e->ae.enc.cap = src->enc.len;
    e->hash = h;
    e->tag = tag;
    e->key_len = (uint32_t)n + 1;
}

static void ac_free(Conv *c) {
    if (!c->ac) return;
    for (size_t i = 0; i < AC_SLOTS; i++) PyMem_Free(c->ac[i].key);
    PyMem_Free(c->ac);
    c->ac = NULL;
}

/* ---- record decoders --------------------------------------------------------------------- */

/* TABLE_DUMP_V2 RIB_IPV{4,6}_{UNICAST,MULTICAST}[_ADDPATH] */
static int do_td2_rib(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len,
                      int64_t index) {
    if (!c->have_peers) return FALLBACK;
    int generic = st == 6 || st == 12;
    int addpath = st >= 8;
    int afi = (st == 2 || st == 3 || st == 8 || st == 9) ? 1 : 2;
    size_t pos = 5;
    if (generic) { /* sequence, AFI (2), SAFI, prefix length, prefix (decode.py) */
        if (len < 8) return FALLBACK;
        afi = (int)rd16(p + 4);
        int safi = p[6];
        if ((afi != 1 && afi != 2) || safi < 1 || safi > 3) return FALLBACK;
        pos = 8;
    } else if (len < 5) {
        return FALLBACK;
    }
    int plen = p[pos - 1];
    if (plen > (afi == 1 ? 32 : 128)) return FALLBACK;
    size_t nb = (size_t)(plen + 7) / 8;
    if (len - pos < nb + 2) return FALLBACK;
    Pfx x;
    memset(&x, 0, sizeof x);
    x.plen = (uint8_t)plen;
    memcpy(x.addr, p + pos, nb);
    c->masked += mask_host_bits(x.addr, plen);
    pos += nb;
    char prefix[64];
    int prefix_len = fmt_prefix(prefix, &x, afi);
    if (prefix_len < 0) return FALLBACK;
    size_t count = rd16(p + pos);
    pos += 2;
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000;
    r.mrt_type = addpath ? "TABLE_DUMP2_AP" : "TABLE_DUMP2";
    r.mrt_type_len = strlen(r.mrt_type);
    r.entry = "B";
    r.entry_len = 1;
    r.prefix = prefix;
    r.prefix_len = prefix_len;
    r.has_orig = 1;
    r.record_index = index;
    for (size_t e = 0; e < count; e++) {
        size_t need = addpath ? 12 : 8;
        if (len - pos < need) return FALLBACK;
        size_t pi = rd16(p + pos);
        uint32_t orig = rd32(p + pos + 2);
        pos += 6;
        if (addpath) {
            r.has_path_id = 1;
            r.path_id = rd32(p + pos);
            pos += 4;
        }
        size_t alen = rd16(p + pos);
        pos += 2;
        if (len - pos < alen) return FALLBACK;
        if (pi >= (size_t)c->npeers) return FALLBACK;
        uint32_t tag = (uint32_t)(CTX_TD2 << 8 | afi);
        uint64_t hash = 0;
        r.ae = ac_get(c, p + pos, alen, tag, &hash);
        if (!r.ae) {
            int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, p + pos, alen, 4,
                                 CTX_TD2, afi, &c->attrs);
            if (rr) return rr;
            if (c->attrs.mp_nlri) { /* a full MP_REACH: mrtparse decodes (and checks) its NLRI */
                rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, c->attrs.mp_nlri,
                                c->attrs.mp_nlri_len, afi, addpath, &c->masked);
                if (rr) return rr;
            }
            if (encode_attrs(c, &c->attrs, 0, 4)) return PYERR;
            if (!c->attrs.mp_nlri) ac_put(c, p + pos, alen, tag, hash);
            r.ae = &c->ae;
        }
        pos += alen;
        r.peer_enc = c->peers[pi].enc;
        r.peer_enc_len = c->peers[pi].enc_len;
        r.peer_asn = c->peers[pi].asn;
        r.orig = (int64_t)orig * 1000000;
        r.nh_which = r.ae->nh_mp;
        if (emit_row(c, &r)) return PYERR;
    }
    if (pos != len) return FALLBACK; /* trailing bytes: let the reference decide */
    return OK;
}

/* TABLE_DUMP (v1), subtype = AFI */
static int do_td1(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len, int64_t index) {
    if (st != 1 && st != 2) return FALLBACK;
    size_t alen_ = st == 1 ? 4 : 16;
    /* view, seq, prefix, length, status, originated, peer ip, peer as, attr len */
    size_t fixed = 4 + alen_ + 1 + 1 + 4 + alen_ + 2 + 2;
    if (len < fixed) return FALLBACK;
    size_t pos = 4;
    char prefix[64];
    uint8_t addr[16];
    memcpy(addr, p + pos, alen_);
    int plen = p[pos + alen_];
    if ((size_t)plen <= alen_ * 8) { /* the whole address is stored: clear every host bit */
        int changed = mask_host_bits(addr, plen);
        size_t whole = (size_t)(plen + 7) / 8;
        for (size_t i = whole; i < alen_; i++) {
            changed |= addr[i] != 0;
            addr[i] = 0;
        }
        c->masked += changed;
    }
    int n = fmt_addr(prefix, addr, st);
    if (n < 0) return FALLBACK;
    pos += alen_;
    prefix[n++] = '/';
    n += fmt_u32(prefix + n, p[pos]);
    pos += 2; /* length, status */
    uint32_t orig = rd32(p + pos);
    pos += 4;
    char peer[48];
    int pn;
    if (st == 2) {
        int nonzero = 0;
        for (int i = 4; i < 16; i++) nonzero |= p[pos + i];
        pn = fmt_addr(peer, p + pos, nonzero ? 2 : 1);
    } else {
        pn = fmt_addr(peer, p + pos, 1);
    }
    if (pn < 0) return FALLBACK;
    pos += alen_;
    uint32_t peer_as = rd16(p + pos);
    size_t alen = rd16(p + pos + 2);
    pos += 4;
    if (len - pos != alen) return FALLBACK;
    uint32_t tag = (uint32_t)CTX_TD1 << 8;
    uint64_t hash = 0;
    const AttrEnc *ae = ac_get(c, p + pos, alen, tag, &hash);
    if (!ae) {
        int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, p + pos, alen, 2, CTX_TD1,
                             0, &c->attrs);
        if (rr) return rr;
        if (encode_attrs(c, &c->attrs, 1, 2)) return PYERR;
        ac_put(c, p + pos, alen, tag, hash);
        ae = &c->ae;
    }
    Peer pe;
    enc_peer(&pe, peer, (size_t)pn);
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000;
    r.mrt_type = "TABLE_DUMP";
    r.mrt_type_len = 10;
    r.entry = "B";
    r.entry_len = 1;
    r.peer_enc = pe.enc;
    r.peer_enc_len = pe.enc_len;
    r.peer_asn = peer_as;
    r.prefix = prefix;
    r.prefix_len = n;
    r.has_orig = 1;
    r.orig = (int64_t)orig * 1000000;
    r.record_index = index;
    r.ae = ae;
    r.nh_which = ae->nh_mp;
    return emit_row(c, &r);
}

static int emit_pfx_list(Conv *c, Row *r, int afi) {
    char prefix[64];
    for (size_t i = 0; i < c->pfx.n; i++) {
        const Pfx *x = &c->pfx.v[i];
        int n = fmt_prefix(prefix, x, afi);
        if (n < 0) return FALLBACK;
        r->prefix = prefix;
        r->prefix_len = n;
        r->has_path_id = x->has_path_id;
        r->path_id = x->path_id;
        if (emit_row(c, r)) return PYERR;
    }
    return OK;
}

/* cloudz.convert.rows._is_update, on header + body */
static int is_update(const uint8_t *raw, size_t rawlen, int t, int st) {
    size_t p = 12 + (t == BGP4MP_ET ? 4 : 0);
    p += (st == 1 || st == 6 || st == 8 || st == 10) ? 4 : 8;
    if (rawlen < p + 4) return 1;
    int afi = (int)rd16(raw + p + 2);
    p += 4 + (afi == 1 ? 8 : 32);
    p += 18;
    return rawlen <= p || raw[p] == 2;
}

static int do_bgp4mp(Conv *c, uint32_t ts, int t, int st, const uint8_t *raw, size_t rawlen,
                     int64_t index) {
    const uint8_t *p = raw + 12;
    size_t len = rawlen - 12, pos = 0;
    int64_t micros = 0;
    int is_state = st == 0 || st == 5;
    if (!is_state && !is_update(raw, rawlen, t, st)) return OK; /* OPEN, KEEPALIVE...: no rows */
    if (t == BGP4MP_ET) {
        if (len < 4) return FALLBACK;
        micros = rd32(p);
        if (micros > 999999) return FALLBACK; /* no fraction of a second: rows.py repairs it */
        pos = 4;
    }
    int as_w = (st == 0 || st == 1 || st == 6 || st == 8 || st == 10) ? 2 : 4;
    if (len - pos < (size_t)(2 * as_w + 4)) return FALLBACK;
    uint32_t peer_as = as_w == 2 ? rd16(p + pos) : rd32(p + pos);
    pos += (size_t)(2 * as_w) + 2;
    int afi = (int)rd16(p + pos);
    pos += 2;
    if (afi != 1 && afi != 2) return FALLBACK;
    size_t al = afi == 1 ? 4 : 16;
    if (len - pos < 2 * al) return FALLBACK;
    const uint8_t *peer_ip = p + pos;
    pos += 2 * al;
    int et = t == BGP4MP_ET;
    Row r;
    memset(&r, 0, sizeof r);
    r.ts = (int64_t)ts * 1000000 + micros;
    r.record_index = index;
    char ip[48];
    Peer pe;
    if (is_state) {
        if (len - pos < 4) return FALLBACK;
        int n = fmt_addr(ip, peer_ip, afi);
        if (n < 0) return FALLBACK;
        enc_peer(&pe, ip, (size_t)n);
        r.mrt_type = et ? "BGP4MP_ET" : "BGP4MP";
        r.mrt_type_len = strlen(r.mrt_type);
        r.entry = "STATE";
        r.entry_len = 5;
        r.peer_enc = pe.enc;
        r.peer_enc_len = pe.enc_len;
        r.peer_asn = peer_as;
        r.prefix_len = -1;
        r.has_state = 1;
        r.old_state = (int)rd16(p + pos);
        r.new_state = (int)rd16(p + pos + 2);
        return emit_row(c, &r);
    }
    if (st != 1 && st != 4 && !(st >= 6 && st <= 11)) return FALLBACK;
    /* BGP message: marker, length, type, then the UPDATE */
    const uint8_t *m = p + pos;
    size_t mlen = len - pos;
    if (mlen < 23) return FALLBACK;
    if (rd16(m + 16) != mlen || m[18] != 2) return FALLBACK;
    size_t mp = 19;
    size_t wlen = rd16(m + mp);
    mp += 2;
    if (mlen - mp < wlen + 2) return FALLBACK;
    const uint8_t *wd = m + mp;
    mp += wlen;
    size_t alen = rd16(m + mp);
    mp += 2;
    if (mlen - mp < alen) return FALLBACK;
    const uint8_t *at = m + mp;
    mp += alen;
    const uint8_t *nlri = m + mp;
    size_t nlri_len = mlen - mp;
    int addpath = st >= 8;
    int local = st == 6 || st == 7 || st == 10 || st == 11;
    int rr = parse_attrs(&c->others, &c->nothers, &c->others_cap, at, alen, as_w, CTX_MSG, 0,
                         &c->attrs);
    if (rr) return rr;
    const Attrs *a = &c->attrs;
    char mt[32];
    int mtl = snprintf(mt, sizeof mt, "BGP4MP%s%s%s", et ? "_ET" : "", local ? "_LOCAL" : "",
                       addpath ? "_AP" : "");
    /* *_LOCAL too: the peer's fields, as bgpdump 1.6.2 prints them (rows.py) */
    int n = fmt_addr(ip, peer_ip, afi);
    if (n < 0) return FALLBACK;
    enc_peer(&pe, ip, (size_t)n);
    r.mrt_type = mt;
    r.mrt_type_len = (size_t)mtl;
    r.peer_enc = pe.enc;
    r.peer_enc_len = pe.enc_len;
    r.peer_asn = peer_as;
    /* withdrawals: IPv4, then MP_UNREACH */
    r.entry = "W";
    r.entry_len = 1;
    if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, wd, wlen, 1, addpath, &c->masked)))
        return rr;
    if ((rr = emit_pfx_list(c, &r, 1))) return rr;
    if (a->has_mp_unreach) {
        if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, a->mpu_nlri, a->mpu_nlri_len,
                             a->mpu_afi, addpath, &c->masked)))
            return rr;
        if ((rr = emit_pfx_list(c, &r, a->mpu_afi))) return rr;
    }
    /* announcements: IPv4 with NEXT_HOP, then MP_REACH with its next hop */
    if (encode_attrs(c, a, as_w == 2, as_w)) return PYERR;
    r.entry = "A";
    r.ae = &c->ae;
    r.nh_which = 0;
    if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, nlri, nlri_len, 1, addpath,
                         &c->masked)))
        return rr;
    if ((rr = emit_pfx_list(c, &r, 1))) return rr;
    if (a->has_mp_reach) {
        r.nh_which = 1;
        if ((rr = parse_nlri(&c->pfx, &c->sortbuf, &c->sortcap, a->mp_nlri, a->mp_nlri_len,
                             a->mp_afi, addpath, &c->masked)))
            return rr;
        if ((rr = emit_pfx_list(c, &r, a->mp_afi))) return rr;
    }
    return OK;
}

/* one whole record; OK, FALLBACK (nothing written) or PYERR */
static int do_record(Conv *c, const uint8_t *raw, size_t rawlen, int64_t index) {
    uint32_t ts = rd32(raw);
    int t = (int)rd16(raw + 4), st = (int)rd16(raw + 6);
    size_t out_len = c->out.len;
    int64_t rows = c->rows, block_rows = c->block_rows, masked = c->masked;
    int64_t ts_min = c->ts_min, ts_max = c->ts_max, time_dropped = c->time_dropped;
    int have_ts = c->have_ts;
    int r;
    if (t == TABLE_DUMP_V2 && st >= 2 && st <= 12 && st != 7)
        r = do_td2_rib(c, ts, st, raw + 12, rawlen - 12, index);
    else if (t == TABLE_DUMP)
        r = do_td1(c, ts, st, raw + 12, rawlen - 12, index);
    else if ((t == BGP4MP || t == BGP4MP_ET) && st != 2 && st != 3 && st <= 11)
        r = do_bgp4mp(c, ts, t, st, raw, rawlen, index);
    else
        r = FALLBACK;
    if (r != OK) { /* roll back whatever the record wrote */
        c->out.len = out_len;
        c->rows = rows;
        c->block_rows = block_rows;
        c->masked = masked;
        c->ts_min = ts_min;
        c->ts_max = ts_max;
        c->have_ts = have_ts;
        c->time_dropped = time_dropped;
    }
    return r;
}

static void conv_dealloc(Conv *c) {
    buf_free(&c->collector);
    buf_free(&c->source_path);
    buf_free(&c->source_sha);
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->text);
    buf_free(&c->ae.enc);
    ac_free(c);
    PyMem_Free(c->peers);
    PyMem_Free(c->pfx.v);
    PyMem_Free(c->sortbuf);
    PyMem_Free(c->others);
    PyMem_Free(c->sv.segs);
    PyMem_Free(c->sv.asns);
    PyMem_Free(c->sv4.segs);
    PyMem_Free(c->sv4.asns);
    PyMem_Free(c->svm.segs);
    PyMem_Free(c->svm.asns);
    Py_CLEAR(c->pending);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static int set_enc_str(Buf *b, PyObject *s) {
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (!u) return -1;
    b->len = 0;
    return b_str(b, u, (size_t)n);
}

static int conv_init(Conv *c, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"fields",         "collector",  "source_path",
                             "source_sha256",  "known_types", "max_record_len",
                             "block_size",     "max_rowless_run", NULL};
    PyObject *fields, *known;
    PyObject *collector, *source_path, *sha;
    unsigned long long max_len, max_rowless;
    Py_ssize_t block_size;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OUUUOKnK", kwlist, &fields, &collector,
                                     &source_path, &sha, &known, &max_len, &block_size,
                                     &max_rowless))
        return -1;
    PyObject *fs = PySequence_Fast(fields, "fields must be a sequence of field ids");
    if (!fs) return -1;
    Py_ssize_t nf = PySequence_Fast_GET_SIZE(fs);
    if (nf > MAX_FIELDS) {
        Py_DECREF(fs);
        PyErr_SetString(PyExc_ValueError, "too many fields");
        return -1;
    }
    for (Py_ssize_t i = 0; i < nf; i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(fs, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(fs);
            return -1;
        }
        if (v < 0 || v >= F_COUNT) {
            Py_DECREF(fs);
            PyErr_SetString(PyExc_ValueError, "unknown field id");
            return -1;
        }
        c->fields[i] = (uint8_t)v;
    }
    c->nfields = (int)nf;
    Py_DECREF(fs);
    PyObject *ks = PySequence_Fast(known, "known_types must be a sequence of ints");
    if (!ks) return -1;
    memset(c->known_types, 0, sizeof c->known_types);
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(ks); i++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(ks, i));
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(ks);
            return -1;
        }
        if (v >= 0 && v < 65536) c->known_types[v >> 3] |= (uint8_t)(1 << (v & 7));
    }
    Py_DECREF(ks);
    c->max_len = max_len;
    c->max_rowless = max_rowless;
    c->block_size = block_size > 0 ? (size_t)block_size : 1;
    if (set_enc_str(&c->collector, collector) || set_enc_str(&c->source_path, source_path) ||
        set_enc_str(&c->source_sha, sha))
        return -1;
    return 0;
}

static PyObject *conv_feed(Conv *c, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE)) return NULL;
    if (c->in_pos) { /* drop consumed bytes */
        memmove(c->in.p, c->in.p + c->in_pos, c->in.len - c->in_pos);
        c->in.len -= c->in_pos;
        c->in_offset += c->in_pos;
        c->in_pos = 0;
    }
    if (buf_reserve(&c->in, (size_t)view.len)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    memcpy(c->in.p + c->in.len, view.buf, (size_t)view.len);
    c->in.len += (size_t)view.len;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyObject *conv_run(Conv *c, PyObject *Py_UNUSED(ignored)) {
    Py_CLEAR(c->pending);
    if (c->stopped) return PyLong_FromLong(R_STOP);
    for (;;) {
        /* checked once the last record's rows are known (a fallback's: on the next call) */
        if ((uint64_t)c->rowless > c->max_rowless) return PyLong_FromLong(R_LIMIT);
        if (c->block_rows && c->out.len >= c->block_size) return PyLong_FromLong(R_BLOCK);
        size_t avail = c->in.len - c->in_pos;
        if (avail < 12) return PyLong_FromLong(R_NEED);
        const uint8_t *h = c->in.p + c->in_pos;
        int t = (int)rd16(h + 4);
        uint64_t length = rd32(h + 8);
        if (!(c->known_types[t >> 3] & (1 << (t & 7))) || length > c->max_len) {
            c->stopped = 1; /* framing.py says why */
            return PyLong_FromLong(R_STOP);
        }
        if (avail - 12 < length) return PyLong_FromLong(R_NEED);
        size_t zeros = 0; /* a valid record has a non-zero byte within its first few */
        while (zeros < length && !h[12 + zeros]) zeros++;
        if (zeros == length) {
            c->stopped = 1; /* empty or zero-filled: damage (framing.py says why) */
            return PyLong_FromLong(R_STOP);
        }
        size_t rawlen = 12 + (size_t)length;
        int64_t index = c->records;
        uint64_t offset = c->in_offset + c->in_pos;
        c->records++;
        c->in_pos += rawlen;
        if (c->rowless++ == 0) c->rowless_from = offset;
        int64_t rows_before = c->rows, dropped_before = c->time_dropped;
        int r = do_record(c, h, rawlen, index);
        if (r == PYERR) return NULL;
        /* rows dropped for their time were rows: the record is not one "without rows" */
        if (c->rows > rows_before || c->time_dropped > dropped_before) c->rowless = 0;
        if (r == FALLBACK) {
            c->pending = Py_BuildValue(
                "(LKIiiy#)", (long long)index, (unsigned long long)offset, (unsigned int)rd32(h),
                t, (int)rd16(h + 6), (const char *)h, (Py_ssize_t)rawlen);
            if (!c->pending) return NULL;
            return PyLong_FromLong(R_FALLBACK);
        }
    }
}

static PyObject *conv_pending(Conv *c, PyObject *Py_UNUSED(ignored)) {
    if (!c->pending) Py_RETURN_NONE;
    return Py_NewRef(c->pending);
}

static PyObject *conv_add_rows(Conv *c, PyObject *args) {
    Py_buffer view;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "y*n", &view, &n)) return NULL;
    if (buf_reserve(&c->out, (size_t)view.len)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    memcpy(c->out.p + c->out.len, view.buf, (size_t)view.len);
    c->out.len += (size_t)view.len;
    PyBuffer_Release(&view);
    c->rows += n;
    c->block_rows += n;
    if (n > 0) c->rowless = 0;
    Py_RETURN_NONE;
}

static PyObject *conv_add_time_dropped(Conv *c, PyObject *arg) {
    long long n = PyLong_AsLongLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "a negative count");
        return NULL;
    }
    c->time_dropped += n;
    if (n > 0) c->rowless = 0;
    Py_RETURN_NONE;
}

static PyObject *conv_set_time_window(Conv *c, PyObject *arg) {
    if (arg == Py_None) {
        c->has_window = 0;
        Py_RETURN_NONE;
    }
    long long lo, hi;
    if (!PyArg_ParseTuple(arg, "LL", &lo, &hi)) return NULL;
    c->has_window = 1;
    c->win_lo = lo;
    c->win_hi = hi;
    Py_RETURN_NONE;
}

static PyObject *conv_add_parse_error(Conv *c, PyObject *Py_UNUSED(ignored)) {
    c->parse_errors++;
    Py_RETURN_NONE;
}

static PyObject *conv_add_record(Conv *c, PyObject *arg) {
    unsigned long long offset = PyLong_AsUnsignedLongLong(arg);
    if (offset == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    c->records++;
    if (c->rowless++ == 0) c->rowless_from = offset;
    Py_RETURN_NONE;
}

static PyObject *conv_set_peers(Conv *c, PyObject *arg) {
    if (arg == Py_None) {
        c->have_peers = 0;
        c->npeers = 0;
        Py_RETURN_NONE;
    }
    PyObject *seq = PySequence_Fast(arg, "peers must be a sequence of (ip, asn)");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Peer *np = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Peer));
    if (!np) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *ip, *asn;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "UO", &ip, &asn)) goto fail;
        Py_ssize_t l;
        const char *u = PyUnicode_AsUTF8AndSize(ip, &l);
        if (!u) goto fail;
        if (l > 46) {
            PyErr_SetString(PyExc_ValueError, "peer address too long");
            goto fail;
        }
        enc_peer(&np[i], u, (size_t)l);
        np[i].asn = PyLong_AsLongLong(asn);
        if (np[i].asn == -1 && PyErr_Occurred()) goto fail;
    }
    Py_DECREF(seq);
    PyMem_Free(c->peers);
    c->peers = np;
    c->npeers = n;
    c->have_peers = 1;
    Py_RETURN_NONE;
fail:
    Py_DECREF(seq);
    PyMem_Free(np);
    return NULL;
}

static PyObject *conv_take_block(Conv *c, PyObject *Py_UNUSED(ignored)) {
    PyObject *data = PyBytes_FromStringAndSize((const char *)c->out.p, (Py_ssize_t)c->out.len);
    if (!data) return NULL;
    PyObject *res = Py_BuildValue("(NL)", data, (long long)c->block_rows);
    if (!res) return NULL;
    c->out.len = 0;
    c->block_rows = 0;
    if (c->out.cap > 4 * c->block_size + (1 << 20)) { /* a huge record's rows: give it back */
        buf_free(&c->out);
    }
    return res;
}

static PyObject *conv_leftover(Conv *c, PyObject *Py_UNUSED(ignored)) {
    static const char empty[1] = {0};
    const char *rest = c->in.p ? (const char *)c->in.p + c->in_pos : empty;
    return Py_BuildValue("(Ky#)", (unsigned long long)(c->in_offset + c->in_pos), rest,
                         (Py_ssize_t)(c->in.len - c->in_pos));
}

static PyObject *conv_get_rows(Conv *c, void *Py_UNUSED(x)) { return PyLong_FromLongLong(c->rows); }
static PyObject *conv_get_records(Conv *c, void *Py_UNUSED(x)) {
    return PyLong_FromLongLong(c->records);
}
static PyObject *conv_get_parse_errors(Conv *c, void *Py_UNUSED(x)) {
    return PyLong_FromLongLong(c->parse_errors);
}
static PyObject *conv_get_masked(Conv *c, void *Py_UNUSED(x)) {
    return PyLong_FromLongLong(c->masked);
}
static PyObject *conv_get_time_range(Conv *c, void *Py_UNUSED(x)) {
    if (!c->have_ts) Py_RETURN_NONE;
    return Py_BuildValue("(LL)", (long long)c->ts_min, (long long)c->ts_max);
}
static PyObject *conv_get_time_dropped(Conv *c, void *Py_UNUSED(x)) {
    return PyLong_FromLongLong(c->time_dropped);
}
static PyObject *conv_get_block_rows(Conv *c, void *Py_UNUSED(x)) {
    return PyLong_FromLongLong(c->block_rows);
}
static PyObject *conv_get_rowless(Conv *c, void *Py_UNUSED(x)) {
    return Py_BuildValue("(LK)", (long long)c->rowless, (unsigned long long)c->rowless_from);
}

static PyMethodDef conv_methods[] = {
    {"feed", (PyCFunction)conv_feed, METH_O, "Append decompressed MRT bytes."},
    {"run", (PyCFunction)conv_run, METH_NOARGS,
     "Convert buffered records: NEED (0), BLOCK full (1), FALLBACK record pending (2), STOP "
     "(3), LIMIT (4: more than max_rowless_run records in a row gave no rows)."},
    {"pending", (PyCFunction)conv_pending, METH_NOARGS,
     "The record run() handed back: (index, offset, timestamp, type, subtype, raw)."},
    {"add_rows", (PyCFunction)conv_add_rows, METH_VARARGS,
     "Append n rows already Avro-encoded (by fastavro) to the block."},
    {"add_parse_error", (PyCFunction)conv_add_parse_error, METH_NOARGS, "Count a parse error."},
    {"add_time_dropped", (PyCFunction)conv_add_time_dropped, METH_O,
     "Count n rows (of a record converted outside) dated outside the time window."},
    {"set_time_window", (PyCFunction)conv_set_time_window, METH_O,
     "(lo, hi) in microseconds: rows dated outside lo <= t < hi are counted, not written; "
     "None: every row is written."},
    {"add_record", (PyCFunction)conv_add_record, METH_O,
     "Count a record framed outside, at this stream offset."},
    {"set_peers", (PyCFunction)conv_set_peers, METH_O,
     "The TABLE_DUMP_V2 peer index table: [(ip, asn), ...] or None."},
    {"take_block", (PyCFunction)conv_take_block, METH_NOARGS,
     "(encoded rows, row count) of the current block; starts a new one."},
    {"leftover", (PyCFunction)conv_leftover, METH_NOARGS,
     "(stream offset, bytes) not consumed as whole records."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef conv_getset[] = {
    {"rows", (getter)conv_get_rows, NULL, "rows written", NULL},
    {"records", (getter)conv_get_records, NULL, "whole records read", NULL},
    {"parse_errors", (getter)conv_get_parse_errors, NULL, "records not decoded", NULL},
    {"masked_prefixes", (getter)conv_get_masked, NULL,
     "prefixes it read with host bits set, and stored with them cleared", NULL},
    {"block_rows", (getter)conv_get_block_rows, NULL, "rows in the current block", NULL},
    {"time_dropped", (getter)conv_get_time_dropped, NULL,
     "rows dated outside the time window: counted, not written", NULL},
    {"rowless", (getter)conv_get_rowless, NULL,
     "(records in a row without rows, stream offset of the first of them)", NULL},
    {"time_range", (getter)conv_get_time_range, NULL,
     "(first, last) timestamp in microseconds of the rows it encoded, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ConvType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cloudz.convert._fastmrt.Converter",
    .tp_basicsize = sizeof(Conv),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Frames and decodes MRT records into Avro-encoded row blocks.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)conv_init,
    .tp_dealloc = (destructor)conv_dealloc,
    .tp_methods = conv_methods,
    .tp_getset = conv_getset,
};

/* ---- bz2 block splitting (cloudz/convert/decompress.py decodes blocks in parallel) -------
 * A bz2 stream is "BZh" + level, then blocks, each starting with the 48-bit magic
 * 0x314159265359 and its 32-bit CRC at any bit offset, then the 48-bit end-of-stream magic
 * 0x177245385090 and the combined CRC. find_bz2_magic finds the next magic; bz2_block turns the
 * bits of one block into a standalone one-block stream (its combined CRC is the block's CRC),
 * which libbz2 (Python's bz2) decodes and checks on its own. A magic found inside a block's
 * data by chance splits it; the halves then fail to decode and the caller falls back. */
#define BZ_BLOCK_MAGIC 0x314159265359ULL
#define BZ_EOS_MAGIC 0x177245385090ULL

static uint16_t bz_table[256]; /* byte -> shifts r at which it is the magic's 2nd byte */

static void bz_table_init(void) {
    for (int r = 0; r < 8; r++) {
        bz_table[(BZ_BLOCK_MAGIC >> (32 + r)) & 0xFF] |= (uint16_t)(1u << r);
        bz_table[(BZ_EOS_MAGIC >> (32 + r)) & 0xFF] |= (uint16_t)(1u << (8 + r));
    }
}

/* n <= 56 bits, big-endian, from bit offset `bit`; bytes past `len` read as 0 */
static uint64_t bits_at(const uint8_t *p, size_t len, uint64_t bit, int n) {
    size_t byte = (size_t)(bit >> 3);
    int sh = (int)(bit & 7);
    uint64_t w = 0;
    if (byte + 8 <= len) {
        memcpy(&w, p + byte, 8);
        w = __builtin_bswap64(w);
    } else {
        for (int i = 0; i < 8; i++) w = (w << 8) | (byte + i < len ? p[byte + i] : 0);
    }
    return n ? (w << sh) >> (64 - n) : 0;
}

static PyObject *py_find_bz2_magic(PyObject *self, PyObject *args) {
    Py_buffer b;
    unsigned long long start;
    if (!PyArg_ParseTuple(args, "y*K", &b, &start)) return NULL;
    const uint8_t *p = b.buf;
    size_t len = (size_t)b.len;
    uint64_t nbits = (uint64_t)len * 8;
    PyObject *res = NULL;
    if (start + 48 <= nbits) {
        /* the magic at bit 8q + r covers byte q + 1 whole */
        for (size_t q = (size_t)(start >> 3); q + 1 < len && res == NULL; q++) {
            uint16_t m = bz_table[p[q + 1]];
            if (!m) continue;
            for (int r = 0; r < 8; r++) {
                uint64_t bit = (uint64_t)q * 8 + (uint64_t)r;
                if (bit < start || bit + 48 > nbits) continue;
                if ((m >> r) & 1 && bits_at(p, len, bit, 48) == BZ_BLOCK_MAGIC) {
                    res = Py_BuildValue("(Ki)", (unsigned long long)bit, 0);
                    break;
                }
                if ((m >> (8 + r)) & 1 && bits_at(p, len, bit, 48) == BZ_EOS_MAGIC) {
                    res = Py_BuildValue("(Ki)", (unsigned long long)bit, 1);
                    break;
                }
            }
        }
    }
    PyBuffer_Release(&b);
    if (res == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return res;
}

static PyObject *py_bz2_bits(PyObject *self, PyObject *args) {
    Py_buffer b;
    unsigned long long bit;
    int n;
    if (!PyArg_ParseTuple(args, "y*Ki", &b, &bit, &n)) return NULL;
    if (n < 0 || n > 56 || bit + (unsigned long long)n > (unsigned long long)b.len * 8) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "bits out of range");
        return NULL;
    }
    uint64_t v = bits_at(b.buf, (size_t)b.len, bit, n);
    PyBuffer_Release(&b);
    return PyLong_FromUnsignedLongLong(v);
}

typedef struct {
    uint8_t *o;
    uint64_t acc;
    int n;
} BitOut;

static void bo_put(BitOut *w, uint64_t v, int n) { /* n <= 32 */
    w->acc = (w->acc << n) | (v & ((1ULL << n) - 1));
    w->n += n;
    while (w->n >= 8) {
        *w->o++ = (uint8_t)(w->acc >> (w->n - 8));
        w->n -= 8;
    }
}

static PyObject *py_bz2_block(PyObject *self, PyObject *args) {
    Py_buffer b;
    unsigned long long start, end;
    int level;
    if (!PyArg_ParseTuple(args, "y*KKi", &b, &start, &end, &level)) return NULL;
    const uint8_t *p = b.buf;
    size_t len = (size_t)b.len;
    if (level < 1 || level > 9 || start + 80 > end || end > (unsigned long long)len * 8) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "bad bz2 block bounds");
        return NULL;
    }
    uint64_t nbits = end - start;
    uint32_t crc = (uint32_t)bits_at(p, len, start + 48, 32);
    size_t out_len = 4 + (size_t)((nbits + 80 + 7) / 8);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)out_len);
    if (!out) {
        PyBuffer_Release(&b);
        return NULL;
    }
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
    memcpy(o, "BZh", 3);
    o[3] = (uint8_t)('0' + level);
    size_t full = (size_t)(nbits >> 3);
    const uint8_t *src = p + (start >> 3);
    int sh = (int)(start & 7);
    if (sh == 0) {
        memcpy(o + 4, src, full);
    } else {
        /* src[k + 1] exists for k < full: the block's bits reach past byte k + 1 */
        for (size_t k = 0; k < full; k++)
            o[4 + k] = (uint8_t)((src[k] << sh) | (src[k + 1] >> (8 - sh)));
    }
    BitOut w = {o + 4 + full, 0, 0};
    int rest = (int)(nbits & 7);
    if (rest) bo_put(&w, bits_at(p, len, start + (uint64_t)full * 8, rest), rest);
    bo_put(&w, BZ_EOS_MAGIC >> 24, 24);
    bo_put(&w, BZ_EOS_MAGIC & 0xFFFFFF, 24);
    bo_put(&w, crc, 32);
    if (w.n) *w.o++ = (uint8_t)(w.acc << (8 - w.n));
    PyBuffer_Release(&b);
    return out;
}

static PyMethodDef mod_methods[] = {
    {"find_bz2_magic", py_find_bz2_magic, METH_VARARGS,
     "find_bz2_magic(buf, start_bit) -> (bit, 0 block | 1 end of stream) or None"},
    {"bz2_bits", py_bz2_bits, METH_VARARGS, "bz2_bits(buf, bit, n) -> n bits (n <= 56) as int"},
    {"bz2_block", py_bz2_block, METH_VARARGS,
     "bz2_block(buf, start_bit, end_bit, level) -> a one-block bz2 stream of those bits"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "_fastmrt", "Compiled MRT -> Avro row encoder (see fast_path.py).", -1,
    mod_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastmrt(void) {
    bz_table_init();
    if (PyType_Ready(&ConvType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    PyObject *names = PyTuple_New(F_COUNT);
    if (!names) goto fail;
    for (int i = 0; i < F_COUNT; i++) {
        PyObject *s = PyUnicode_FromString(FIELD_NAMES[i]);
        if (!s) {
            Py_DECREF(names);
            goto fail;
        }
        PyTuple_SET_ITEM(names, i, s);
    }
    if (PyModule_AddObject(m, "FIELDS", names)) {
        Py_DECREF(names);
        goto fail;
    }
    Py_INCREF(&ConvType);
    if (PyModule_AddObject(m, "Converter", (PyObject *)&ConvType)) {
        Py_DECREF(&ConvType);
        goto fail;
    }
    if (PyModule_AddIntConstant(m, "NEED", R_NEED) || PyModule_AddIntConstant(m, "BLOCK", R_BLOCK) ||
        PyModule_AddIntConstant(m, "FALLBACK", R_FALLBACK) ||
        PyModule_AddIntConstant(m, "STOP", R_STOP) ||
        PyModule_AddIntConstant(m, "LIMIT", R_LIMIT))
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
