/*
 * fastmrt.h: what the parts of the compiled MRT -> Avro converter (cloudz.convert._fastmrt)
 * share: the field ids, the byte buffer and its Avro writers, the decoded attribute set, the
 * converter object, and each part's entry points.
 *
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
 *
 * The parts, one per MRT type and per path attribute (named by type code, as bgpkit-parser
 * keeps them). A record type's or attribute's part is tested by tests/unit/fastmrt/
 * test_<part>.py (one record or attribute of each kind through both engines); the converter,
 * the writer and the cache by tests/unit/test_fast_convert.py and the other end-to-end tests,
 * the bz2 blocks by tests/unit/test_parallel_bz2.py:
 *   converter.c              the Converter type: framing, dispatch by MRT type, rollback
 *   table_dump.c             MRT type 12, TABLE_DUMP (v1)
 *   table_dump_v2.c          MRT type 13, TABLE_DUMP_V2 RIB entries (the peer index: Python)
 *   bgp4mp.c                 MRT types 16 and 17, BGP4MP / BGP4MP_ET messages and state changes
 *   nlri.c                   prefixes and NLRI lists, address text
 *   attrs.c                  the path attribute list: walk, dispatch by type code, column order
 *   attr_01_origin.c ... attr_35_otc.c, attr_other.c   one attribute (or family) each
 *   attr_cache.c             the attribute-set cache
 *   avro_writer.c            one row, Avro-encoded, into the current block
 *   bz2_blocks.c             bz2 block boundaries (parallel decoding, decompress.py)
 *   module.c                 the module: its functions, constants and types
 *
 * Compiled as one extension (setup.py lists the sources); only PyInit__fastmrt is exported.
 */
#ifndef FASTMRT_H
#define FASTMRT_H

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
    F_SOURCE_PATH, F_SOURCE_SHA, F_RECORD_INDEX, F_ROW_INDEX, F_AS_PATH_ASNS, F_ORIGIN_ASNS,
    F_AGGR_ASN, F_AGGR_IP, F_IP_VERSION, F_COUNT
};
extern const char *const FIELD_NAMES[F_COUNT];
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

static inline int buf_reserve(Buf *b, size_t extra) {
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
static inline void buf_free(Buf *b) {
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
static inline int b_long(Buf *b, int64_t v) {
    if (buf_reserve(b, 10)) return -1;
    b->len = (size_t)(put_long(b->p + b->len, v) - b->p);
    return 0;
}
static inline int b_str(Buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n + 10)) return -1;
    b->len = (size_t)(put_str(b->p + b->len, s, n) - b->p);
    return 0;
}
static inline int b_byte(Buf *b, uint8_t c) {
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

/* ---- AS path segments --------------------------------------------------------------------- */
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

typedef struct {
    PyObject_HEAD
    int nfields;
    uint8_t fields[MAX_FIELDS];
    /* run[i]: fields from i on whose encodings lie back to back in an AttrEnc (copied at once) */
    uint8_t run[MAX_FIELDS];
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
    const SegVec *path; /* the AS path the last attr_02_17_as_path_encode wrote, or NULL */
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

/* ---- the parts' entry points ------------------------------------------------------------- */

/* nlri.c */
int fmt_addr(char *out, const uint8_t *a, int afi);
int mask_host_bits(uint8_t *addr, int plen);
int parse_nlri(PfxVec *pv, Pfx **sortbuf, size_t *sortcap, const uint8_t *p, size_t len,
               int afi, int addpath, int64_t *masked);
int fmt_prefix(char *out, const Pfx *x, int afi);

/* attrs.c: the attribute list into *a (others: attributes kept raw), its columns into c->ae */
int parse_attrs(RawAttr **others, size_t *nothers, size_t *others_cap, const uint8_t *p,
                size_t len, int as_w, int ctx, int rib_afi, Attrs *a);
int encode_attrs(Conv *c, const Attrs *a, int two_byte_as, int as_w);

/* per attribute: parse one value into *a (OK or FALLBACK); encode its column into b (OK or
 * PYERR) */
int attr_01_origin_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_01_origin_encode(Buf *b, const Attrs *a);
int attr_02_as_path_parse(Attrs *a, const uint8_t *v, size_t alen, int as_w);
int attr_17_as4_path_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_02_17_as_path_encode(Conv *c, Buf *b, const Attrs *a, int two_byte_as, int as_w);
int attr_02_17_as_path_asns_encode(Buf *b, const SegVec *path);
int attr_02_17_origin_asns_encode(Buf *b, const SegVec *path);
int attr_03_next_hop_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_03_next_hop_encode(Buf *b, const Attrs *a);
int attr_04_med_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_04_med_encode(Buf *b, const Attrs *a);
int attr_05_local_pref_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_05_local_pref_encode(Buf *b, const Attrs *a);
int attr_06_atomic_aggregate_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_06_atomic_aggregate_encode(Buf *b, const Attrs *a);
int attr_07_aggregator_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_18_as4_aggregator_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_07_18_aggregator_encode(Buf *b, const Attrs *a, int two_byte_as);
int attr_07_18_aggregator_asn_encode(Buf *b, const Attrs *a, int two_byte_as);
int attr_07_18_aggregator_ip_encode(Buf *b, const Attrs *a, int two_byte_as);
int attr_08_communities_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_08_communities_encode(Buf *b, const Attrs *a);
int attr_16_ext_communities_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_16_ext_communities_encode(Buf *b, const Attrs *a);
int attr_32_large_communities_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_32_large_communities_encode(Buf *b, const Attrs *a);
int attr_14_mp_reach_parse(Attrs *a, const uint8_t *v, size_t alen, int ctx, int rib_afi);
int attr_14_mp_reach_next_hop_encode(Buf *b, const Attrs *a);
int attr_15_mp_unreach_parse(Attrs *a, const uint8_t *v, size_t alen, int ctx);
int attr_35_otc_parse(Attrs *a, const uint8_t *v, size_t alen);
int attr_35_otc_encode(Buf *b, const Attrs *a);
int attr_other_check(int type, const uint8_t *v, size_t alen);
int attr_other_keep(RawAttr **others, size_t *nothers, size_t *others_cap, uint8_t type,
                    uint8_t flags, const uint8_t *v, size_t alen);
int attr_other_encode(Buf *b, const RawAttr *others, size_t nothers);

/* attr_cache.c */
const AttrEnc *ac_get(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t *hash);
void ac_put(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t h);
void ac_free(Conv *c);

/* avro_writer.c */
int emit_row(Conv *c, const Row *r);
void plan_runs(Conv *c);
void enc_peer(Peer *pe, const char *ip, size_t n);

/* one record's body of each MRT type: OK, FALLBACK (the caller rolls back) or PYERR */
int do_td1(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len, int64_t index);
int do_td2_rib(Conv *c, uint32_t ts, int st, const uint8_t *p, size_t len, int64_t index);
int do_bgp4mp(Conv *c, uint32_t ts, int t, int st, const uint8_t *raw, size_t rawlen,
              int64_t index);

/* converter.c */
extern PyTypeObject ConvType;

/* bz2_blocks.c */
void bz_table_init(void);
PyObject *py_find_bz2_magic(PyObject *self, PyObject *args);
PyObject *py_bz2_bits(PyObject *self, PyObject *args);
PyObject *py_bz2_block(PyObject *self, PyObject *args);

#endif
