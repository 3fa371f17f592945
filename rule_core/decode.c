/* Decoders and the splitting of inputs into values: percent-decoding, base64, cookies, query
 * arguments. Pure functions over byte strings. */
#include "mitigd_core.h"
#include "core_internal.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>

/* 16 bytes with every '+' turned into a space (xor 0x0b where a byte equals '+'). */
static inline __m128i plus_to_space16(__m128i v)
{
    return _mm_xor_si128(v, _mm_and_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('+')), _mm_set1_epi8('+' ^ ' ')));
}

/* 16 bytes ASCII lower-cased: the bytes in 'A'..'Z' are those whose value plus 0x3f (wrapping) is
 * below -128 + 26 as signed bytes; 0x20 is or-ed into exactly those. */
static inline __m128i fold16(__m128i v)
{
    __m128i upper = _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x3f)), _mm_set1_epi8(-128 + 26));
    return _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
}
#endif

/* n bytes (4 to 7) as one word: two four-byte loads, overlapping. Equal bytes give equal words. */
static inline uint64_t load_4to7(const unsigned char *p, size_t n)
{
    uint32_t lo, hi;
    memcpy(&lo, p, 4);
    memcpy(&hi, p + n - 4, 4);
    return (uint64_t) hi << 32 | lo;
}

/* Each byte's hex digit value, or -1 (16 rows of 16 bytes). */
static const signed char kHex[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, 10, 11, 12, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

int mc_hex_value(unsigned char c) { return kHex[c]; }

/* The index of the first '%' or '+' (len when none): 16 bytes at a time with SSE2, else eight. */
size_t mc_find_escape(const unsigned char *p, size_t len)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i pct = _mm_set1_epi8('%'), plus = _mm_set1_epi8('+');
    unsigned m;
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) (p + i));
        m = (unsigned) _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, pct), _mm_cmpeq_epi8(v, plus)));
        if (m != 0) return i + (size_t) __builtin_ctz(m);
    }
    if (i < len && len >= 16) {  /* the last 16 bytes, those already seen masked off */
        __m128i v = _mm_loadu_si128((const __m128i *) (p + len - 16));
        m = (unsigned) _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, pct), _mm_cmpeq_epi8(v, plus)));
        m >>= 16 - (len - i);
        return m != 0 ? i + (size_t) __builtin_ctz(m) : len;
    }
#endif
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t v, a, b;
    for (; i + 8 <= len; i += 8) {
        memcpy(&v, p + i, 8);
        a = v ^ (ones * '%');
        b = v ^ (ones * '+');
        if (((a - ones) & ~a & highs) | ((b - ones) & ~b & highs)) break;
    }
    for (; i < len && p[i] != '%' && p[i] != '+'; i++) {}
    return i;
}

/* Sixteen at a time with SSE2, the last 16 overlapping; else (and under 16 bytes) eight at a time:
 * an exact per-byte mask of the '+' bytes (high bit of each byte of t that is zero) turns 0x2b
 * into 0x20 by xor 0x0b. */
void mc_plus_to_space(const unsigned char *p, size_t n, unsigned char *d)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        _mm_storeu_si128((__m128i *) (d + i), plus_to_space16(_mm_loadu_si128((const __m128i *) (p + i))));
    }
    if (i < n && n >= 16) {  /* the last 16 again: the same bytes come out */
        _mm_storeu_si128((__m128i *) (d + n - 16), plus_to_space16(_mm_loadu_si128((const __m128i *) (p + n - 16))));
        return;
    }
#endif
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL, plus = 0x2b2b2b2b2b2b2b2bULL;
    uint64_t v, t, zero;
    for (; i + 8 <= n; i += 8) {
        memcpy(&v, p + i, 8);
        t = v ^ plus;
        zero = ~(((t & low7) + low7) | t | low7);  /* 0x80 in each byte where t is 0 */
        v ^= (zero >> 7) * 0x0b;
        memcpy(d + i, &v, 8);
    }
    for (; i < n; i++) d[i] = p[i] == '+' ? ' ' : p[i];
}

/* 16 bytes at a time with SSE2 (fold16), the last 16 overlapping; under 16 bytes or without SSE2,
 * eight at a time by mc_fold8. */
void mc_fold_copy(const unsigned char *p, size_t len, unsigned char *q)
{
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= len; i += 16) {
        _mm_storeu_si128((__m128i *) (q + i), fold16(_mm_loadu_si128((const __m128i *) (p + i))));
    }
    if (i < len && len >= 16) {  /* the last 16 again: folding twice changes nothing */
        _mm_storeu_si128((__m128i *) (q + len - 16), fold16(_mm_loadu_si128((const __m128i *) (p + len - 16))));
        return;
    }
#endif
    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        x = mc_fold8(x);
        memcpy(q + i, &x, 8);
    }
    for (; i < len; i++) q[i] = mc_lower(p[i]);
}

/* At p, a '%': its escape decoded into *d ("%XY" with two hex digits is one byte; '%' and a byte
 * that is not one is that byte; "%X" and such a byte is nothing; an escape cut by the end is
 * nothing). Returns where the input goes on. */
static const unsigned char *unescape_one(const unsigned char *p, const unsigned char *end, unsigned char **d)
{
    int high, low;

    if (end - p < 2) return end;
    high = kHex[p[1]];
    if (high < 0) {
        *(*d)++ = p[1];
        return p + 2;
    }
    if (end - p < 3) return end;
    low = kHex[p[2]];
    if (low >= 0) *(*d)++ = (unsigned char) (high * 16 + low);
    return p + 3;
}

