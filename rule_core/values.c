/* Each input's values on one request, computed once when a rule or the prefilter first needs
 * them: the URI family, headers, cookies, query arguments and the body's form, then the
 * condition's transforms (decode, lowercase, base64). */
#include "eval_state.h"

#include <string.h>

const unsigned char mc_empty[4] = {0, 0, 0, 0};

static int name_is(mc_str a, const unsigned char *name, size_t len)
{
    return a.len == len && mc_strncasecmp(a.data, name, len) == 0;
}

/* Every Cookie header joined with "; ", as nginx's $http_cookie (1.22). */
int mc_joined_cookies(eval_state *st, mc_str *out)
{
    const mc_request *rq = st->rq;
    size_t i, count = 0, len = 0;
    unsigned char *p;
    const mc_str *first = NULL;

    if (st->have_cookies) {
        *out = st->cookies;
        return 0;
    }
    for (i = 0; i < rq->nheaders; i++) {
        if (name_is(rq->headers[i].name, (const unsigned char *) "cookie", 6)) {
            len += (count ? 2 : 0) + rq->headers[i].value.len;
            first = count ? first : &rq->headers[i].value;
            count++;
        }
    }
    if (count <= 1) {
        out->data = count ? first->data : mc_empty;
        out->len = count ? first->len : 0;
    } else {
        p = st->a->alloc(st->a->ctx, len + 1);
        if (p == NULL) return -1;
        out->data = p;
        for (i = 0; i < rq->nheaders; i++) {
            if (!name_is(rq->headers[i].name, (const unsigned char *) "cookie", 6)) continue;
            if (p != out->data) {
                *p++ = ';';
                *p++ = ' ';
            }
            if (rq->headers[i].value.len) memcpy(p, rq->headers[i].value.data, rq->headers[i].value.len);
            p += rq->headers[i].value.len;
        }
        out->len = (size_t) (p - out->data);
    }
    st->cookies = *out;
    st->have_cookies = 1;
    return 0;
}

/* The query's arguments, split and their names indexed once per request. */
int mc_split_query(eval_state *st)
{
    size_t max = st->rq->query.len / 2 + 1;  /* each argument takes a byte and a separator */
    mc_form *q = &st->query;
    if (st->have_query) return 0;
    memset(q, 0, sizeof(*q));
    q->encoded = 1;
    q->names = st->a->alloc(st->a->ctx, max * sizeof(mc_str));
    q->values = st->a->alloc(st->a->ctx, max * sizeof(mc_str));
    if (q->names == NULL || q->values == NULL) return -1;
    q->n = mc_split_args(st->rq->query, q->names, q->values, max);
    if (mc_form_index(q, st->a) != 0) return -1;
    st->have_query = 1;
    return 0;
}

/* Values of arg:NAME (those whose name, decoded, is NAME, ASCII case folded, so that %69d=... is
 * the argument id), args or arg_names; out has room for every argument. */
static size_t query_args(eval_state *st, const mc_subject *s, mc_str *out, int *nomem)
{
    const mc_form *q = &st->query;
    size_t i, k = 0;

    *nomem = mc_split_query(st) != 0;
    if (*nomem) return 0;
    if (s->kind == MC_IN_ARG && !mc_form_may_have(q, s->name_hash)) return 0;
    for (i = 0; i < q->n; i++) {
        if (s->kind == MC_IN_ARG_NAMES) out[k++] = q->names[i];
        else if (s->kind == MC_IN_ARGS || mc_form_name_is(q, i, s->name, s->name_len, s->name_hash)) out[k++] = q->values[i];
    }
    return k;
}

