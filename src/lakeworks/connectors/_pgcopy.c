/*
 * lakeworks.connectors._pgcopy -- PostgreSQL binary COPY decoded into Arrow buffers.
 *
 * Three functions, each working on whole byte ranges with the GIL released:
 *
 *   unframe  takes protocol messages off a socket buffer and appends the payloads of
 *            CopyData messages to a stream buffer (the COPY byte stream);
 *   scan     finds how many complete rows a stream buffer holds, their string bytes
 *            and null counts (so the caller can allocate exact Arrow buffers);
 *   fill     decodes those rows into the caller's Arrow buffers (values byte-swapped,
 *            PostgreSQL's 2000-01-01 epoch moved to 1970-01-01, strings appended with
 *            32-bit offsets, validity bits set).
 *
 * Column kinds (one byte each): b bool, h int16, i int32, q int64, f float32,
 * d float64, D date, T timestamp (with or without time zone), t time, s string or
 * bytes. Anything else is cast to text by the query before it reaches here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_COLUMNS 1664 /* PostgreSQL's own limit of columns in a result */
#define DATE_EPOCH_DAYS 10957                  /* 1970-01-01 .. 2000-01-01 */
#define TS_EPOCH_MICROS 946684800000000LL      /* the same, in microseconds */

enum { SPECIAL_POS_INFINITY = 1, SPECIAL_NEG_INFINITY = 2, SPECIAL_OUT_OF_RANGE = 3 };

static inline uint16_t be16(const unsigned char *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t be32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint64_t be64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static int kind_width(char kind) {
    switch (kind) {
    case 'b': return 1;
    case 'h': return 2;
    case 'i': case 'f': case 'D': return 4;
    case 'q': case 'd': case 'T': case 't': return 8;
    case 's': return -1;
    default: return 0;
    }
}

static int check_kinds(const char *kinds, Py_ssize_t n) {
    if (n < 1 || n > MAX_COLUMNS) {
        PyErr_Format(PyExc_ValueError, "between 1 and %d columns are supported", MAX_COLUMNS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kind_width(kinds[i]) == 0) {
            PyErr_Format(PyExc_ValueError, "unknown column kind '%c'", kinds[i]);
            return -1;
        }
    }
    return 0;
}

/* unframe(src, start, end, dst, dst_end) -> (consumed, dst_end, status, body)
 *
 * status 0: more input needed, or dst is full (the caller decodes, then calls again);
 *        1: CopyDone read (the COPY stream is complete);
 *        2: ErrorResponse read, body holds its fields;
 *        3: a message that does not belong in a COPY response, body is its type byte.
 * CopyOutResponse, NoticeResponse, ParameterStatus and NotificationResponse are
 * skipped.
 */
static PyObject *unframe(PyObject *self, PyObject *args) {
    Py_buffer src, dst;
    Py_ssize_t start, end, dst_end;
    if (!PyArg_ParseTuple(args, "y*nnw*n", &src, &start, &end, &dst, &dst_end))
        return NULL;
    if (start < 0 || end > src.len || start > end || dst_end < 0 || dst_end > dst.len) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "range outside the buffers");
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)src.buf;
    unsigned char *out = (unsigned char *)dst.buf;
    Py_ssize_t cap = dst.len, p = start, o = dst_end;
    int status = 0;
    unsigned char bad = 0;
    Py_ssize_t body_at = 0, body_len = 0;

    Py_BEGIN_ALLOW_THREADS
    while (p + 5 <= end) {
        unsigned char type = in[p];
        uint32_t length = be32(in + p + 1);
        if (length < 4) { status = 3; bad = type; break; }
        if (p + 1 + (Py_ssize_t)length > end) break;
        Py_ssize_t payload = (Py_ssize_t)length - 4;
        if (type == 'd') {
            if (o + payload > cap) break;
            memcpy(out + o, in + p + 5, (size_t)payload);
            o += payload;
        } else if (type == 'c') {
            p += 1 + (Py_ssize_t)length;
            status = 1;
            break;
        } else if (type == 'E') {
            body_at = p + 5;
            body_len = payload;
            p += 1 + (Py_ssize_t)length;
            status = 2;
            break;
        } else if (type != 'H' && type != 'N' && type != 'S' && type != 'A') {
            status = 3;
            bad = type;
            break;
        }
        p += 1 + (Py_ssize_t)length;
    }
    Py_END_ALLOW_THREADS

    PyObject *body;
    if (status == 2)
        body = PyBytes_FromStringAndSize((const char *)in + body_at, body_len);
    else if (status == 3)
        body = PyBytes_FromStringAndSize((const char *)&bad, 1);
    else
        body = Py_NewRef(Py_None);
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (body == NULL) return NULL;
    return Py_BuildValue("(nniN)", p, o, status, body);
}

