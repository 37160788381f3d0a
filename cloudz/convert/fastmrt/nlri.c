/* nlri.c: prefixes (RFC 4271 4.3, RFC 7911 ADD-PATH) and the text of addresses. */
#include "fastmrt.h"

/* text of an address as socket.inet_ntop gives it; out needs 46 bytes */
int fmt_addr(char *out, const uint8_t *a, int afi) {
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
int mask_host_bits(uint8_t *addr, int plen) {
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
int parse_nlri(PfxVec *pv, Pfx **sortbuf, size_t *sortcap, const uint8_t *p, size_t len,
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
int fmt_prefix(char *out, const Pfx *x, int afi) {
    int n = fmt_addr(out, x->addr, afi);
    if (n < 0) return -1;
    out[n++] = '/';
    n += fmt_u32(out + n, x->plen);
    return n;
}
