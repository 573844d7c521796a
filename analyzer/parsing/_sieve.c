/* The line sieve of analyzer/parsing/skipping.py, compiled: one pass over a block of log bytes
 * that finds the lines the parser must look at.
 *
 * An optional speed-up: skipping.py holds the same function in Python (``py_mark_lines``), which
 * is what runs when this module was not built, and what the tests compare it with. Both must
 * give exactly the same list for every block.
 *
 * mark_lines(block, labels, hits[, json_levels]) -> ([(start, end, index, cut, alone, json)], tail)
 *   block   bytes: whole lines, each ending with "\n" but perhaps the last
 *   labels  tuple of bytes: the level labels of lines that may be skipped (each [A-Z]{4,7})
 *   hits    list of int, ascending: offsets of anchor hits; the lines holding them are marked
 *   json_levels  None (no JSON line is plain) or 100 bytes: json_levels[n] != 0 when pino's
 *           numeric level n (two digits) may be skipped
 * One tuple per marked line, in order: a line is marked unless it is "plain", that is
 *   - either it starts with an optional docker timestamp "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z ", then
 *     a pino time "[HH:MM:SS.mmm] ", then one of ``labels`` and ":", and after that head it holds
 *     no "] " (no second record glued on);
 *   - or it is "a JSON record" (below) whose level is two digits n with json_levels[n] set, and
 *     the byte string "\"level\"" occurs in it once only;
 *   - and, either way, it holds no ESC byte and no byte outside ASCII, and no offset of ``hits``
 *     falls inside it.
 * A JSON record: an optional docker timestamp whose date and time exist (year 1-9999, the day
 *   in its month, hour < 24, minute and second < 60), then '{"level":' and an integer of one to
 *   three digits without a leading zero, then ',' or '}', the whole being one JSON object
 *   (RFC 8259; whitespace " \t\r" between tokens; no NaN or Infinity) that ends the line (one
 *   "\r" may follow it), whose strings hold no byte below 0x20 and no escape but "\n", and that
 *   holds at most 64 '{' and '[' bytes in all.
 * start, end: the line's offsets (end just after its "\n", or the block's end);
 * index: the line's 0-based number in the block;
 * cut: the offset just after a head of a docker timestamp and a pino time ("...Z [..] "), else 0;
 * alone: 1 when the next line is in the block and "starts" a record: with a docker timestamp or
 *   not, it is a pino time, a level [A-Z]{4,7} and ":", and holds no ESC, no byte outside ASCII
 *   and no "] " after that head; or, when json_levels is given, it is a JSON record (above) with
 *   "\"level\"" once in it, and no ESC or byte outside ASCII. The parser reads such a line as
 *   the start of a record of its own, never as a continuation line: the marked line has none.
 *   (A plain line starts a record.)
 * json: how many of the plain lines between the previous marked line (or the block's start) and
 *   this one are JSON lines; tail: how many of those after the last marked line are.
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


/* Whether "YYYY-MM-DDTHH:MM:SS" at p (its shape already checked) is a time that exists. */
static int valid_second(const unsigned char *p)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    int month = (p[5] - '0') * 10 + (p[6] - '0'), day = (p[8] - '0') * 10 + (p[9] - '0');
    int hour = (p[11] - '0') * 10 + (p[12] - '0'), minute = (p[14] - '0') * 10 + (p[15] - '0');
    int second = (p[17] - '0') * 10 + (p[18] - '0'), most;
    if (year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
        return 0;
    most = days[month - 1];
    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        most = 29;
    return day <= most;
}

/* The JSON validator: each returns the offset just after the value starting at p[i] (n bytes
 * in all), or -1 when it is not one that mark_lines accepts. */
static Py_ssize_t json_value(const unsigned char *p, Py_ssize_t i, Py_ssize_t n);

static Py_ssize_t json_space(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
        i++;
    return i;
}

static Py_ssize_t json_string(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    if (i >= n || p[i] != '"')
        return -1;
    for (i++; i < n; i++) {
        if (p[i] == '"')
            return i + 1;
        if (p[i] < 0x20)
            return -1;
        if (p[i] == '\\') {
            if (i + 1 >= n || p[i + 1] != 'n')
                return -1;
            i++;
        }
    }
    return -1;
}

static Py_ssize_t json_number(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t first;
    if (i < n && p[i] == '-')
        i++;
    if (i >= n || !is_digit(p[i]))
        return -1;
    if (p[i] == '0')
        i++;
    else
        while (i < n && is_digit(p[i]))
            i++;
    if (i + 1 < n && p[i] == '.' && is_digit(p[i + 1])) {
        i++;
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        first = i + 1;
        if (first < n && (p[first] == '+' || p[first] == '-'))
            first++;
        if (first < n && is_digit(p[first])) {
            i = first;
            while (i < n && is_digit(p[i]))
                i++;
        }
    }
    return i;
}

static Py_ssize_t json_members(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, unsigned char close)
{
    /* p[i] is just after '{' or '[' */
    i = json_space(p, i, n);
    if (i < n && p[i] == close)
        return i + 1;
    for (;;) {
        if (close == '}') {
            i = json_string(p, i, n);
            if (i < 0)
                return -1;
            i = json_space(p, i, n);
            if (i >= n || p[i] != ':')
                return -1;
            i = json_space(p, i + 1, n);
        }
        i = json_value(p, i, n);
        if (i < 0)
            return -1;
        i = json_space(p, i, n);
        if (i < n && p[i] == close)
            return i + 1;
        if (i >= n || p[i] != ',')
            return -1;
        i = json_space(p, i + 1, n);
    }
}

