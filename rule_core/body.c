/* Request bodies: the form a body holds (application/x-www-form-urlencoded, multipart/form-data, or
 * JSON's fields: json.c), parsed once per request and shared by every rule that reads body_arg:NAME, body_args,
 * body_arg_names or files. */
#include "core_internal.h"

#include <string.h>

/* Whether the media type of a Content-Type value is `type` (parameters and case ignored). */
static int media_type_is(mc_str ct, const char *type)
{
    size_t n = strlen(type), i = 0;
    while (i < ct.len && (ct.data[i] == ' ' || ct.data[i] == '\t')) i++;
    if (ct.len - i < n || mc_strncasecmp(ct.data + i, (const unsigned char *) type, n) != 0) return 0;
    i += n;
    while (i < ct.len && (ct.data[i] == ' ' || ct.data[i] == '\t')) i++;
    return i == ct.len || ct.data[i] == ';';
}

int mc_is_json_type(mc_str ct)
{
    const unsigned char *p = ct.data, *end = ct.data + ct.len, *semi = ct.len ? memchr(ct.data, ';', ct.len) : NULL;
    size_t n;

    if (semi != NULL) end = semi;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    n = (size_t) (end - p);  /* the media type, parameters and spaces left out */
    if (n == 16) return mc_strncasecmp(p, (const unsigned char *) "application/json", 16) == 0;
    return n > 6 && mc_strncasecmp(end - 5, (const unsigned char *) "+json", 5) == 0 && memchr(p, '/', n - 5) != NULL;
}

/* The value of parameter `name` in "type; a=1; name="x"" (quoted or a token); 0 when absent. An
 * escaped byte in a quoted value is kept with its backslash: the parameters we read (boundary,
 * name, filename) hold none in practice, and matching the raw text can only be broader. */
static int header_param(mc_str h, const char *name, mc_str *out)
{
    size_t n = strlen(name), i = 0, start;
    while (i < h.len) {
        while (i < h.len && h.data[i] != ';') i++;
        if (i++ >= h.len) return 0;
        while (i < h.len && (h.data[i] == ' ' || h.data[i] == '\t')) i++;
        if (h.len - i <= n || mc_strncasecmp(h.data + i, (const unsigned char *) name, n) != 0 || h.data[i + n] != '=') {
            continue;
        }
        i += n + 1;
        if (i < h.len && h.data[i] == '"') {
            start = ++i;
            while (i < h.len && h.data[i] != '"') i += h.data[i] == '\\' && i + 1 < h.len ? 2 : 1;
        } else {
            start = i;
            while (i < h.len && h.data[i] != ';' && h.data[i] != ' ' && h.data[i] != '\t') i++;
        }
        out->data = h.data + start;
        out->len = (i > h.len ? h.len : i) - start;
        return 1;
    }
    return 0;
}

static const unsigned char *find(const unsigned char *p, const unsigned char *end, const unsigned char *needle, size_t n)
{
    while (end - p >= (long) n) {
        const unsigned char *c = memchr(p, needle[0], (size_t) (end - p) - n + 1);
        if (c == NULL) return NULL;
        if (memcmp(c, needle, n) == 0) return c;
        p = c + 1;
    }
    return NULL;
}

/* The part's Content-Disposition name and filename, from its header block [p, end). */
static void part_headers(const unsigned char *p, const unsigned char *end, mc_form *f, size_t k)
{
    static const unsigned char kDisposition[] = "content-disposition:";
    const unsigned char *eol;
    mc_str line;
    while (p < end) {
        eol = memchr(p, '\n', (size_t) (end - p));
        line.data = p;
        line.len = (size_t) ((eol ? eol : end) - p);
        if (line.len > 0 && line.data[line.len - 1] == '\r') line.len--;
        /* A part may repeat the header: every file name it gives is a value of `files` (which one
         * a back end believes is its own business); the files array has room for one per line. */
        if (line.len >= sizeof(kDisposition) - 1 && mc_strncasecmp(line.data, kDisposition, sizeof(kDisposition) - 1) == 0 &&
            f->nfiles < f->cap_files) {
            int file = header_param(line, "filename", &f->files[f->nfiles]) || header_param(line, "filename*", &f->files[f->nfiles]);
            f->is_file[k] |= (unsigned char) file;
            f->nfiles += (size_t) file;
            (void) header_param(line, "name", &f->names[k]);
        }
        p = eol ? eol + 1 : end;
    }
}

/* multipart/form-data: each part between "--BOUNDARY" delimiters (a line break before each one;
 * a bare LF is accepted as well as CRLF, so that a lax back end's parts are not missed). A part
 * cut off by the inspection cap runs to the end of what was inspected. */
