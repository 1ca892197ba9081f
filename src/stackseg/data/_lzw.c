/* TIFF LZW decoding for the prepare workers (stackseg.data.pages).
 *
 * Why this exists: on the demo masks, tifffile's decoder (imagecodecs' imcd_lzw_decode)
 * took 16% of a prepare worker's time. It copies every string twice, byte by byte:
 * into the output and into a table buffer of its own that it allocates on every call. Here
 * a table entry is only a (start, length) reference into the output, where every string
 * already sits: a new entry is the previous code's output plus the first byte of the
 * current one, i.e. the bytes just before and at the current position. Decoding is then one
 * memcpy per code, about 3.5x as fast on the demo masks (benchmarks/prepare_parts.py).
 *
 * Scope: TIFF 6 LZW (codes MSB-first, 9 to 12 bits, "early change"), which is what every
 * current writer produces. Streams in the old LSB-first variant are left to imagecodecs by
 * the caller (pages.py). Corrupt input raises ValueError, as in imagecodecs: a stream not
 * starting with CLEAR, a code not yet in the table, or more than LZW_SLACK codes after the
 * table is full. Nothing is read or written outside the given buffers. Tested against
 * imagecodecs in tests/data/test_lzw.py (and, in review, fuzzed under ASan and UBSan).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define LZW_CLEAR 256
#define LZW_EOI 257
#define LZW_FIRST 258
#define LZW_TABLE 4096
#define NO_CODE LZW_TABLE /* no previous code: the stream just started or was cleared */

/* codes accepted after the table is full and before the next CLEAR, as imagecodecs and
 * libtiff allow; past that the stream is damaged (every 12-bit code would look valid) */
#define LZW_SLACK 1024

enum { NO_CLEAR = -1, FIRST_NOT_LITERAL = -2, UNKNOWN_CODE = -3, TABLE_FULL = -4 };

typedef struct {
    Py_ssize_t start; /* where the entry's string sits in the output */
    Py_ssize_t len;
} entry_t;

/* Decodes src into dst[0:dstsize]; stops at EOI, at the end of the input or when dst is
 * full. Returns the number of bytes written, or a negative error code. */
static Py_ssize_t decode(const uint8_t *src, Py_ssize_t srcsize, uint8_t *dst,
                         Py_ssize_t dstsize, uint32_t *bad_code)
{
    entry_t table[LZW_TABLE];
    uint64_t bitbuf = 0;
    int bits = 0;
    Py_ssize_t pos = 0, out = 0;
    uint32_t width = 9, next = LZW_FIRST, old = NO_CODE;
    int cleared = 0;

    while (out < dstsize) {
        while (bits <= 56 && pos < srcsize) {
            bitbuf = (bitbuf << 8) | src[pos++];
            bits += 8;
        }
        if (bits < (int)width)
            break; /* the input ends without EOI: what was decoded stands */
        uint32_t code = (uint32_t)(bitbuf >> (bits - (int)width)) & ((1u << width) - 1);
        bits -= (int)width;
        if (code == LZW_CLEAR) {
            next = LZW_FIRST;
            width = 9;
            old = NO_CODE;
            cleared = 1;
            continue;
        }
        if (!cleared) { /* TIFF 6: a strip starts with CLEAR (imagecodecs insists too) */
            *bad_code = code;
            return NO_CLEAR;
        }
        if (code == LZW_EOI)
            break;
        Py_ssize_t room = dstsize - out, len;
        if (old == NO_CODE) {
            if (code > 255) {
                *bad_code = code;
                return FIRST_NOT_LITERAL;
            }
            dst[out++] = (uint8_t)code;
            old = code;
            continue;
        }
        if (next >= LZW_TABLE + LZW_SLACK) {
            *bad_code = code;
            return TABLE_FULL;
        }
        Py_ssize_t old_len = old < 256 ? 1 : table[old].len;
        if (code < 256) {
            dst[out] = (uint8_t)code;
            len = 1;
        } else if (code < next) {
            len = table[code].len;
            /* the entry lies wholly before `out`: the copy never overlaps */
            memcpy(dst + out, dst + table[code].start, (size_t)(len < room ? len : room));
        } else if (code == next) {
            /* the code being defined: the previous string (just before `out`) plus its
             * own first byte */
            len = old_len + 1;
            Py_ssize_t head = old_len < room ? old_len : room;
            memcpy(dst + out, dst + out - old_len, (size_t)head);
            if (room > old_len)
                dst[out + old_len] = dst[out - old_len];
        } else {
            *bad_code = code;
            return UNKNOWN_CODE;
        }
        if (next < LZW_TABLE) {
            /* new entry: the previous code's string and the first byte written now */
            table[next].start = out - old_len;
            table[next].len = old_len + 1;
        }
        next++; /* counts on past a full table, towards LZW_SLACK */
        if (next == 511)
            width = 10;
        else if (next == 1023)
            width = 11;
        else if (next == 2047)
            width = 12;
        out += len < room ? len : room;
        old = code;
    }
    return out;
}

static PyObject *tiff_lzw_decode(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer src, dst;
    uint32_t bad_code = 0;
    Py_ssize_t written;

    if (!PyArg_ParseTuple(args, "y*w*:tiff_lzw_decode", &src, &dst))
        return NULL;
    if (!PyBuffer_IsContiguous(&dst, 'C')) {
        PyBuffer_Release(&src);
        PyBuffer_Release(&dst);
        PyErr_SetString(PyExc_ValueError, "the output buffer must be contiguous");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    written = decode((const uint8_t *)src.buf, src.len, (uint8_t *)dst.buf, dst.len, &bad_code);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (written == NO_CLEAR)
        return PyErr_Format(PyExc_ValueError,
                            "corrupt LZW data: starts with code %u, not a clear code", bad_code);
    if (written == TABLE_FULL)
        return PyErr_Format(PyExc_ValueError,
                            "corrupt LZW data: code %u long after the table is full", bad_code);
    if (written == FIRST_NOT_LITERAL)
        return PyErr_Format(PyExc_ValueError,
                            "corrupt LZW data: code %u follows a clear code", bad_code);
    if (written == UNKNOWN_CODE)
        return PyErr_Format(PyExc_ValueError,
                            "corrupt LZW data: code %u is not yet in the table", bad_code);
    return PyLong_FromSsize_t(written);
}

static PyMethodDef methods[] = {
    {"tiff_lzw_decode", tiff_lzw_decode, METH_VARARGS,
     "tiff_lzw_decode(data, out) -> bytes written to the writable buffer out.\n\n"
     "Decodes TIFF 6 LZW (MSB-first codes); raises ValueError on corrupt data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lzw", "TIFF LZW decoding (see _lzw.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__lzw(void) { return PyModule_Create(&module); }
