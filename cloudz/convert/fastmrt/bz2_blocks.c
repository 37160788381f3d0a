/* bz2_blocks.c: bz2 block boundaries and one-block streams, for decoding a bz2 file's blocks in
 * parallel (cloudz/convert/decompress.py). */
#include "fastmrt.h"

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

void bz_table_init(void) {
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

PyObject *py_find_bz2_magic(PyObject *self, PyObject *args) {
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

PyObject *py_bz2_bits(PyObject *self, PyObject *args) {
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

PyObject *py_bz2_block(PyObject *self, PyObject *args) {
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