static int parse_multipart(mc_str body, mc_str boundary, const mc_alloc *a, mc_form *f)
{
    unsigned char *delim;
    const unsigned char *p, *end = body.data + body.len, *next, *hdr_end, *content;
    size_t max = body.len / (boundary.len + 4) + 1, dlen = boundary.len + 3;

    delim = a->alloc(a->ctx, dlen + 1);
    f->names = a->alloc(a->ctx, max * sizeof(mc_str));
    f->values = a->alloc(a->ctx, max * sizeof(mc_str));
    f->cap_files = body.len / 20 + 1;  /* "content-disposition:" takes 20 bytes per file name */
    f->files = a->alloc(a->ctx, f->cap_files * sizeof(mc_str));
    f->is_file = a->alloc(a->ctx, max);
    if (delim == NULL || f->names == NULL || f->values == NULL || f->files == NULL || f->is_file == NULL) return -1;
    memcpy(delim, "\n--", 3);
    memcpy(delim + 3, boundary.data, boundary.len);
    /* the first delimiter may open the body without a line break before it */
    if (body.len >= dlen - 1 && memcmp(body.data, delim + 1, dlen - 1) == 0) {
        p = body.data + dlen - 1;
    } else if ((p = find(body.data, end, delim, dlen)) != NULL) {
        p += dlen;
    }
    while (p != NULL && p < end && f->n < max) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;  /* the closing delimiter */
        while (p < end && *p != '\n') p++;                        /* rest of the delimiter line */
        if (p++ >= end) break;
        next = find(p, end, delim, dlen);
        hdr_end = find(p, next ? next : end, (const unsigned char *) "\n\r\n", 3);
        content = hdr_end ? hdr_end + 3 : NULL;
        if (hdr_end == NULL && (hdr_end = find(p, next ? next : end, (const unsigned char *) "\n\n", 2)) != NULL) content = hdr_end + 2;
        if (content == NULL) hdr_end = content = next ? next : end;
        f->names[f->n].data = f->values[f->n].data = p;
        f->names[f->n].len = 0;
        f->is_file[f->n] = 0;
        part_headers(p, hdr_end, f, f->n);
        f->values[f->n].data = content;
        f->values[f->n].len = (size_t) ((next ? next : end) - content);
        if (f->values[f->n].len > 0 && next && content[f->values[f->n].len - 1] == '\r') f->values[f->n].len--;
        f->n++;
        p = next ? next + dlen : NULL;
    }
    return 0;
}

int mc_parse_form(const mc_request *rq, size_t cap, const mc_alloc *a, mc_form *f)
{
    mc_str body = rq->body, ct = rq->content_type, boundary;
    size_t max;

    memset(f, 0, sizeof(*f));
    if (body.len > cap) body.len = cap;
    if (media_type_is(ct, "application/x-www-form-urlencoded")) {
        f->encoded = 1;
        max = 1;
        for (size_t i = 0; i < body.len; i++) max += body.data[i] == '&';
        f->names = a->alloc(a->ctx, max * sizeof(mc_str));
        f->values = a->alloc(a->ctx, max * sizeof(mc_str));
        if (f->names == NULL || f->values == NULL) return -1;
        f->n = mc_split_args(body, f->names, f->values, max);
        return mc_form_index(f, a);
    }
    if (mc_is_json_type(ct)) {
        return mc_parse_json(body, a, f) == 0 ? mc_form_index(f, a) : -1;
    }
    if (media_type_is(ct, "multipart/form-data") && header_param(ct, "boundary", &boundary) && boundary.len > 0 &&
        boundary.len <= 200) {
        return parse_multipart(body, boundary, a, f) == 0 ? mc_form_index(f, a) : -1;
    }
    return mc_form_index(f, a);  /* another type: no form (the raw body is the input `body`) */
}

int mc_form_index(mc_form *f, const mc_alloc *a)
{
    size_t i, len;
    unsigned char *d;

    memset(f->bloom, 0, sizeof(f->bloom));
    f->keys = a->alloc(a->ctx, (f->n + 1) * sizeof(mc_str));
    f->hashes = a->alloc(a->ctx, (f->n + 1) * sizeof(uint32_t));
    if (f->keys == NULL || f->hashes == NULL) return -1;
    for (i = 0; i < f->n; i++) {
        f->keys[i] = f->names[i];
        len = f->names[i].len;
        if (f->encoded && mc_find_escape(f->names[i].data, len) < len) {
            if ((d = a->alloc(a->ctx, len + 1)) == NULL) return -1;
            f->keys[i].len = mc_unescape(f->names[i].data, len, d);
            f->keys[i].data = d;
        }
        f->hashes[i] = mc_name_hash(f->keys[i].data, f->keys[i].len);
        f->bloom[(f->hashes[i] >> 6) & 3] |= (uint64_t) 1 << (f->hashes[i] & 63);
    }
    return 0;
}

int mc_form_name_is(const mc_form *f, size_t i, const unsigned char *name, size_t len, uint32_t hash)
{
    return f->hashes[i] == hash && f->keys[i].len == len && mc_strncasecmp(f->keys[i].data, name, len) == 0;
}

int mc_form_may_have(const mc_form *f, uint32_t hash) { return (f->bloom[(hash >> 6) & 3] >> (hash & 63)) & 1; }