static Py_ssize_t json_value(const unsigned char *p, Py_ssize_t i, Py_ssize_t n)
{
    if (i >= n)
        return -1;
    switch (p[i]) {
    case '"':
        return json_string(p, i, n);
    case '{':
        return json_members(p, i + 1, n, '}');
    case '[':
        return json_members(p, i + 1, n, ']');
    case 't':
        return n - i >= 4 && memcmp(p + i, "true", 4) == 0 ? i + 4 : -1;
    case 'f':
        return n - i >= 5 && memcmp(p + i, "false", 5) == 0 ? i + 5 : -1;
    case 'n':
        return n - i >= 4 && memcmp(p + i, "null", 4) == 0 ? i + 4 : -1;
    default:
        return json_number(p, i, n);
    }
}

/* For a line (n bytes, without its "\n") whose docker timestamp (if any) ends at d: -1 when it is
 * not a JSON record (see the top), else its level (an integer of one to three digits). */
static int json_record(const unsigned char *line, Py_ssize_t n, Py_ssize_t d)
{
    const unsigned char *p = line + d;
    Py_ssize_t m = n - d, i, nest = 0;
    int level = 0;
    if (d && !valid_second(line))
        return -1;
    if (m > 0 && p[m - 1] == '\r')
        m--;
    if (m < 11 || memcmp(p, "{\"level\":", 9) != 0 || p[9] < '1' || p[9] > '9' || p[m - 1] != '}')
        return -1;
    for (i = 9; i < 12 && i < m && is_digit(p[i]); i++)
        level = level * 10 + (p[i] - '0');
    if (i >= m || (p[i] != ',' && p[i] != '}'))
        return -1;
    for (i = 0; i < m; i++) {
        if (p[i] == '{' || p[i] == '[')
            nest++;
    }
    if (nest > 64 || json_value(p, 0, m) != m)
        return -1;
    return level;
}

/* How many times "\"level\"" occurs in p[0:n] (0, 1 or 2: more is counted as 2). */
static int level_keys(const unsigned char *p, Py_ssize_t n)
{
    const unsigned char *end = p + n, *q = p;
    int found = 0;
    while (found < 2 && q + 7 <= end && (q = memchr(q, '"', end - q - 6)) != NULL) {
        if (memcmp(q, "\"level\"", 7) == 0) {
            found++;
            q += 7;
        } else {
            q++;
        }
    }
    return found;
}

/* Append (start, end, index, cut, alone, json) to out; -1 on error. */
static int append(PyObject *out, const Py_ssize_t *held, int alone)
{
    PyObject *item = Py_BuildValue("(nnnnin)", held[0], held[1], held[2], held[3], alone, held[4]);
    int failed = item == NULL || PyList_Append(out, item) < 0;
    Py_XDECREF(item);
    return failed ? -1 : 0;
}

static PyObject *mark_lines(PyObject *self, PyObject *args)
{
    Py_buffer view;
    PyObject *labels, *hits, *json_arg = Py_None, *out = NULL;
    const unsigned char *json_levels = NULL;
    const char *label[MAX_LABELS];
    Py_ssize_t label_len[MAX_LABELS], nlabels, nhits, next_hit = 0, hit;
    Py_ssize_t size, pos = 0, index = 0, k;
    Py_ssize_t held[5]; /* the last marked line (start, end, index, cut, json), told once its next is seen */
    Py_ssize_t json_run = 0; /* plain JSON lines since the last marked line */
    int holding = 0;
    const unsigned char *b;
    int clean;

    if (!PyArg_ParseTuple(args, "y*O!O!|O", &view, &PyTuple_Type, &labels, &PyList_Type, &hits, &json_arg))
        return NULL;
    if (json_arg != Py_None) {
        if (!PyBytes_Check(json_arg) || PyBytes_GET_SIZE(json_arg) != 100) {
            PyErr_SetString(PyExc_TypeError, "json_levels must be None or 100 bytes");
            goto done;
        }
        json_levels = (const unsigned char *)PyBytes_AS_STRING(json_arg);
    }
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
        int plain = 0, starts = 0, marked, is_json = 0;

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
        } else if (json_levels != NULL && n - d > 9 && line[d] == '{') {
            Py_ssize_t body = n - (nl != NULL); /* without its "\n" */
            int level = json_record(line, body, d);
            if (level >= 0 && (clean || !has_esc_or_high(line, n)) && level_keys(line + d, body - d) == 1) {
                starts = 1;
                plain = is_json = level >= 10 && level <= 99 && json_levels[level];
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
            held[4] = json_run;
            json_run = 0;
            holding = 1;
        } else if (is_json) {
            json_run++;
        }
        pos = end;
        index++;
    }
    if (holding && append(out, held, 0) < 0) /* the last line of the block: no next line here */
        goto fail;
    {
        PyObject *pair = Py_BuildValue("(Nn)", out, json_run);
        out = pair; /* (NULL on error: the list was given away either way) */
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"mark_lines", mark_lines, METH_VARARGS,
     "mark_lines(block, labels, hits[, json_levels]) -> (marks, tail): see skipping.py"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sieve", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sieve(void) { return PyModule_Create(&module); }
