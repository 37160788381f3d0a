/* converter.c: the Converter type: fed decompressed MRT bytes, it frames records as
 * framing.py does, hands each to its MRT type's part (rolled back on FALLBACK) and keeps the
 * counters and the current block. */
#include "fastmrt.h"

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
    plan_runs(c);
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

PyTypeObject ConvType = {
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