/* Runs up to each '%' are copied with '+' as a space: with SSE2, 16 bytes are stored at once and
 * the output advances to the '%' (out never runs ahead of the input, so 16 bytes fit while 16
 * remain to read). */
size_t mc_unescape(const unsigned char *p, size_t len, unsigned char *out)
{
    const unsigned char *end = p + len, *pct;
    unsigned char *d = out;
    size_t run;
#ifdef __SSE2__
    const __m128i percent = _mm_set1_epi8('%');
    unsigned m;

    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *) p);
        m = (unsigned) _mm_movemask_epi8(_mm_cmpeq_epi8(v, percent));
        _mm_storeu_si128((__m128i *) d, plus_to_space16(v));
        run = m != 0 ? (size_t) __builtin_ctz(m) : 16;
        p += run;
        d += run;
        if (m != 0) p = unescape_one(p, end, &d);
    }
#endif
    while (p < end) {
        pct = memchr(p, '%', (size_t) (end - p));
        run = (size_t) ((pct ? pct : end) - p);
        mc_plus_to_space(p, run, d);
        p += run;
        d += run;
        if (p < end) p = unescape_one(p, end, &d);
    }
    return (size_t) (d - out);
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

size_t mc_base64(const unsigned char *in, size_t len, unsigned char *out)
{
    uint32_t acc = 0;
    int bits = 0, v;
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == ' ' || in[i] == '\t' || in[i] == '\r' || in[i] == '\n') {
            continue;
        }
        v = b64_value(in[i]);
        if (v < 0) {
            break;  /* '=' padding, or the end of the encoded part */
        }
        acc = (acc << 6) | (uint32_t) v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return n;
}

int mc_next_cookie(const unsigned char **p, const unsigned char *end, mc_str *name, mc_str *value)
{
    const unsigned char *semi, *eq, *q;

    while (*p < end) {
        q = *p;
        semi = memchr(q, ';', (size_t) (end - q));
        if (semi == NULL) semi = end;
        *p = semi < end ? semi + 1 : end;
        while (q < semi && (*q == ' ' || *q == '\t')) q++;
        eq = memchr(q, '=', (size_t) (semi - q));
        if (eq == NULL) continue;  /* a piece without '=' is no cookie */
        name->data = q;
        name->len = (size_t) (eq - q);
        value->data = eq + 1;
        value->len = (size_t) (semi - eq - 1);
        return 1;
    }
    return 0;
}

/* Cookies "a=1; b=2" (every Cookie header): the value of each cookie named `name` (ASCII
 * case-insensitive), up to ';'. */
size_t mc_cookie_values(mc_str cookies, mc_str name, mc_str *out, size_t max)
{
    const unsigned char *p = cookies.data, *end = cookies.data + cookies.len;
    mc_str n, v;
    size_t k = 0;

    while (k < max && mc_next_cookie(&p, end, &n, &v)) {
        if (n.len == name.len && mc_strncasecmp(n.data, name.data, name.len) == 0) out[k++] = v;
    }
    return k;
}

/* "a=1&b=2&c": each argument's name and raw value (a name without '=' has an empty value; empty
 * pieces between '&&' are skipped). Decoding is the condition's transform. */
size_t mc_split_args(mc_str query, mc_str *names, mc_str *values, size_t max)
{
    const unsigned char *p = query.data, *end = query.data + query.len, *amp, *eq;
    size_t n = 0;

    while (p < end && n < max) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }
        if (amp > p) {
            eq = memchr(p, '=', (size_t) (amp - p));
            names[n].data = p;
            names[n].len = (size_t) ((eq ? eq : amp) - p);
            values[n].data = eq ? eq + 1 : amp;
            values[n].len = eq ? (size_t) (amp - eq - 1) : 0;
            n++;
        }
        p = amp + 1;
    }
    return n;
}

uint32_t mc_name_hash(const unsigned char *p, size_t n)
{
    const uint64_t mul = 0x9e3779b97f4a7c15ULL;
    uint64_t h = n * mul, w = 0;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ mc_fold8(w)) * mul;
        h ^= h >> 31;
    }
    if (i < n) {  /* the last eight bytes again (overlapping), or the few there are */
        if (n >= 8) {
            memcpy(&w, p + n - 8, 8);
        } else if (n >= 4) {
            w = load_4to7(p, n);
        } else {
            w = (uint64_t) p[0] | (uint64_t) p[n / 2] << 8 | (uint64_t) p[n - 1] << 16;
        }
        h = (h ^ mc_fold8(w)) * mul;
    }
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 29;
    return (uint32_t) h;
}

int mc_strncasecmp(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
    uint64_t x8, y8;
    for (; i + 8 <= n; i += 8) {  /* equal words skipped eight bytes at a time; a difference is ordered below */
        memcpy(&x8, a + i, 8);
        memcpy(&y8, b + i, 8);
        if (mc_fold8(x8) != mc_fold8(y8)) break;
    }
    if (n >= 4 && n < 8 && mc_fold8(load_4to7(a, n)) == mc_fold8(load_4to7(b, n))) return 0;  /* "Cookie", "Host" */
    for (; i < n; i++) {
        unsigned char x = a[i], y = b[i];
        x = mc_lower(x);
        y = mc_lower(y);
        if (x != y) {
            return x < y ? -1 : 1;
        }
    }
    return 0;
}
