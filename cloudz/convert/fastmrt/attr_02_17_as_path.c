/* attr_02_17_as_path.c: path attributes 2, AS_PATH, and 17, AS4_PATH (RFC 4271 5.1.2, RFC 6793
 * 4.2.3): segments of 2- or 4-byte AS numbers, AS4_PATH merged into a 2-byte-AS record's path,
 * written as bgpdump does ("1 2 {3,4}", confederation segments in "()" and "[]"). */
#include "fastmrt.h"

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

int attr_02_as_path_parse(Attrs *a, const uint8_t *v, size_t alen, int as_w) {
    if (check_segments(v, alen, as_w)) return FALLBACK;
    a->has_as_path = 1;
    a->as_path = v;
    a->as_path_len = alen;
    return OK;
}

int attr_17_as4_path_parse(Attrs *a, const uint8_t *v, size_t alen) {
    if (check_segments(v, alen, 4)) return FALLBACK;
    a->has_as4_path = 1;
    a->as4_path = v;
    a->as4_path_len = alen;
    return OK;
}

/* the AS path, with the RFC 6793 merge for 2-byte-AS records (bgpdump's process_asn32_trans);
 * c's segment vectors and text buffer are the scratch */
int attr_02_17_as_path_encode(Conv *c, Buf *b, const Attrs *a, int two_byte_as, int as_w) {
    c->path = NULL;
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
        c->path = use;
        if (as_path_text(use, &c->text)) return PYERR;
        if (b_byte(b, 2) || b_str(b, (const char *)c->text.p, c->text.len)) return PYERR;
    } else if (b_byte(b, 0)) {
        return PYERR;
    }
    return OK;
}

/* Avro array of longs: ASNs in blocks of one count, then the end (an empty array is the 0) */
static int put_asns(Buf *b, const uint32_t *asns, size_t n) {
    if (buf_reserve(b, 10 * (n + 2))) return PYERR;
    uint8_t *o = b->p + b->len;
    if (n) {
        o = put_long(o, (int64_t)n);
        for (size_t i = 0; i < n; i++) o = put_long(o, asns[i]);
    }
    *o++ = 0;
    b->len = (size_t)(o - b->p);
    return OK;
}

/* as_path_asns (cloudz.convert.attributes.path_asns): AS_SEQUENCE and AS_SET members in
 * order, confederation segments left out; written straight into the set's buffer */
int attr_02_17_as_path_asns_encode(Buf *b, const SegVec *path) {
    size_t n = 0;
    if (path)
        for (size_t i = 0; i < path->nsegs; i++)
            if (path->segs[i].code <= 2) n += path->segs[i].n;
    if (buf_reserve(b, 10 * (n + 2))) return PYERR;
    uint8_t *o = b->p + b->len;
    if (n) {
        o = put_long(o, (int64_t)n);
        for (size_t i = 0; i < path->nsegs; i++) {
            const Seg *s = &path->segs[i];
            if (s->code > 2) continue;
            for (size_t j = 0; j < s->n; j++) o = put_long(o, path->asns[s->start + j]);
        }
    }
    *o++ = 0;
    b->len = (size_t)(o - b->p);
    return OK;
}

/* origin_asns (cloudz.convert.attributes.origin_asns): the last non-empty AS_SEQUENCE's last
 * ASN or AS_SET's members */
int attr_02_17_origin_asns_encode(Buf *b, const SegVec *path) {
    for (size_t i = path ? path->nsegs : 0; i-- > 0;) {
        const Seg *s = &path->segs[i];
        if (!s->n) continue;
        if (s->code == 2) return put_asns(b, path->asns + s->start + s->n - 1, 1);
        if (s->code == 1) return put_asns(b, path->asns + s->start, s->n);
    }
    return put_asns(b, NULL, 0);
}
