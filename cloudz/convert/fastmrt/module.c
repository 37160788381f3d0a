/* module.c: the module cloudz.convert._fastmrt: the Converter type, FIELDS, the run() results
 * and the bz2 block functions. */
#include "fastmrt.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

const char *const FIELD_NAMES[F_COUNT] = {
    "timestamp", "collector", "mrt_type", "entry_type", "peer_ip", "peer_asn", "prefix",
    "path_id", "as_path", "origin", "next_hop", "local_pref", "med", "atomic_aggregate",
    "aggregator", "communities", "large_communities", "extended_communities", "old_state",
    "new_state", "originated_time", "only_to_customer", "other_attributes", "source_path",
    "source_sha256", "record_index", "row_index", "as_path_asns", "origin_asns",
    "aggregator_asn", "aggregator_ip", "ip_version",
};

/* glibc maps each allocation over its (moving) threshold afresh and trims the heap's top as soon
 * as it is free: the converter's per-step buffers (1 MiB of decompressed bytes, 2 MiB blocks, the
 * compressed block) were page-faulted in anew each step, ~11 % of a RIB's CPU in the kernel
 * (bench/README.md). Fixed thresholds keep them in the heap and reuse them: peak RSS stays
 * bounded by what is in use at once, not by the file. Process-wide: the converter's process. */
static PyObject *py_keep_freed_memory(PyObject *self, PyObject *Py_UNUSED(ignored)) {
#ifdef __GLIBC__
    if (mallopt(M_MMAP_THRESHOLD, 16 << 20) && mallopt(M_TRIM_THRESHOLD, 64 << 20)) Py_RETURN_TRUE;
#endif
    Py_RETURN_FALSE;
}

static PyMethodDef mod_methods[] = {
    {"keep_freed_memory", py_keep_freed_memory, METH_NOARGS,
     "Keep freed buffers below 16 MiB in the heap for reuse (glibc; else a no-op): True if set."},
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
