/* The line sieve of analyzer/parsing/skipping.py, compiled: one pass over a block of log bytes
 * that finds the lines the parser must look at.
 *
 * An optional speed-up: skipping.py holds the same function in Python (``py_mark_lines``), which
 * is what runs when this module was not built, and what the tests compare it with. Both must
 * give exactly the same list for every block.
 *
 * mark_lines(block, labels, hits) -> list of (start, end, index, cut, alone)
 *   block   bytes: whole lines, each ending with "\n" but perhaps the last
 *   labels  tuple of bytes: the level labels of lines that may be skipped (each [A-Z]{4,7})
 *   hits    list of int, ascending: offsets of anchor hits; the lines holding them are marked
 * One tuple per marked line, in order: a line is marked unless it is "plain", that is
 *   - it starts with an optional docker timestamp "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z ", then a pino
 *     time "[HH:MM:SS.mmm] ", then one of ``labels`` and ":";
 *   - it holds no ESC byte and no byte outside ASCII;
 *   - after that head it holds no "] " (no second record glued on);
 *   - no offset of ``hits`` falls inside it.
 * start, end: the line's offsets (end just after its "\n", or the block's end);
 * index: the line's 0-based number in the block;
 * cut: the offset just after a head of a docker timestamp and a pino time ("...Z [..] "), else 0;
 * alone: 1 when the next line is in the block and "starts" a record: with a docker timestamp or
 *   not, it is a pino time, a level [A-Z]{4,7} and ":", and holds no ESC, no byte outside ASCII
 *   and no "] " after that head. The parser reads such a line as the start of a record of its
 *   own, never as a continuation line: the marked line has none. (A plain line starts a record.)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_LABELS 16

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

/* Length of "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z " at p (n bytes left), or 0. */
static Py_ssize_t docker_stamp(const unsigned char *p, Py_ssize_t n)
{
    static const char shape[] = "DDDD-DD-DDTDD:DD:DD";
    Py_ssize_t i, first;
    if (n < 21)
        return 0;
    for (i = 0; i < 19; i++) {
        if (shape[i] == 'D' ? !is_digit(p[i]) : p[i] != (unsigned char)shape[i])
            return 0;
    }
    if (p[i] == '.') {
        first = ++i;
        while (i < n && i - first < 9 && is_digit(p[i]))
            i++;
        if (i == first)
            return 0;
    }
    if (i + 1 >= n || p[i] != 'Z' || p[i + 1] != ' ')
        return 0;
    return i + 2;
}

/* Length of "[HH:MM:SS.mmm] " at p (n bytes left), or 0. */
static Py_ssize_t pino_time(const unsigned char *p, Py_ssize_t n)
{
    static const char shape[] = "[DD:DD:DD.DDD] ";
    Py_ssize_t i;
    if (n < 15)
        return 0;
    for (i = 0; i < 15; i++) {
        if (shape[i] == 'D' ? !is_digit(p[i]) : p[i] != (unsigned char)shape[i])
            return 0;
    }
    return 15;
}

/* Whether p[0:n] holds "] " (a "]" at its very end does not count: a line ends there). */
static int has_bracket_space(const unsigned char *p, Py_ssize_t n)
{
    const unsigned char *end = p + n, *q = p;
    while (q < end && (q = memchr(q, ']', end - q)) != NULL) {
        if (q + 1 < end && q[1] == ' ')
            return 1;
        q++;
    }
    return 0;
}

/* Whether p[0:n] holds an ESC or a byte outside ASCII. */
static int has_esc_or_high(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        if (p[i] == 0x1b || p[i] >= 0x80)
            return 1;
    }
    return 0;
}

/* Whether p[0:n] holds neither ESC nor a byte outside ASCII: memchr, and an OR of the bytes
 * taken a chunk at a time (a loop the compiler vectorizes). */
static int block_is_clean(const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t i, j;
    if (memchr(p, 0x1b, n) != NULL)
        return 0;
    for (i = 0; i < n; i += 4096) {
        Py_ssize_t stop = n - i < 4096 ? n - i : 4096;
        unsigned char any = 0;
        for (j = 0; j < stop; j++)
            any |= p[i + j];
        if (any & 0x80)
            return 0;
    }
    return 1;
}

