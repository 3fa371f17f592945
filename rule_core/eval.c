/* Per request: the prefilter, the conditions and the rules in order (values.c gives each input's
 * values). A request whose body a rule needs is evaluated twice, without and with the body; the
 * second resumes from the first (mc_verdict.resume), so nothing outside the body is done twice. */
#include "eval_state.h"

#include <string.h>

/* 1: match; 0: no match; -1: a regex engine error. */
static int regex_matches(eval_state *st, pcre2_code *re, mc_str v)
{
    int rc = pcre2_match(re, v.data ? v.data : mc_empty, v.len, 0, 0, st->rs->md, NULL);
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
    if (mc_load_values(st, c->subject) != 0) return -1;
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
    if (mc_load_values(st, g->subject) != 0) return -1;
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

    if (mc_joined_cookies(st, &cookies) != 0) return -1;
    for (p = cookies.data; mc_next_cookie(&p, cookies.data + cookies.len, &name, &value);) {
        if (scan_named(st, MC_NAMED_COOKIE, mc_name_hash(name.data, name.len), seen) != 0) return -1;
    }
    return 0;
}

/* The plain tables of body inputs (body 1) or of the others (body 0). */
static int scan_plain(eval_state *st, uint64_t *seen, int body)
{
    const mc_ruleset *rs = st->rs;
    size_t i;

    for (i = 0; i < rs->nplain; i++) {
        if (MC_IS_BODY_INPUT(rs->subjects[rs->grams[rs->plain[i]].subject].kind) != body) continue;
        if (scan_gram(st, rs->plain[i], seen) != 0) return -1;
    }
    return 0;
}

