/* JSON request bodies (application/json, or any type ending in +json). Every scalar (string,
 * number, true, false, null) is a form field named after the member that holds it, at any depth; an
 * array's elements take the name of the member holding the array. Every member name is a value of
 * body_arg_names. Strings are decoded (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs to one
 * UTF-8 sequence); an escape that is not one of these is kept as written. The tokenizer is lenient:
 * a byte that fits no token is skipped and a string cut by the cap runs to its end, so no value
 * hides behind a syntax error. The prefilter scans the body with its strings decoded beside the raw
 * body (mc_json_decoded_body): every decoded string is a piece of it. */
#include "core_internal.h"

#include <string.h>

#define NAME_DEPTH 256  /* containers nested deeper take the name of the 256th */

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    int i, d;
    if (end - p < 4) return 0;
    for (i = 0; i < 4; i++) {
        if ((d = mc_hex_value(p[i])) < 0) return 0;
        v = v << 4 | (unsigned) d;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(unsigned cp, unsigned char *d)
{
    if (cp < 0x80) {
        d[0] = (unsigned char) cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char) (0xc0 | cp >> 6);
        d[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char) (0xe0 | cp >> 12);
        d[1] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
        d[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (unsigned char) (0xf0 | cp >> 18);
    d[1] = (unsigned char) (0x80 | (cp >> 12 & 0x3f));
    d[2] = (unsigned char) (0x80 | (cp >> 6 & 0x3f));
    d[3] = (unsigned char) (0x80 | (cp & 0x3f));
    return 4;
}

/* One escape at p (a backslash) decoded into d: the bytes written; *p moved past it. Never more
 * bytes than it reads (a surrogate pair is 12 bytes in, 4 out). */
static size_t json_escape(const unsigned char **p, const unsigned char *end, unsigned char *d)
{
    static const unsigned char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const unsigned char *q = *p, *hit;
    unsigned cp, low;

    if (end - q >= 2 && (hit = memchr(from, q[1], sizeof(from) - 1)) != NULL) {
        *d = to[hit - from];
        *p = q + 2;
        return 1;
    }
    if (end - q >= 2 && q[1] == 'u' && hex4(q + 2, end, &cp)) {
        *p = q + 6;
        if (cp >= 0xd800 && cp < 0xdc00 && end - *p >= 6 && (*p)[0] == '\\' && (*p)[1] == 'u' && hex4(*p + 2, end, &low) &&
            low >= 0xdc00 && low < 0xe000) {
            *p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        return put_utf8(cp, d);
    }
    *d = '\\';  /* not an escape JSON knows: kept as written */
    *p = q + 1;
    return 1;
}

/* A string's closing quote from p (past its opening one), escapes skipped; NULL when it runs to end. */
static const unsigned char *closing_quote(const unsigned char *p, const unsigned char *end)
{
    while (p < end && *p != '"') p += *p == '\\' && end - p >= 2 ? 2 : 1;
    return p < end ? p : NULL;
}

static const unsigned char *string_end(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *q = closing_quote(p, end);
    return q ? q + 1 : end;
}

/* A string's content from p (past its opening quote) to its closing quote or end, decoded into d
 * (room for as many bytes as it reads; it ends where string_end says). Returns the length. */
static size_t decode_string(const unsigned char *p, const unsigned char *end, unsigned char *d)
{
    unsigned char *start = d;
    while (p < end && *p != '"') {
        if (*p == '\\') {
            d += json_escape(&p, end, d);
        } else {
            *d++ = *p++;
        }
    }
    return (size_t) (d - start);
}

/* The string at p (past its quote): its text in the body when it has no backslash, else decoded
 * into new memory (fill 0: only its end is wanted). *after: past it. 0, or -1 out of memory. */
static int string_at(const unsigned char *p, const unsigned char *end, int fill, const mc_alloc *a, mc_str *out,
                     const unsigned char **after)
{
    const unsigned char *q = p;
    unsigned char *d;

    while (q < end && *q != '"' && *q != '\\') q++;
    *after = string_end(q, end);
    out->data = p;
    out->len = (size_t) (q - p);
    if (q == end || *q == '"' || !fill) return 0;
    if ((d = a->alloc(a->ctx, (size_t) (*after - p) + 1)) == NULL) return -1;
    out->data = d;
    out->len = decode_string(p, end, d);
    return 0;
}

static int is_delimiter(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ':' || c == '[' || c == ']' || c == '{' ||
           c == '}' || c == '"';
}

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p;
}

/* The tokens of body. Each scalar becomes field f->n, each member name a member (when fill; else
 * they are only counted). names[] holds the name of each open container's elements. */
static int walk(mc_str body, int fill, const mc_alloc *a, mc_form *f)
{
    const unsigned char *p = body.data, *end = body.data + body.len, *after;
    mc_str names[NAME_DEPTH], key = {NULL, 0}, token, inherited;
    size_t depth = 0;
    int have_key = 0;

    f->n = f->nmembers = 0;
    while ((p = skip_space(p, end)) < end) {
        inherited = depth == 0 ? (mc_str){(const unsigned char *) "", 0} : names[(depth < NAME_DEPTH ? depth : NAME_DEPTH) - 1];
        if (*p == '{' || *p == '[' || *p == '}' || *p == ']' || *p == ',' || *p == ':') {
            if ((*p == '{' || *p == '[') && depth < NAME_DEPTH) names[depth] = have_key ? key : inherited;
            if (*p == '{' || *p == '[') depth++;
            if ((*p == '}' || *p == ']') && depth > 0) depth--;
            if (*p != ':') have_key = 0;
            p++;
            continue;
        }
        if (*p == '"') {
            if (string_at(p + 1, end, fill, a, &token, &after) != 0) return -1;
        } else {
            for (after = p; after < end && !is_delimiter(*after); after++) {}
            token.data = p;
            token.len = (size_t) (after - p);
        }
        p = after;
        if ((after = skip_space(p, end)) < end && *after == ':') {
            key = token;  /* a member name */
            have_key = 1;
            if (fill) f->members[f->nmembers] = token;
            f->nmembers++;
            continue;
        }
        if (fill) {
            f->names[f->n] = have_key ? key : inherited;
            f->values[f->n] = token;
        }
        f->n++;
        have_key = 0;
    }
    return 0;
}

int mc_parse_json(mc_str body, const mc_alloc *a, mc_form *f)
{
    (void) walk(body, 0, a, f);  /* counting allocates nothing */
    f->names = a->alloc(a->ctx, (f->n + 1) * sizeof(mc_str));
    f->values = a->alloc(a->ctx, (f->n + 1) * sizeof(mc_str));
    f->members = a->alloc(a->ctx, (f->nmembers + 1) * sizeof(mc_str));
    if (f->names == NULL || f->values == NULL || f->members == NULL) return -1;
    return walk(body, 1, a, f);
}

int mc_json_decoded_body(mc_str body, const mc_alloc *a, mc_str *out)
{
    const unsigned char *p = body.data, *end = body.data + body.len, *q, *after;
    unsigned char *d;
    size_t n;

    if (body.len == 0 || memchr(body.data, '\\', body.len) == NULL) return 0;
    if ((d = a->alloc(a->ctx, body.len + 1)) == NULL) return -1;
    out->data = d;
    while (p < end) {  /* outside strings as it is; each string's content decoded, as walk sees it */
        q = memchr(p, '"', (size_t) (end - p));
        n = (size_t) ((q ? q + 1 : end) - p);
        memcpy(d, p, n);
        d += n;
        p += n;
        if (q == NULL) break;
        after = closing_quote(p, end);
        d += decode_string(p, end, d);
        if (after == NULL) break;
        *d++ = '"';
        p = after + 1;
    }
    out->len = (size_t) (d - out->data);
    return 1;
}