/* The values of a body input: the raw body (up to the cap) or its form's fields. */
static int body_values(eval_state *st, const mc_subject *s, mc_str **out, size_t *n)
{
    mc_form *f = &st->form;
    size_t i;

    int rc;

    *n = 0;
    if (s->kind == MC_IN_BODY || s->kind == MC_IN_BODY_SCAN) {
        if ((*out = st->a->alloc(st->a->ctx, 2 * sizeof(mc_str))) == NULL) return -1;
        (*out)[0] = st->rq->body;
        if ((*out)[0].len > s->cap) (*out)[0].len = s->cap;
        *n = 1;
        if (s->kind == MC_IN_BODY_SCAN && st->json < 0) st->json = mc_is_json_type(st->rq->content_type);
        if (s->kind == MC_IN_BODY_SCAN && st->json) {
            if ((rc = mc_json_decoded_body((*out)[0], st->a, &(*out)[1])) < 0) return -1;
            *n += (size_t) rc;
        }
        return 0;
    }
    if (!st->have_form || st->form_cap != s->cap) {
        if (mc_parse_form(st->rq, s->cap, st->a, f) != 0) return -1;
        st->form_cap = s->cap;
        st->have_form = 1;
    }
    if ((*out = st->a->alloc(st->a->ctx, ((f->n > f->nfiles ? f->n : f->nfiles) + f->nmembers + 1) * sizeof(mc_str))) == NULL) return -1;
    if (s->kind == MC_IN_FILES) {
        for (i = 0; i < f->nfiles; i++) (*out)[(*n)++] = f->files[i];
        return 0;
    }
    if (s->kind == MC_IN_BODY_ARG_NAMES && f->members != NULL) {  /* JSON: every member name */
        for (i = 0; i < f->nmembers; i++) (*out)[(*n)++] = f->members[i];
        return 0;
    }
    if (s->kind == MC_IN_BODY_ARG && !mc_form_may_have(f, s->name_hash)) return 0;
    for (i = 0; i < f->n; i++) {
        if (s->kind == MC_IN_BODY_ARG_NAMES) {
            (*out)[(*n)++] = f->names[i];
            continue;
        }
        if (f->is_file != NULL && f->is_file[i]) continue;  /* a file's content is not an argument */
        if (s->kind == MC_IN_BODY_ARGS || mc_form_name_is(f, i, s->name, s->name_len, s->name_hash)) (*out)[(*n)++] = f->values[i];
    }
    return 0;
}

static size_t count_byte(mc_str v, unsigned char c)
{
    size_t i, n = 0;
    for (i = 0; i < v.len; i++) n += v.data[i] == c;
    return n;
}

/* How many values an input can have on this request, at most: every value is looked at, however
 * many there are (a cap would let an exploit hide behind padding). */
static size_t value_bound(eval_state *st, const mc_subject *s, mc_str *cookies, int *nomem)
{
    const mc_request *rq = st->rq;

    *nomem = (s->kind == MC_IN_ARG || s->kind == MC_IN_ARGS || s->kind == MC_IN_ARG_NAMES) && mc_split_query(st) != 0;
    if (*nomem) return 0;
    switch (s->kind) {
    case MC_IN_ARG:
    case MC_IN_ARGS:
    case MC_IN_ARG_NAMES: return st->query.n + 1;  /* split once, before (value_bound's caller) */
    case MC_IN_HEADER:
    case MC_IN_HEADERS:
    case MC_IN_HEADER_NAMES: return rq->nheaders + 1;
    case MC_IN_COOKIE_NAMED:
        *nomem = mc_joined_cookies(st, cookies) != 0;
        return count_byte(*cookies, ';') + 1;
    case MC_IN_URI_SCAN: return 2;
    default: return 1;
    }
}

/* The prefilter's view of the URI family (sources.c): request_uri, and the query on its own
 * unless it is request_uri's tail after the first '?'. */
static size_t uri_and_query(const mc_request *rq, mc_str *out)
{
    const unsigned char *q = rq->request_uri.len ? memchr(rq->request_uri.data, '?', rq->request_uri.len) : NULL;
    size_t tail = q ? (size_t) (rq->request_uri.data + rq->request_uri.len - q - 1) : 0;

    out[0] = rq->request_uri;
    if (rq->query.len == 0 || (tail == rq->query.len && (q + 1 == rq->query.data || memcmp(q + 1, rq->query.data, tail) == 0))) {
        return 1;
    }
    out[1] = rq->query;
    return 2;
}

