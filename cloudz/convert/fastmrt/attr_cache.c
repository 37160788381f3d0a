/* attr_cache.c: the attribute-set cache (fastmrt.h, ACEntry): one encoding per distinct
 * attribute set, reused across a RIB's prefixes and peers. */
#include "fastmrt.h"

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

/* the cached encoding of these attribute bytes, or NULL (not cached, or out of memory) */
const AttrEnc *ac_get(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t *hash) {
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
void ac_put(Conv *c, const uint8_t *p, size_t n, uint32_t tag, uint64_t h) {
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

void ac_free(Conv *c) {
    if (!c->ac) return;
    for (size_t i = 0; i < AC_SLOTS; i++) PyMem_Free(c->ac[i].key);
    PyMem_Free(c->ac);
    c->ac = NULL;
}