/* scan(stream, start, end, kinds, max_rows, max_bytes)
 *   -> (rows, next, ended, var_bytes: list[int], nulls: list[int])
 *
 * Counts the complete rows from ``start`` (at most max_rows, and no more once
 * max_bytes of stream have been taken, but always at least one row when one is
 * complete). ``ended`` is true when the end-of-data marker follows those rows (then
 * ``next`` is past it). Raises ValueError on a malformed stream.
 */
static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start, end, nkinds, max_rows, max_bytes;
    const char *kinds;
    if (!PyArg_ParseTuple(args, "y*nny#nn", &buf, &start, &end, &kinds, &nkinds, &max_rows,
                          &max_bytes))
        return NULL;
    if (check_kinds(kinds, nkinds) < 0 || start < 0 || end > buf.len || start > end) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        PyBuffer_Release(&buf);
        return NULL;
    }
    int ncol = (int)nkinds;
    Py_ssize_t *var = PyMem_Calloc((size_t)ncol, sizeof(Py_ssize_t));
    Py_ssize_t *nulls = PyMem_Calloc((size_t)ncol, sizeof(Py_ssize_t));
    Py_ssize_t *row_var = PyMem_Calloc((size_t)ncol, sizeof(Py_ssize_t));
    if (var == NULL || nulls == NULL || row_var == NULL) {
        PyMem_Free(var); PyMem_Free(nulls); PyMem_Free(row_var);
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    const unsigned char *data = (const unsigned char *)buf.buf;
    Py_ssize_t pos = start, rows = 0;
    int ended = 0;
    const char *error = NULL;
    int error_field = 0, error_count = 0;

    Py_BEGIN_ALLOW_THREADS
    while (rows < max_rows && !(rows > 0 && pos - start >= max_bytes)) {
        if (pos + 2 > end) break;
        int16_t fields = (int16_t)be16(data + pos);
        if (fields == -1) { ended = 1; pos += 2; break; }
        if (fields != ncol) { error = "fields"; error_count = fields; break; }
        Py_ssize_t p = pos + 2;
        int complete = 1;
        for (int c = 0; c < ncol; c++) {
            if (p + 4 > end) { complete = 0; break; }
            int32_t length = (int32_t)be32(data + p);
            p += 4;
            if (length == -1) { row_var[c] = -1; continue; }
            if (length < 0) { error = "length"; error_field = c; break; }
            int width = kind_width(kinds[c]);
            if (width > 0 && length != width) { error = "width"; error_field = c; error_count = length; break; }
            if (p + length > end) { complete = 0; break; }
            row_var[c] = width < 0 ? length : 0;
            p += length;
        }
        if (error != NULL || !complete) break;
        int fits = 1;
        for (int c = 0; c < ncol; c++)
            if (row_var[c] > 0 && var[c] + row_var[c] > INT32_MAX) fits = 0;
        if (!fits) break;
        for (int c = 0; c < ncol; c++) {
            if (row_var[c] < 0) nulls[c]++;
            else var[c] += row_var[c];
        }
        pos = p;
        rows++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);

    PyObject *result = NULL;
    if (error != NULL) {
        if (error[0] == 'f')
            PyErr_Format(PyExc_ValueError, "a row has %d fields where %d were expected",
                         error_count, ncol);
        else if (error[0] == 'w')
            PyErr_Format(PyExc_ValueError, "column %d has a %d-byte value where %d bytes were expected",
                         error_field + 1, error_count, kind_width(kinds[error_field]));
        else
            PyErr_Format(PyExc_ValueError, "column %d has a negative length", error_field + 1);
    } else {
        PyObject *var_list = PyList_New(ncol), *null_list = PyList_New(ncol);
        if (var_list != NULL && null_list != NULL) {
            for (int c = 0; c < ncol; c++) {
                PyList_SET_ITEM(var_list, c, PyLong_FromSsize_t(var[c]));
                PyList_SET_ITEM(null_list, c, PyLong_FromSsize_t(nulls[c]));
            }
            result = Py_BuildValue("(nniOO)", rows, pos, ended, var_list, null_list);
        }
        Py_XDECREF(var_list);
        Py_XDECREF(null_list);
    }
    PyMem_Free(var); PyMem_Free(nulls); PyMem_Free(row_var);
    return result;
}

typedef struct {
    Py_ssize_t row;
    int column;
    int code;
} Special;