/* Sets in seen the rules whose literals occur outside the body. */
static int prefilter_request(eval_state *st, uint64_t *seen)
{
    const mc_ruleset *rs = st->rs;
    const mc_request *rq = st->rq;
    size_t i;

    if (scan_plain(st, seen, 0) != 0) return -1;
    for (i = 0; rs->named_in_class[MC_NAMED_HEADER] && i < rq->nheaders; i++) {
        if (scan_named(st, MC_NAMED_HEADER, mc_name_hash(rq->headers[i].name.data, rq->headers[i].name.len), seen) != 0) return -1;
    }
    if (rs->named_in_class[MC_NAMED_ARG]) {
        if (mc_split_query(st) != 0) return -1;
        for (i = 0; i < st->query.n; i++) {
            if (scan_named(st, MC_NAMED_ARG, st->query.hashes[i], seen) != 0) return -1;
        }
    }
    if (rs->named_in_class[MC_NAMED_COOKIE] && scan_cookie_names(st, seen) != 0) return -1;
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

/* What an evaluation without the body hands the one with it: the prefilter's findings outside the
 * body, the rule that asked for the body (those before it cannot answer) and the rules in detect
 * mode that held before it. Followed by words seen bits and ndetected rule indexes. */
typedef struct {
    const mc_ruleset *rs;  /* a resume made by another rule set is ignored */
    size_t rule, words, ndetected;
} resume_head;

static int make_resume(eval_state *st, const uint64_t *seen, size_t words, size_t rule, mc_verdict *out)
{
    size_t n = sizeof(resume_head) + words * sizeof(uint64_t) + out->ndetected * sizeof(size_t);
    resume_head *r = st->a->alloc(st->a->ctx, n);

    if (r == NULL) return -1;
    r->rs = st->rs;
    r->rule = rule;
    r->words = words;
    r->ndetected = out->ndetected;
    memcpy(r + 1, seen, words * sizeof(uint64_t));
    if (out->ndetected) memcpy((uint64_t *) (r + 1) + words, out->detected, out->ndetected * sizeof(size_t));
    memset(out, 0, sizeof(*out));
    out->rule = -1;
    out->need_body = 1;
    out->resume = r;
    out->resume_len = n;
    return 0;
}

/* From rq->resume when it is this rule set's: the seen bits and the detected rules, and *start, the
 * rule to go on from. 1 resumed; 0 nothing to resume; -1 out of memory. */
static int take_resume(eval_state *st, uint64_t *seen, size_t words, mc_verdict *out, size_t *start)
{
    const resume_head *r = st->rq->resume;
    const size_t *detected;
    size_t i;

    if (r == NULL || !st->rq->body_read || r->rs != st->rs || r->words != words || r->rule >= st->rs->nrules ||
        r->ndetected > st->rs->ndetect) {
        return 0;  /* none, or not this rule set's: everything is evaluated */
    }
    memcpy(seen, r + 1, words * sizeof(uint64_t));
    detected = (const size_t *) ((const uint64_t *) (r + 1) + words);
    for (i = 0; i < r->ndetected; i++) {
        if (detected[i] < r->rule && add_detected(st, out, detected[i]) != 0) return -1;
    }
    *start = r->rule;
    return 1;
}

/* Runs the candidate rules in order from start; outside: the seen bits before the body's, kept in a
 * resume when a rule asks for the body. 0 with the verdict in out, or -1 out of memory. */
static int run_rules(eval_state *st, const uint64_t *seen, const uint64_t *outside, size_t words, size_t start, mc_verdict *out)
{
    const mc_ruleset *rs = st->rs;
    uint64_t candidates;
    size_t i, w;
    int rc;

    for (w = start / 64; w < words; w++) {
        candidates = seen[w] | rs->always[w];
        if (w == start / 64) candidates &= ~(uint64_t) 0 << (start % 64);
        while (candidates) {
            i = w * 64 + (size_t) __builtin_ctzll(candidates);
            candidates &= candidates - 1;
            rc = rule_holds(st, &rs->rules[i]);
            if (rc < 0) return -1;
            if (rc == 3) return make_resume(st, outside, words, i, out);
            if (rc > 0 && rs->rules[i].detect) {
                if (add_detected(st, out, i) != 0) return -1;
            } else if (rc > 0) {
                out->rule = (long) i;
                out->status = rs->rules[i].status;
                out->id.data = rs->rules[i].id;
                out->id.len = rs->rules[i].id_len;
                out->engine_error = rc == 2;
                out->regexes = st->regexes;
                return 0;
            }
        }
    }
    out->regexes = st->regexes;
    return 0;
}

int mc_evaluate(const mc_ruleset *rs, const mc_request *rq, const mc_alloc *a, mc_verdict *out)
{
    eval_state st;
    uint64_t seen[MC_MAX_RULES / 64], outside[MC_MAX_RULES / 64];
    size_t i, start = 0, words = (rs->nrules + 63) / 64;
    int resumed = 0;

    memset(out, 0, sizeof(*out));
    out->rule = -1;
    if (!rs->finished || rs->nrules == 0) return 0;
    st.values = rs->scratch;
    st.nvalues = (size_t *) (st.values + rs->nsubjects);
    st.have = (unsigned char *) (st.nvalues + rs->nsubjects);
    memset(st.have, 0, rs->nsubjects);  /* values[] and nvalues[] are read only where have[] is set */
    st.regexes = 0;
    st.have_query = st.have_form = st.have_cookies = 0;
    st.json = -1;
    st.rs = rs;
    st.rq = rq;
    st.a = a;
    memset(seen, 0, words * sizeof(uint64_t));
    for (i = 0; rs->all_candidates && i < rs->nrules; i++) seen[i / 64] |= (uint64_t) 1 << (i % 64);
    if (!rs->all_candidates) {
        if ((resumed = take_resume(&st, seen, words, out, &start)) < 0) return -1;
        if (!resumed && prefilter_request(&st, seen) != 0) return -1;
        if (rq->body_read && scan_plain(&st, seen, 1) != 0) return -1;
    }
    if (!rq->body_read && rs->body_cap > 0) memcpy(outside, seen, words * sizeof(uint64_t));  /* only a body rule asks */
    /* Unread, a body may hold the literals (their rules' other conditions decide whether it is
     * read); read, a body past a rule's cap may make it answer (oversize block) whatever its literals. */
    for (i = 0; i < words; i++) seen[i] |= rq->body_read ? rs->oversize[i] : rs->body_gated[i];
    return run_rules(&st, seen, outside, words, start, out);
}