/* The values of an input before its transforms, at most max of them (value_bound). */
static size_t base_values(eval_state *st, const mc_subject *s, mc_str cookies, mc_str *out, size_t max, int *nomem)
{
    const mc_request *rq = st->rq;
    const mc_alloc *a = st->a;
    size_t i, n = 0;
    mc_str name, raw;

    *nomem = 0;
    switch (s->kind) {
    case MC_IN_REQUEST_URI: out[0] = rq->request_uri; return 1;
    case MC_IN_PATH: out[0] = rq->path; return 1;
    case MC_IN_QUERY: out[0] = rq->query; return 1;
    case MC_IN_METHOD: out[0] = rq->method; return 1;
    case MC_IN_URI_SCAN: return uri_and_query(rq, out);
    case MC_IN_COOKIE:
        *nomem = mc_joined_cookies(st, &out[0]) != 0;
        return 1;
    case MC_IN_COOKIE_NAMED:
        name.data = s->name;
        name.len = s->name_len;
        n = mc_cookie_values(cookies, name, out, max);
        break;
    case MC_IN_HEADER:
    case MC_IN_HEADERS:
    case MC_IN_HEADER_NAMES:
        if (s->kind == MC_IN_HEADER_NAMES) {
            for (i = 0; i < rq->nheaders && i < max; i++) out[i] = rq->headers[i].name;
            return i;
        }
        if (s->kind == MC_IN_HEADERS) {
            for (i = 0; i < rq->nheaders && i < max; i++) out[i] = rq->headers[i].value;
            return i;
        }
        for (i = 0; i < rq->nheaders && n < max; i++) {
            if (name_is(rq->headers[i].name, s->name, s->name_len)) out[n++] = rq->headers[i].value;
        }
        break;
    case MC_IN_ARG:
    case MC_IN_ARGS:
    case MC_IN_ARG_NAMES:
        return query_args(st, s, out, nomem);
    default:  /* MC_IN_PATH_RAW_DECODED; body inputs are body_values' */
        raw = rq->request_uri;
        for (i = 0; i < raw.len && raw.data[i] != '?'; i++) {}
        out[0].data = a->alloc(a->ctx, i + 1);
        if (out[0].data == NULL) {
            *nomem = 1;
            return 0;
        }
        out[0].len = mc_unescape(raw.data, i, (unsigned char *) out[0].data);
        return 1;
    }
    if (n == 0) {  /* header:NAME and cookie:NAME that occur nowhere: one empty value */
        out[0].data = mc_empty;
        out[0].len = 0;
        n = 1;
    }
    return n;
}

static int transform(unsigned char t, mc_str *v, const mc_alloc *a)
{
    unsigned char *d;
    size_t i;
    int upper = 0;

    if (t == MC_T_DECODE && mc_find_escape(v->data, v->len) == v->len) {
        return 0;  /* nothing to decode: no copy */
    }
    if (t == MC_T_LOWER) {
        for (i = 0; i < v->len && !upper; i++) upper = (unsigned char) (v->data[i] - 'A') < 26;
        if (!upper) return 0;
    }
    d = a->alloc(a->ctx, (t == MC_T_BASE64 ? v->len * 3 / 4 + 3 : v->len) + 1);
    if (d == NULL) return -1;
    if (t == MC_T_DECODE) {
        v->len = mc_unescape(v->data, v->len, d);
    } else if (t == MC_T_LOWER) {
        mc_fold_copy(v->data, v->len, d);
    } else {
        v->len = mc_base64(v->data, v->len, d);
    }
    v->data = d;
    return 0;
}

int mc_load_values(eval_state *st, size_t subject)
{
    const mc_subject *s = &st->rs->subjects[subject];
    mc_str *out, cookies = {mc_empty, 0};
    size_t n, i, t, bound;
    int nomem;

    if (st->have[subject]) return 0;
    if (MC_IS_BODY_INPUT(s->kind)) {
        if (body_values(st, s, &out, &n) != 0) return -1;
    } else {
        bound = value_bound(st, s, &cookies, &nomem);
        if (nomem) return -1;
        out = st->a->alloc(st->a->ctx, bound * sizeof(mc_str));
        if (out == NULL) return -1;
        n = base_values(st, s, cookies, out, bound, &nomem);
        if (nomem) return -1;
    }
    for (i = 0; i < n; i++) {
        if (out[i].data == NULL) out[i].data = mc_empty;
        for (t = 0; t < MC_MAX_TRANSFORMS && s->transforms[t]; t++) {
            if (transform(s->transforms[t], &out[i], st->a) != 0) return -1;
        }
    }
    st->values[subject] = out;
    st->nvalues[subject] = n;
    st->have[subject] = 1;
    return 0;
}