/* fill(stream, start, rows, kinds, validity, values, offsets) -> specials
 *
 * ``validity`` holds a writable buffer of (rows + 7) // 8 bytes for each column with
 * nulls and None for the others; ``values`` a writable buffer per column sized from
 * scan (rows * width, (rows + 7) // 8 for bool, the string bytes for strings);
 * ``offsets`` a writable buffer of (rows + 1) * 4 bytes per string column, None for
 * the others. Returns [(row, column, code)] for values Arrow cannot hold (date and
 * timestamp infinities, timestamps past Arrow's range); those rows hold zeros.
 */
static PyObject *fill(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t start, rows, nkinds;
    const char *kinds;
    PyObject *validity_list, *values_list, *offsets_list;
    if (!PyArg_ParseTuple(args, "y*nny#O!O!O!", &buf, &start, &rows, &kinds, &nkinds,
                          &PyList_Type, &validity_list, &PyList_Type, &values_list,
                          &PyList_Type, &offsets_list))
        return NULL;
    if (check_kinds(kinds, nkinds) < 0) { PyBuffer_Release(&buf); return NULL; }
    int ncol = (int)nkinds;
    if (PyList_GET_SIZE(validity_list) != ncol || PyList_GET_SIZE(values_list) != ncol ||
        PyList_GET_SIZE(offsets_list) != ncol) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "one validity, values and offsets entry per column");
        return NULL;
    }
    Py_buffer *views = PyMem_Calloc((size_t)ncol * 3, sizeof(Py_buffer));
    unsigned char **valid = PyMem_Calloc((size_t)ncol, sizeof(unsigned char *));
    unsigned char **vals = PyMem_Calloc((size_t)ncol, sizeof(unsigned char *));
    int32_t **offs = PyMem_Calloc((size_t)ncol, sizeof(int32_t *));
    Py_ssize_t *vlen = PyMem_Calloc((size_t)ncol, sizeof(Py_ssize_t));
    Py_ssize_t *vcap = PyMem_Calloc((size_t)ncol, sizeof(Py_ssize_t));
    Special *specials = NULL;
    Py_ssize_t nspecial = 0, special_cap = 0;
    int acquired = 0, ok = 1;
    PyObject *result = NULL;
    if (!views || !valid || !vals || !offs || !vlen || !vcap) { PyErr_NoMemory(); ok = 0; goto done; }

    for (int c = 0; c < ncol; c++) {
        PyObject *v = PyList_GET_ITEM(validity_list, c);
        PyObject *d = PyList_GET_ITEM(values_list, c);
        PyObject *o = PyList_GET_ITEM(offsets_list, c);
        int width = kind_width(kinds[c]);
        if (v != Py_None) {
            if (PyObject_GetBuffer(v, &views[acquired], PyBUF_WRITABLE) < 0) { ok = 0; goto done; }
            if (views[acquired].len < (rows + 7) / 8) { acquired++; goto too_small; }
            valid[c] = views[acquired++].buf;
            memset(valid[c], 0, (size_t)((rows + 7) / 8));
        }
        if (PyObject_GetBuffer(d, &views[acquired], PyBUF_WRITABLE) < 0) { ok = 0; goto done; }
        vals[c] = views[acquired].buf;
        vcap[c] = views[acquired++].len;
        if (kinds[c] == 'b') {
            if (vcap[c] < (rows + 7) / 8) goto too_small;
            memset(vals[c], 0, (size_t)((rows + 7) / 8));
        } else if (width > 0 && vcap[c] < rows * width) {
            goto too_small;
        }
        if (width < 0) {
            if (o == Py_None) goto too_small;
            if (PyObject_GetBuffer(o, &views[acquired], PyBUF_WRITABLE) < 0) { ok = 0; goto done; }
            if (views[acquired].len < (rows + 1) * 4) { acquired++; goto too_small; }
            offs[c] = views[acquired++].buf;
            offs[c][0] = 0;
        }
    }

    const unsigned char *data = (const unsigned char *)buf.buf;
    int out_of_memory = 0, overrun = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t pos = start;
    for (Py_ssize_t r = 0; r < rows && !out_of_memory && !overrun; r++) {
        if (pos + 2 > buf.len) { overrun = 1; break; }
        Py_ssize_t p = pos + 2;
        for (int c = 0; c < ncol; c++) {
            if (p + 4 > buf.len) { overrun = 1; break; }
            int32_t length = (int32_t)be32(data + p);
            p += 4;
            char kind = kinds[c];
            if (length < 0) {
                if (kind == 's') offs[c][r + 1] = (int32_t)vlen[c];
                else if (kind != 'b') {
                    int width = kind_width(kind);
                    memset(vals[c] + vlen[c], 0, (size_t)width);
                    vlen[c] += width;
                }
                continue;
            }
            if (p + length > buf.len) { overrun = 1; break; }
            if (kind != 's' && length != kind_width(kind)) { overrun = 1; break; }
            if (valid[c] != NULL) valid[c][r >> 3] |= (unsigned char)(1u << (r & 7));
            const unsigned char *s = data + p;
            int code = 0;
            switch (kind) {
            case 's':
                if (vlen[c] + length > vcap[c]) { overrun = 1; break; }
                memcpy(vals[c] + vlen[c], s, (size_t)length);
                vlen[c] += length;
                offs[c][r + 1] = (int32_t)vlen[c];
                break;
            case 'b':
                if (s[0]) vals[c][r >> 3] |= (unsigned char)(1u << (r & 7));
                break;
            case 'h': {
                uint16_t v = be16(s);
                memcpy(vals[c] + vlen[c], &v, 2);
                vlen[c] += 2;
                break;
            }
            case 'i': case 'f': {
                uint32_t v = be32(s);
                memcpy(vals[c] + vlen[c], &v, 4);
                vlen[c] += 4;
                break;
            }
            case 'D': {
                int32_t v = (int32_t)be32(s);
                if (v == INT32_MAX) { code = SPECIAL_POS_INFINITY; v = 0; }
                else if (v == INT32_MIN) { code = SPECIAL_NEG_INFINITY; v = 0; }
                else v += DATE_EPOCH_DAYS;
                memcpy(vals[c] + vlen[c], &v, 4);
                vlen[c] += 4;
                break;
            }
            case 'q': case 'd': case 't': {
                uint64_t v = be64(s);
                memcpy(vals[c] + vlen[c], &v, 8);
                vlen[c] += 8;
                break;
            }
            case 'T': {
                int64_t v = (int64_t)be64(s);
                if (v == INT64_MAX) { code = SPECIAL_POS_INFINITY; v = 0; }
                else if (v == INT64_MIN) { code = SPECIAL_NEG_INFINITY; v = 0; }
                else if (v > INT64_MAX - TS_EPOCH_MICROS) { code = SPECIAL_OUT_OF_RANGE; v = 0; }
                else v += TS_EPOCH_MICROS;
                memcpy(vals[c] + vlen[c], &v, 8);
                vlen[c] += 8;
                break;
            }
            }
            if (overrun) break;
            if (code) {
                if (nspecial == special_cap) {
                    Py_ssize_t grown = special_cap ? special_cap * 2 : 16;
                    Special *more = realloc(specials, (size_t)grown * sizeof(Special));
                    if (more == NULL) { out_of_memory = 1; break; }
                    specials = more;
                    special_cap = grown;
                }
                specials[nspecial].row = r;
                specials[nspecial].column = c;
                specials[nspecial].code = code;
                nspecial++;
            }
            p += length;
        }
        pos = p;
    }
    Py_END_ALLOW_THREADS

    if (out_of_memory) { PyErr_NoMemory(); ok = 0; goto done; }
    if (overrun) {
        PyErr_SetString(PyExc_ValueError, "the rows do not match the scan (buffer changed?)");
        ok = 0;
        goto done;
    }
    result = PyList_New(nspecial);
    if (result != NULL) {
        for (Py_ssize_t i = 0; i < nspecial; i++) {
            PyObject *item = Py_BuildValue("(nii)", specials[i].row, specials[i].column,
                                           specials[i].code);
            if (item == NULL) { Py_CLEAR(result); break; }
            PyList_SET_ITEM(result, i, item);
        }
    }
    goto done;

too_small:
    PyErr_SetString(PyExc_ValueError, "an output buffer is smaller than the rows need");
    ok = 0;
done:
    (void)ok;
    for (int i = 0; i < acquired; i++) PyBuffer_Release(&views[i]);
    PyBuffer_Release(&buf);
    free(specials);
    PyMem_Free(views); PyMem_Free(valid); PyMem_Free(vals); PyMem_Free(offs);
    PyMem_Free(vlen); PyMem_Free(vcap);
    return result;
}

static PyMethodDef methods[] = {
    {"unframe", unframe, METH_VARARGS, "Append CopyData payloads of protocol messages to a stream buffer."},
    {"scan", scan, METH_VARARGS, "Count the complete rows of a binary COPY stream."},
    {"fill", fill, METH_VARARGS, "Decode scanned rows into Arrow buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_pgcopy",
    "PostgreSQL binary COPY decoded into Arrow buffers.", -1, methods,
};

PyMODINIT_FUNC PyInit__pgcopy(void) { return PyModule_Create(&module); }
