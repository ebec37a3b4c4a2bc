/*
 * lakeworks.streaming._pgoutput -- row changes of pgoutput (protocol 1) as Arrow columns.
 *
 *   columns(payloads, ncols)
 *
 * takes the insert ('I'), update ('U') and delete ('D') messages of ONE relation, in
 * order, and returns their rows as text columns, ready for pyarrow's
 * LargeStringArray.from_buffers:
 *
 *   (rows, ops, origins, toast, [(offsets, data, validity, null_count), ...])
 *
 * ops: one byte a row ('I', 'U', 'D'); origins: int32 a row, the index of the message
 * it came from; toast: one byte a row, 1 when a value of an unchanged large column was
 * not sent (and no old whole row -- replica identity full -- held it; the value is null
 * then). An update that carries
 * its old key or row gives two rows: a delete of the old key, then the new row. A
 * delete's row holds the key columns (the others are null, as the server sends them).
 * Offsets are int64 (rows + 1 of them); validity is a bitmap (1 = value present).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_COLUMNS 1664

static inline uint16_t be16(const unsigned char *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t be32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) return -1;
    b->data = grown;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

typedef struct {
    char kind; /* 'n' null, 'u' unchanged toast, 't' text */
    const unsigned char *at;
    uint32_t len;
} Value;

typedef struct {
    Buf offsets, data, validity;
    Py_ssize_t nulls;
} Column;

/* Parse a TupleData at *p (end: limit) into vals[0..ncols). Returns NULL on success,
   else a message. */
static const char *parse_tuple(const unsigned char **p, const unsigned char *end,
                               Py_ssize_t ncols, Value *vals) {
    const unsigned char *q = *p;
    if (end - q < 2) return "message ends early";
    Py_ssize_t n = be16(q);
    q += 2;
    if (n != ncols) return "a row's column count differs from its relation's";
    for (Py_ssize_t i = 0; i < n; i++) {
        if (q >= end) return "message ends early";
        char kind = (char)*q++;
        vals[i].kind = kind;
        vals[i].at = NULL;
        vals[i].len = 0;
        if (kind == 't') {
            if (end - q < 4) return "message ends early";
            uint32_t len = be32(q);
            q += 4;
            if ((size_t)(end - q) < len) return "message ends early";
            vals[i].at = q;
            vals[i].len = len;
            q += len;
        } else if (kind != 'n' && kind != 'u') {
            return "unknown column kind (binary values are not asked for)";
        }
    }
    *p = q;
    return NULL;
}

static int emit(Column *cols, Py_ssize_t ncols, Py_ssize_t row, const Value *vals,
                const Value *old, char *toast) {
    for (Py_ssize_t c = 0; c < ncols; c++) {
        const Value *v = &vals[c];
        if (v->kind == 'u') {
            if (old != NULL && old[c].kind != 'u') v = &old[c];
            else *toast = 1;
        }
        Column *col = &cols[c];
        if (row % 8 == 0) {
            unsigned char zero = 0;
            if (buf_put(&col->validity, &zero, 1) < 0) return -1;
        }
        if (v->kind == 't') {
            col->validity.data[row / 8] |= (unsigned char)(1u << (row % 8));
            if (buf_put(&col->data, v->at, v->len) < 0) return -1;
        } else {
            col->nulls++;
        }
        int64_t end = (int64_t)col->data.len;
        if (buf_put(&col->offsets, &end, 8) < 0) return -1;
    }
    return 0;
}