/* Append (start, end, index, cut, alone) to out; -1 on error. */
static int append(PyObject *out, const Py_ssize_t *held, int alone)
{
    PyObject *item = Py_BuildValue("(nnnni)", held[0], held[1], held[2], held[3], alone);
    int failed = item == NULL || PyList_Append(out, item) < 0;
    Py_XDECREF(item);
    return failed ? -1 : 0;
}

static PyObject *mark_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    PyObject *labels, *hits, *out = NULL;
    const char *label[MAX_LABELS];
    Py_ssize_t label_len[MAX_LABELS], nlabels, nhits, next_hit = 0, hit;
    Py_ssize_t size, pos = 0, index = 0, k;
    Py_ssize_t held[4]; /* the last marked line (start, end, index, cut), told once its next is seen */
    int holding = 0;
    const unsigned char *b;
    int clean;

    if (!PyArg_ParseTuple(args, "y*O!O!", &view, &PyTuple_Type, &labels, &PyList_Type, &hits))
        return NULL;
    nlabels = PyTuple_GET_SIZE(labels);
    if (nlabels > MAX_LABELS) {
        PyErr_SetString(PyExc_ValueError, "too many labels");
        goto done;
    }
    for (k = 0; k < nlabels; k++) {
        PyObject *item = PyTuple_GET_ITEM(labels, k);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "labels must be bytes");
            goto done;
        }
        label[k] = PyBytes_AS_STRING(item);
        label_len[k] = PyBytes_GET_SIZE(item);
    }
    nhits = PyList_GET_SIZE(hits);
    out = PyList_New(0);
    if (out == NULL)
        goto done;
    b = (const unsigned char *)view.buf;
    size = view.len;
    clean = block_is_clean(b, size); /* most blocks: then no line needs the byte-by-byte look */

    while (pos < size) {
        const unsigned char *line = b + pos, *nl = memchr(line, '\n', size - pos);
        Py_ssize_t end = nl ? (nl - b) + 1 : size, n = end - pos;
        Py_ssize_t d = docker_stamp(line, n), t = pino_time(line + d, n - d), cut = 0, h, lv;
        int plain = 0, starts = 0, marked;

        if (t) {
            cut = d ? pos + d + t : 0;
            h = d + t;
            lv = 0;
            while (h + lv < n && lv < 8 && is_upper(line[h + lv]))
                lv++;
            if (lv >= 4 && lv <= 7 && h + lv < n && line[h + lv] == ':') {
                int bare = clean || !has_esc_or_high(line, n);
                int single = !has_bracket_space(line + h + lv, n - h - lv);
                starts = bare && single;
                if (starts) {
                    for (k = 0; k < nlabels; k++) {
                        if (label_len[k] == lv && memcmp(label[k], line + h, lv) == 0) {
                            plain = 1;
                            break;
                        }
                    }
                }
            }
        }
        if (holding) { /* this line tells whether the marked line before it was alone */
            if (append(out, held, starts) < 0)
                goto fail;
            holding = 0;
        }
        marked = !plain;
        for (; next_hit < nhits; next_hit++) { /* the hits in this line */
            hit = PyLong_AsSsize_t(PyList_GET_ITEM(hits, next_hit));
            if (hit == -1 && PyErr_Occurred())
                goto fail;
            if (hit >= end)
                break;
            if (hit < pos) { /* an earlier line's: out of order, which would leave it unmarked */
                PyErr_SetString(PyExc_ValueError, "hits must be ascending offsets in the block");
                goto fail;
            }
            marked = 1;
        }
        if (marked) {
            held[0] = pos;
            held[1] = end;
            held[2] = index;
            held[3] = cut;
            holding = 1;
        }
        pos = end;
        index++;
    }
    if (holding && append(out, held, 0) < 0) /* the last line of the block: no next line here */
        goto fail;
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"mark_lines", mark_lines, METH_VARARGS,
     "mark_lines(block, labels, hits) -> [(start, end, index, cut, alone)]: see skipping.py"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sieve", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sieve(void) { return PyModule_Create(&module); }
