/* Per request: each input's values (computed once, when a rule first needs them), the prefilter,
 * and the rules in order. */
#include "core_internal.h"

#include <string.h>

typedef struct {
    const mc_ruleset *rs;
    const mc_request *rq;
    const mc_alloc *a;
    mc_str **values;   /* per subject, from the request's memory */
    size_t *nvalues;
    unsigned char *have;
    unsigned regexes;
    mc_form query;  /* the query's arguments, split and indexed once */
    int have_query;
    mc_form form;  /* the body's form, parsed once for form_cap */
    size_t form_cap;
    int have_form;
    mc_str cookies;  /* every Cookie header joined, once */
    int have_cookies;
} eval_state;

static const unsigned char kEmpty[4] = {0, 0, 0, 0};

static int name_is(mc_str a, const unsigned char *name, size_t len)
{
    return a.len == len && mc_strncasecmp(a.data, name, len) == 0;
}

/* Every Cookie header joined with "; ", as nginx's $http_cookie (1.22). */
static int joined_cookies(eval_state *st, mc_str *out)
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
        out->data = count ? first->data : kEmpty;
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
static int split_query(eval_state *st)
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

    *nomem = split_query(st) != 0;
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

    *n = 0;
    if (s->kind == MC_IN_BODY) {
        if ((*out = st->a->alloc(st->a->ctx, sizeof(mc_str))) == NULL) return -1;
        (*out)[0] = st->rq->body;
        if ((*out)[0].len > s->cap) (*out)[0].len = s->cap;
        *n = 1;
        return 0;
    }
    if (!st->have_form || st->form_cap != s->cap) {
        if (mc_parse_form(st->rq, s->cap, st->a, f) != 0) return -1;
        st->form_cap = s->cap;
        st->have_form = 1;
    }
    if ((*out = st->a->alloc(st->a->ctx, ((f->n > f->nfiles ? f->n : f->nfiles) + 1) * sizeof(mc_str))) == NULL) return -1;
    if (s->kind == MC_IN_FILES) {
        for (i = 0; i < f->nfiles; i++) (*out)[(*n)++] = f->files[i];
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

    *nomem = (s->kind == MC_IN_ARG || s->kind == MC_IN_ARGS || s->kind == MC_IN_ARG_NAMES) && split_query(st) != 0;
    if (*nomem) return 0;
    switch (s->kind) {
    case MC_IN_ARG:
    case MC_IN_ARGS:
    case MC_IN_ARG_NAMES: return st->query.n + 1;  /* split once, before (value_bound's caller) */
    case MC_IN_HEADER:
    case MC_IN_HEADERS:
    case MC_IN_HEADER_NAMES: return rq->nheaders + 1;
    case MC_IN_COOKIE_NAMED:
        *nomem = joined_cookies(st, cookies) != 0;
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
        *nomem = joined_cookies(st, &out[0]) != 0;
        return 1;
    case MC_IN_COOKIE_NAMED:
        name.data = s->name;
        name.len = s->name_len;
        n = mc_cookie_values(cookies, name, out, max);
        break;
    case MC_IN_HEADER:
    case MC_IN_HEADERS:
    case MC_IN_HEADER_NAMES:
        for (i = 0; i < rq->nheaders && n < max; i++) {
            if (s->kind == MC_IN_HEADER_NAMES) out[n++] = rq->headers[i].name;
            else if (s->kind == MC_IN_HEADERS || name_is(rq->headers[i].name, s->name, s->name_len)) out[n++] = rq->headers[i].value;
        }
        if (s->kind != MC_IN_HEADER) return n;
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
        out[0].data = kEmpty;
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

static int load_values(eval_state *st, size_t subject)
{
    const mc_subject *s = &st->rs->subjects[subject];
    mc_str *out, cookies = {kEmpty, 0};
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
        if (out[i].data == NULL) out[i].data = kEmpty;
        for (t = 0; t < MC_MAX_TRANSFORMS && s->transforms[t]; t++) {
            if (transform(s->transforms[t], &out[i], st->a) != 0) return -1;
        }
    }
    st->values[subject] = out;
    st->nvalues[subject] = n;
    st->have[subject] = 1;
    return 0;
}

/* 1: match; 0: no match; -1: a regex engine error. */
static int regex_matches(eval_state *st, pcre2_code *re, mc_str v)
{
    int rc = pcre2_match(re, v.data ? v.data : kEmpty, v.len, 0, 0, st->rs->md, NULL);
    st->regexes++;
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    return rc < 0 ? -1 : 1;
}

static int bytes_equal(const unsigned char *v, const unsigned char *lit, size_t n, int caseless)
{
    return caseless ? mc_strncasecmp(v, lit, n) == 0 : memcmp(v, lit, n) == 0;
}

static int value_matches(eval_state *st, const mc_condition *c, mc_str v)
{
    size_t i;
    switch (c->op) {
    case MC_OP_REGEX: return regex_matches(st, c->regex, v);
    case MC_OP_EQ: return v.len == c->lit_len && bytes_equal(v.data, c->lit, v.len, c->caseless);
    case MC_OP_PREFIX: return v.len >= c->lit_len && bytes_equal(v.data, c->lit, c->lit_len, c->caseless);
    case MC_OP_SUFFIX: return v.len >= c->lit_len && bytes_equal(v.data + v.len - c->lit_len, c->lit, c->lit_len, c->caseless);
    case MC_OP_LEN: return v.len >= c->min && v.len <= c->max;
    case MC_OP_CONTAINS:
        if (c->lit_len == 0) return 1;
        for (i = 0; i + c->lit_len <= v.len; i++) {
            if (bytes_equal(v.data + i, c->lit, c->lit_len, c->caseless)) return 1;
        }
        return 0;
    }
    return 0;
}

/* Whether condition c holds: 1 or 0; 2 when a regex failed; -1 when memory ran out. */
static int condition_holds(eval_state *st, const mc_condition *c)
{
    size_t k;
    int m, any = 0;
    if (load_values(st, c->subject) != 0) return -1;
    for (k = 0; k < st->nvalues[c->subject] && !any; k++) {
        m = value_matches(st, c, st->values[c->subject][k]);
        if (m < 0) return 2;  /* fail closed, whatever negation says */
        any = m;
    }
    return any != c->negate;
}

/* 1: the rule answers; 0: not; 2: it answers because a regex failed; 3: its conditions on other
 * inputs hold and it needs the body, which is not read yet; -1: out of memory. Conditions on
 * other inputs go first, so that the body is read only for a rule that can still answer. */
static int rule_holds(eval_state *st, const mc_rule *r)
{
    size_t j;
    int m, pass, body;

    if (r->scope != NULL) {
        m = regex_matches(st, r->scope, st->rq->path);
        if (m <= 0) return m == 0 ? 0 : 2;
    }
    for (pass = 0; pass < (r->needs_body ? 2 : 1); pass++) {
        if (pass == 1 && !st->rq->body_read) return 3;
        if (pass == 1 && r->oversize_block && st->rq->body_length > r->cap) return 1;
        for (j = 0; j < r->nconds; j++) {
            body = MC_IS_BODY_INPUT(st->rs->subjects[r->conds[j].subject].kind);
            if (body != pass) continue;
            m = condition_holds(st, &r->conds[j]);
            if (m != 1) return m;
        }
    }
    return 1;
}

/* Loads the values of gram table gi's subject and scans them (once: a name can occur twice). */
static int scan_gram(eval_state *st, size_t gi, uint64_t *seen)
{
    const mc_grams *g = &st->rs->grams[gi];

    if (st->have[g->subject]) return 0;
    if (load_values(st, g->subject) != 0) return -1;
    return mc_scan(st->rs, g, st->values[g->subject], st->nvalues[g->subject], seen, st->a);
}

/* The named tables (header:, arg:, cookie:) of a name this request has (its hash): looked up by
 * each name the request has, so the cost follows the request's names, not the number of rules. */
static int scan_named(eval_state *st, uint32_t cls, uint32_t hash, uint64_t *seen)
{
    size_t i, n, first = mc_named_grams(st->rs, cls, hash, &n);
    for (i = first; i < first + n; i++) {
        if (scan_gram(st, st->rs->named[i].gram, seen) != 0) return -1;
    }
    return 0;
}

static int scan_cookie_names(eval_state *st, uint64_t *seen)
{
    mc_str cookies, name, value;
    const unsigned char *p;

    if (joined_cookies(st, &cookies) != 0) return -1;
    for (p = cookies.data; mc_next_cookie(&p, cookies.data + cookies.len, &name, &value);) {
        if (scan_named(st, MC_NAMED_COOKIE, mc_name_hash(name.data, name.len), seen) != 0) return -1;
    }
    return 0;
}

/* Sets in seen the rules whose literals occur; rules gated in a body input count as seen while
 * the body is unread (their other conditions decide whether it is read). */
static int prefilter(eval_state *st, uint64_t *seen, size_t words)
{
    const mc_ruleset *rs = st->rs;
    const mc_request *rq = st->rq;
    size_t i;

    for (i = 0; i < rs->nplain; i++) {
        if (MC_IS_BODY_INPUT(rs->subjects[rs->grams[rs->plain[i]].subject].kind) && !rq->body_read) continue;
        if (scan_gram(st, rs->plain[i], seen) != 0) return -1;
    }
    for (i = 0; rs->named_in_class[MC_NAMED_HEADER] && i < rq->nheaders; i++) {
        if (scan_named(st, MC_NAMED_HEADER, mc_name_hash(rq->headers[i].name.data, rq->headers[i].name.len), seen) != 0) return -1;
    }
    if (rs->named_in_class[MC_NAMED_ARG]) {
        if (split_query(st) != 0) return -1;
        for (i = 0; i < st->query.n; i++) {
            if (scan_named(st, MC_NAMED_ARG, st->query.hashes[i], seen) != 0) return -1;
        }
    }
    if (rs->named_in_class[MC_NAMED_COOKIE] && scan_cookie_names(st, seen) != 0) return -1;
    /* Unread, a body may hold the literals; read, a body past a rule's cap may make it answer
     * (oversize block) whatever its literals. */
    for (i = 0; i < words; i++) seen[i] |= rq->body_read ? rs->oversize[i] : rs->body_gated[i];
    return 0;
}

static int add_detected(eval_state *st, mc_verdict *out, size_t i)
{
    size_t *list;
    if (out->ndetected == 0) {
        list = st->a->alloc(st->a->ctx, st->rs->ndetect * sizeof(size_t));
        if (list == NULL) return -1;
        out->detected = list;
    }
    ((size_t *) out->detected)[out->ndetected++] = i;
    return 0;
}

int mc_evaluate(const mc_ruleset *rs, const mc_request *rq, const mc_alloc *a, mc_verdict *out)
{
    eval_state st;
    uint64_t seen[MC_MAX_RULES / 64], candidates;
    size_t i, w, words = (rs->nrules + 63) / 64;
    int rc;

    memset(out, 0, sizeof(*out));
    out->rule = -1;
    if (!rs->finished || rs->nrules == 0) return 0;
    st.values = rs->scratch;
    st.nvalues = (size_t *) (st.values + rs->nsubjects);
    st.have = (unsigned char *) (st.nvalues + rs->nsubjects);
    memset(st.have, 0, rs->nsubjects);  /* values[] and nvalues[] are read only where have[] is set */
    st.regexes = 0;
    st.have_query = st.have_form = st.have_cookies = 0;
    st.rs = rs;
    st.rq = rq;
    st.a = a;
    memset(seen, 0, words * sizeof(uint64_t));
    for (i = 0; rs->all_candidates && i < rs->nrules; i++) seen[i / 64] |= (uint64_t) 1 << (i % 64);
    if (!rs->all_candidates && prefilter(&st, seen, words) != 0) return -1;
    for (w = 0; w < words; w++) {
        candidates = seen[w] | rs->always[w];
        while (candidates) {
            i = w * 64 + (size_t) __builtin_ctzll(candidates);
            candidates &= candidates - 1;
            rc = rule_holds(&st, &rs->rules[i]);
            if (rc < 0) return -1;
            if (rc == 3) {
                memset(out, 0, sizeof(*out));
                out->rule = -1;
                out->need_body = 1;
                return 0;
            }
            if (rc > 0 && rs->rules[i].detect) {
                if (add_detected(&st, out, i) != 0) return -1;
            } else if (rc > 0) {
                out->rule = (long) i;
                out->status = rs->rules[i].status;
                out->id.data = rs->rules[i].id;
                out->id.len = rs->rules[i].id_len;
                out->engine_error = rc == 2;
                out->regexes = st.regexes;
                return 0;
            }
        }
    }
    out->regexes = st.regexes;
    return 0;
}