static PyObject *columns(PyObject *self, PyObject *args) {
    PyObject *payloads;
    Py_ssize_t ncols;
    if (!PyArg_ParseTuple(args, "O!n", &PyList_Type, &payloads, &ncols)) return NULL;
    if (ncols < 1 || ncols > MAX_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d columns are supported", MAX_COLUMNS);
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(payloads);
    Column *cols = calloc((size_t)ncols, sizeof(Column));
    Value *vals = malloc((size_t)ncols * sizeof(Value));
    Value *old = malloc((size_t)ncols * sizeof(Value));
    Buf ops = {0}, origins = {0}, toasts = {0};
    PyObject *result = NULL;
    const char *error = NULL;
    Py_ssize_t bad = -1;
    Py_ssize_t rows = 0;
    int nomem = (cols == NULL || vals == NULL || old == NULL);
    for (Py_ssize_t c = 0; !nomem && c < ncols; c++) {
        int64_t zero = 0;
        if (buf_put(&cols[c].offsets, &zero, 8) < 0) nomem = 1;
    }
    for (Py_ssize_t i = 0; !nomem && error == NULL && i < count; i++) {
        PyObject *item = PyList_GET_ITEM(payloads, i);
        if (!PyBytes_Check(item)) {
            error = "a message is not bytes";
            bad = i;
            break;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(item);
        const unsigned char *end = p + PyBytes_GET_SIZE(item);
        if (end - p < 6) { error = "message ends early"; bad = i; break; }
        char kind = (char)p[0];
        p += 5; /* kind, relation oid */
        char marker = (char)*p++;
        int has_old = 0, old_full = (marker == 'O');
        if (kind == 'U' && (marker == 'K' || marker == 'O')) {
            error = parse_tuple(&p, end, ncols, old);
            if (error != NULL) { bad = i; break; }
            has_old = 1;
            if (p >= end) { error = "update without a new row"; bad = i; break; }
            marker = (char)*p++;
        }
        if (kind == 'I' || kind == 'U') {
            if (marker != 'N') {
                error = kind == 'I' ? "insert without a new row" : "update without a new row";
                bad = i;
                break;
            }
        } else if (kind == 'D') {
            if (marker != 'K' && marker != 'O') { error = "delete without its key"; bad = i; break; }
        } else {
            error = "not an insert, update or delete";
            bad = i;
            break;
        }
        error = parse_tuple(&p, end, ncols, vals);
        if (error != NULL) { bad = i; break; }
        int32_t origin = (int32_t)i;
        char no = 0, op;
        if (has_old) {
            op = 'D';
            if (emit(cols, ncols, rows, old, NULL, &no) < 0 || buf_put(&ops, &op, 1) < 0 ||
                buf_put(&origins, &origin, 4) < 0 || buf_put(&toasts, &no, 1) < 0) {
                nomem = 1;
                break;
            }
            rows++;
        }
        char toast = 0;
        op = kind;
        if (emit(cols, ncols, rows, vals, old_full ? old : NULL, &toast) < 0 ||
            buf_put(&ops, &op, 1) < 0 || buf_put(&origins, &origin, 4) < 0 ||
            buf_put(&toasts, &toast, 1) < 0) {
            nomem = 1;
            break;
        }
        rows++;
    }
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    if (error != NULL) {
        PyErr_Format(PyExc_ValueError, "change message %zd: %s", bad, error);
        goto done;
    }
    PyObject *list = PyList_New(ncols);
    if (list == NULL) goto done;
    for (Py_ssize_t c = 0; c < ncols; c++) {
        Column *col = &cols[c];
        PyObject *item = Py_BuildValue(
            "(y#y#y#n)", col->offsets.data, (Py_ssize_t)col->offsets.len,
            col->data.data ? col->data.data : "", (Py_ssize_t)col->data.len,
            col->validity.data ? col->validity.data : "", (Py_ssize_t)col->validity.len,
            col->nulls);
        if (item == NULL) { Py_DECREF(list); goto done; }
        PyList_SET_ITEM(list, c, item);
    }
    result = Py_BuildValue("(ny#y#y#N)", rows, ops.data ? ops.data : "", (Py_ssize_t)ops.len,
                           origins.data ? origins.data : "", (Py_ssize_t)origins.len,
                           toasts.data ? toasts.data : "", (Py_ssize_t)toasts.len, list);
done:
    if (cols != NULL) {
        for (Py_ssize_t c = 0; c < ncols; c++) {
            free(cols[c].offsets.data);
            free(cols[c].data.data);
            free(cols[c].validity.data);
        }
    }
    free(cols);
    free(vals);
    free(old);
    free(ops.data);
    free(origins.data);
    free(toasts.data);
    return result;
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS, "Rows of one relation's change messages as text columns."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pgoutput",
    "Row changes of pgoutput (protocol 1) as Arrow columns.", -1, methods,
};

PyMODINIT_FUNC PyInit__pgoutput(void) { return PyModule_Create(&module); }
