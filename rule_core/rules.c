/* Rules: parsed from their directive words, compiled once, evaluated per request. */
#include "core_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int word_is(mc_str w, const char *s) { return w.len == strlen(s) && memcmp(w.data, s, w.len) == 0; }

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
    unsigned char *d = malloc(n + 1);
    if (d != NULL) {
        if (n) memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}


/* ---- parsing ------------------------------------------------------------------------------ */

static pcre2_code *compile(mc_str pattern, int caseless, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE offset;
    PCRE2_UCHAR msg[160];
    pcre2_code *re = pcre2_compile(pattern.data ? pattern.data : (const unsigned char *) "", pattern.len,
                                   caseless ? PCRE2_CASELESS : 0, &code, &offset, NULL);
    if (re == NULL) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        fail(err, errlen, "pattern \"%.*s\": %s at offset %zu", (int) (pattern.len > 200 ? 200 : pattern.len),
             (const char *) pattern.data, (const char *) msg, (size_t) offset);
        return NULL;
    }
    (void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  /* nginx's pcre_jit: the interpreter otherwise */
    return re;
}

static const struct {
    const char *word;
    mc_input kind;
    int named;
} kInputs[] = {
    {"request_uri", MC_IN_REQUEST_URI, 0}, {"path", MC_IN_PATH, 0}, {"query", MC_IN_QUERY, 0},
    {"method", MC_IN_METHOD, 0}, {"cookie", MC_IN_COOKIE, 0}, {"header:", MC_IN_HEADER, 1},
    {"cookie:", MC_IN_COOKIE_NAMED, 1}, {"arg:", MC_IN_ARG, 1}, {"args", MC_IN_ARGS, 0},
    {"arg_names", MC_IN_ARG_NAMES, 0}, {"headers", MC_IN_HEADERS, 0}, {"header_names", MC_IN_HEADER_NAMES, 0},
    {"path_raw_decoded", MC_IN_PATH_RAW_DECODED, 0}, {"body", MC_IN_BODY, 0}, {"body_arg:", MC_IN_BODY_ARG, 1},
    {"body_args", MC_IN_BODY_ARGS, 0}, {"body_arg_names", MC_IN_BODY_ARG_NAMES, 0}, {"files", MC_IN_FILES, 0},
};

static int parse_input(mc_str w, mc_subject *s)
{
    size_t i, n;
    for (i = 0; i < sizeof(kInputs) / sizeof(kInputs[0]); i++) {
        n = strlen(kInputs[i].word);
        if (kInputs[i].named ? (w.len > n && memcmp(w.data, kInputs[i].word, n) == 0) : word_is(w, kInputs[i].word)) {
            s->kind = kInputs[i].kind;
            s->name = kInputs[i].named ? (unsigned char *) w.data + n : NULL;  /* copied when kept */
            s->name_len = kInputs[i].named ? w.len - n : 0;
            return 0;
        }
    }
    return -1;
}

/* "raw", or "decoded,lowercase,base64" in any order and repetition up to four. */
static int parse_codec(mc_str w, unsigned char *t)
{
    const unsigned char *p = w.data, *end = w.data + w.len, *comma;
    size_t n = 0;
    mc_str part;

    memset(t, 0, MC_MAX_TRANSFORMS);
    if (word_is(w, "raw")) {
        return 0;
    }
    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        part.data = p;
        part.len = (size_t) ((comma ? comma : end) - p);
        if (n == MC_MAX_TRANSFORMS) return -1;
        if (word_is(part, "decoded")) t[n++] = MC_T_DECODE;
        else if (word_is(part, "lowercase")) t[n++] = MC_T_LOWER;
        else if (word_is(part, "base64")) t[n++] = MC_T_BASE64;
        else return -1;
        p = comma ? comma + 1 : end;
    }
    return n > 0 ? 0 : -1;
}

/* A growing array of count items with room for one more (capacity *cap, doubling from first):
 * items itself, or moved; NULL when memory ran out (items is then unchanged). */
static void *grow(void *items, size_t *cap, size_t count, size_t size, size_t first)
{
    size_t want = *cap ? *cap * 2 : first;
    void *more;
    if (count < *cap) return items;
    if ((more = realloc(items, want * size)) != NULL) *cap = want;
    return more;
}

long mc_subject_index(mc_ruleset *rs, const mc_subject *s)
{
    mc_subject *more;
    size_t i;
    for (i = 0; i < rs->nsubjects; i++) {
        const mc_subject *o = &rs->subjects[i];
        if (o->kind == s->kind && o->cap == s->cap && memcmp(o->transforms, s->transforms, MC_MAX_TRANSFORMS) == 0 &&
            o->name_len == s->name_len && (s->name_len == 0 || mc_strncasecmp(o->name, s->name, s->name_len) == 0)) {
            return (long) i;
        }
    }
    if (rs->nsubjects == MC_MAX_SUBJECTS) {
        return -1;
    }
    if ((more = grow(rs->subjects, &rs->cap_subjects, rs->nsubjects, sizeof(mc_subject), 16)) == NULL) return -1;
    rs->subjects = more;
    rs->subjects[i] = *s;
    rs->subjects[i].name_hash = mc_name_hash(s->name, s->name_len);
    rs->subjects[i].name = s->name_len ? dup_bytes(s->name, s->name_len) : NULL;
    if (s->name_len && rs->subjects[i].name == NULL) {
        return -1;
    }
    rs->nsubjects++;
    return (long) i;
}

/* Hex "6162" into bytes (lower-cased when fold); -1 on a bad digit or odd length. */
static long unhex(mc_str w, unsigned char **out, int fold)
{
    size_t i, n = w.len / 2;
    int hi, lo;
    *out = NULL;
    if (w.len % 2 != 0 || (*out = malloc(n + 1)) == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        hi = mc_hex_value(w.data[2 * i]);
        lo = mc_hex_value(w.data[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
        (*out)[i] = fold ? mc_lower((unsigned char) (hi * 16 + lo)) : (unsigned char) (hi * 16 + lo);
    }
    (*out)[n] = 0;
    return (long) n;
}

int mc_add_literal(mc_ruleset *rs, size_t subject, size_t rule, unsigned char *text, size_t len)
{
    mc_literal *more = grow(rs->literals, &rs->cap_literals, rs->nliterals, sizeof(mc_literal), 64);
    if (more == NULL) return -1;
    rs->literals = more;
    rs->literals[rs->nliterals].subject = subject;
    rs->literals[rs->nliterals].rule = rule;
    rs->literals[rs->nliterals].text = text;
    rs->literals[rs->nliterals].len = len;
    rs->nliterals++;
    return 0;
}

/* "6162,6364": each literal 3 bytes or more, lower-cased. */
static int parse_literals(mc_ruleset *rs, mc_str w, size_t subject, size_t rule)
{
    const unsigned char *p = w.data, *end = w.data + w.len, *comma;
    mc_str part;
    unsigned char *text = NULL;
    long n;
    while (p < end) {
        comma = memchr(p, ',', (size_t) (end - p));
        part.data = p;
        part.len = (size_t) ((comma ? comma : end) - p);
        n = unhex(part, &text, 1);
        if (n < 3) {
            free(text);
            return -1;
        }
        if (mc_add_literal(rs, subject, rule, text, (size_t) n) != 0) {
            free(text);
            return -1;
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

static const struct {
    const char *word;
    mc_op op;
} kOps[] = {{"~", MC_OP_REGEX}, {"eq", MC_OP_EQ}, {"contains", MC_OP_CONTAINS},
            {"prefix", MC_OP_PREFIX}, {"suffix", MC_OP_SUFFIX}, {"len", MC_OP_LEN}};

static int parse_op(mc_str w, mc_condition *c)
{
    size_t i;
    c->negate = w.len > 0 && w.data[0] == '!';
    if (c->negate) {
        w.data++;
        w.len--;
    }
    c->caseless = w.len > 0 && w.data[w.len - 1] == '*';
    if (c->caseless) {
        w.len--;
    }
    for (i = 0; i < sizeof(kOps) / sizeof(kOps[0]); i++) {
        if (word_is(w, kOps[i].word)) {
            c->op = kOps[i].op;
            return c->op == MC_OP_LEN && c->caseless ? -1 : 0;
        }
    }
    return -1;
}

/* "MIN-MAX" (either may be empty: no bound). */
static int parse_range(mc_str w, size_t *min, size_t *max)
{
    char buf[48], *dash, *end;
    if (w.len == 0 || w.len >= sizeof(buf)) return -1;
    memcpy(buf, w.data, w.len);
    buf[w.len] = 0;
    dash = strchr(buf, '-');
    if (dash == NULL) return -1;
    *dash = 0;
    *min = buf[0] ? (size_t) strtoull(buf, &end, 10) : 0;
    if (buf[0] && *end) return -1;
    *max = dash[1] ? (size_t) strtoull(dash + 1, &end, 10) : (size_t) -1;
    if (dash[1] && *end) return -1;
    return *min <= *max ? 0 : -1;
}

/* "when INPUT CODEC OP ARG" at words[i]: fills c (and the subject). */
static int parse_condition(mc_ruleset *rs, mc_rule *r, const mc_str *w, mc_condition *c, char *err, size_t errlen)
{
    mc_subject s;
    long idx, n;

    memset(&s, 0, sizeof(s));
    if (parse_input(w[1], &s) != 0) {
        return fail(err, errlen, "unknown input \"%.*s\"", (int) w[1].len, (const char *) w[1].data);
    }
    if (MC_IS_BODY_INPUT(s.kind)) {
        s.cap = r->cap;
        r->needs_body = 1;
    }
    if (parse_codec(w[2], s.transforms) != 0) {
        return fail(err, errlen, "expected raw or transforms (decoded, lowercase, base64), not \"%.*s\"", (int) w[2].len,
                    (const char *) w[2].data);
    }
    if (parse_op(w[3], c) != 0) {
        return fail(err, errlen, "unknown operator \"%.*s\"", (int) w[3].len, (const char *) w[3].data);
    }
    idx = mc_subject_index(rs, &s);
    if (idx < 0) {
        return fail(err, errlen, "more than %d distinct inputs, or out of memory", MC_MAX_SUBJECTS);
    }
    c->subject = (size_t) idx;
    if (c->op == MC_OP_REGEX) {
        c->regex = compile(w[4], c->caseless, err, errlen);
        return c->regex ? 0 : -1;
    }
    if (c->op == MC_OP_LEN) {
        return parse_range(w[4], &c->min, &c->max) == 0 ? 0 : fail(err, errlen, "len expects MIN-MAX");
    }
    n = unhex(w[4], &c->lit, c->caseless);
    if (n < 0) {
        return fail(err, errlen, "%.*s expects its value in hex", (int) w[3].len, (const char *) w[3].data);
    }
    c->lit_len = (size_t) n;
    return 0;
}

/* A rule without an explicit gate is gated by its first literal operator that is not negated
 * (3 bytes or more): the value must contain the literal for the condition to hold. */
static int gate_on_literal_op(mc_ruleset *rs, mc_rule *r, size_t rule)
{
    size_t j;
    unsigned char *text;
    for (j = 0; j < r->nconds && !r->gated; j++) {
        mc_condition *c = &r->conds[j];
        if (c->negate || c->lit_len < 3 || c->op == MC_OP_REGEX || c->op == MC_OP_LEN) continue;
        text = dup_bytes(c->lit, c->lit_len);
        if (text == NULL) return -1;
        for (size_t k = 0; k < c->lit_len; k++) text[k] = mc_lower(text[k]);
        if (mc_add_literal(rs, c->subject, rule, text, c->lit_len) != 0) {
            free(text);
            return -1;
        }
        r->gated = 1;
    }
    return 0;
}

/* A rule still without a gate, with a condition on arg:NAME or body_arg:NAME that is not negated,
 * is gated by NAME (mc_add_name_literal): the condition holds only on a value of an argument so
 * named, which an absent argument does not have, and NAME is then one of the decoded names. */
static int gate_on_name(mc_ruleset *rs, mc_rule *r, size_t rule)
{
    size_t j;
    int rc;

    for (j = 0; j < r->nconds && !r->gated; j++) {
        if (r->conds[j].negate) continue;
        if ((rc = mc_add_name_literal(rs, r->conds[j].subject, rule)) < 0) return -1;
        r->gated = rc;
    }
    return 0;
}

/* A scope's literals gate the rule on the path (nginx's $uri, folded): a rule that holds only
 * under /owa/ cannot hold on a path without "/owa". */
static int scope_literals(mc_ruleset *rs, mc_rule *r, size_t rule, mc_str w)
{
    mc_subject s;
    long idx;
    memset(&s, 0, sizeof(s));
    s.kind = MC_IN_PATH;
    idx = mc_subject_index(rs, &s);
    if (idx < 0 || parse_literals(rs, w, (size_t) idx, rule) != 0) return -1;
    r->gated = 1;
    return 0;
}

/* "body CAP pass|block", before the conditions (body inputs take the rule's cap). */
static int parse_body_clause(mc_rule *r, mc_str cap, mc_str oversize)
{
    size_t min, max;
    char buf[24];
    if (cap.len == 0 || cap.len > 8) return -1;
    memcpy(buf, cap.data, cap.len);
    memcpy(buf + cap.len, "-", 2);
    if (parse_range((mc_str){(const unsigned char *) buf, cap.len + 1}, &min, &max) != 0) return -1;
    if (min < 1 || min > MC_MAX_BODY_CAP) return -1;
    if (!word_is(oversize, "pass") && !word_is(oversize, "block")) return -1;
    r->cap = min;
    r->oversize_block = word_is(oversize, "block");
    return 0;
}

static int parse_clauses(mc_ruleset *rs, mc_rule *r, size_t rule, const mc_str *w, size_t n, char *err, size_t errlen)
{
    size_t i = 2;
    while (i < n) {
        if (word_is(w[i], "scope") && i + 1 < n && r->scope == NULL) {
            if ((r->scope = compile(w[i + 1], 1, err, errlen)) == NULL) return -1;
            i += 2;
            if (i + 1 < n && word_is(w[i], "literals")) {  /* the scope's own prefix gates the rule */
                if (scope_literals(rs, r, rule, w[i + 1]) != 0) {
                    return fail(err, errlen, "scope \"literals\" needs comma-separated hex of 3 bytes or more");
                }
                i += 2;
            }
        } else if (word_is(w[i], "mode") && i + 1 < n && r->nconds == 0) {
            if (!word_is(w[i + 1], "detect") && !word_is(w[i + 1], "enforce")) return fail(err, errlen, "mode is detect or enforce");
            r->detect = word_is(w[i + 1], "detect");
            i += 2;
        } else if (word_is(w[i], "body") && i + 2 < n && r->nconds == 0) {
            if (parse_body_clause(r, w[i + 1], w[i + 2]) != 0) {
                return fail(err, errlen, "expected \"body CAP pass|block\" with CAP from 1 to %d", MC_MAX_BODY_CAP);
            }
            i += 3;
        } else if (word_is(w[i], "when") && i + 4 < n) {
            mc_condition *c = &r->conds[r->nconds];
            if (parse_condition(rs, r, &w[i], c, err, errlen) != 0) return -1;
            r->nconds++;
            i += 5;
            if (i + 1 < n && word_is(w[i], "literals")) {
                /* A negated condition holds when its pattern does not match: nothing is required. */
                if (c->negate || r->gated || parse_literals(rs, w[i + 1], c->subject, rule) != 0) {
                    return fail(err, errlen, "\"literals\" needs comma-separated hex of 3 bytes or more, once, "
                                             "on a condition that is not negated");
                }
                r->gated = 1;
                i += 2;
            }
        } else {
            return fail(err, errlen, "expected \"scope REGEX\" or \"when INPUT CODEC OP ARG\" at \"%.*s\"",
                        (int) (w[i].len > 64 ? 64 : w[i].len), (const char *) w[i].data);
        }
    }
    if (r->nconds == 0) return fail(err, errlen, "no condition");
    return gate_on_literal_op(rs, r, rule) == 0 && gate_on_name(rs, r, rule) == 0 ? 0 : fail(err, errlen, "out of memory");
}

int mc_rule_add(mc_ruleset *rs, const mc_str *w, size_t n, char *err, size_t errlen)
{
    mc_rule *r;
    char status[8];
    int rc;

    if (rs->finished) return fail(err, errlen, "the rule set is already built");
    if (n < 2) return fail(err, errlen, "expected ID STATUS and conditions");
    if (rs->nrules == MC_MAX_RULES) return fail(err, errlen, "more than %d rules in one server", MC_MAX_RULES);
    if (w[1].len != 3 || (memcpy(status, w[1].data, 3), status[3] = 0, atoi(status) < 200 || atoi(status) > 599)) {
        return fail(err, errlen, "status \"%.*s\" is not 200-599", (int) (w[1].len > 16 ? 16 : w[1].len),
                    (const char *) w[1].data);
    }
    if ((r = grow(rs->rules, &rs->cap_rules, rs->nrules, sizeof(mc_rule), 16)) == NULL) return fail(err, errlen, "out of memory");
    rs->rules = r;
    r = &rs->rules[rs->nrules];
    memset(r, 0, sizeof(*r));
    r->status = atoi(status);
    r->cap = MC_DEFAULT_BODY_CAP;
    r->id = dup_bytes(w[0].data, w[0].len);
    r->id_len = w[0].len;
    r->conds = calloc(n / 5 + 1, sizeof(mc_condition));
    if (r->id == NULL || r->conds == NULL) {
        free(r->id);
        free(r->conds);
        return fail(err, errlen, "out of memory");
    }
    rs->nrules++;  /* counted now, so that mc_ruleset_free releases a half-parsed rule */
    rc = parse_clauses(rs, r, rs->nrules - 1, w, n, err, errlen);
    if (rc != 0) {
        size_t j;
        for (j = 0; j <= r->nconds && j < n / 5 + 1; j++) {
            pcre2_code_free(r->conds[j].regex);
            free(r->conds[j].lit);
        }
        pcre2_code_free(r->scope);
        free(r->conds);
        free(r->id);
        rs->nrules--;
        while (rs->nliterals > 0 && rs->literals[rs->nliterals - 1].rule == rs->nrules) {
            free(rs->literals[--rs->nliterals].text);
        }
    }
    return rc;
}

int mc_ruleset_finish(mc_ruleset *rs, char *err, size_t errlen)
{
    size_t s, i;
    if (rs->finished) return 0;
    if (mc_merge_scan_sources(rs) != 0) return fail(err, errlen, "out of memory");
    rs->grams = calloc(rs->nsubjects + 1, sizeof(mc_grams));
    rs->always = calloc(rs->nrules / 64 + 1, sizeof(uint64_t));
    if (rs->grams == NULL || rs->always == NULL) return fail(err, errlen, "out of memory");
    for (s = 0; s < rs->nsubjects; s++) {
        if (mc_build_grams(rs, s) != 0) return fail(err, errlen, "out of memory");
    }
    if (mc_index_grams(rs) != 0) return fail(err, errlen, "out of memory");
    rs->body_gated = calloc(rs->nrules / 64 + 1, sizeof(uint64_t));
    rs->oversize = calloc(rs->nrules / 64 + 1, sizeof(uint64_t));
    if (rs->body_gated == NULL || rs->oversize == NULL) return fail(err, errlen, "out of memory");
    for (i = 0; i < rs->nliterals; i++) {
        if (MC_IS_BODY_INPUT(rs->subjects[rs->literals[i].subject].kind)) {
            rs->body_gated[rs->literals[i].rule / 64] |= (uint64_t) 1 << (rs->literals[i].rule % 64);
        }
    }
    for (i = 0; i < rs->nrules; i++) {
        if (!rs->rules[i].gated) rs->always[i / 64] |= (uint64_t) 1 << (i % 64);
        if (rs->rules[i].needs_body && rs->rules[i].cap > rs->body_cap) rs->body_cap = rs->rules[i].cap;
        rs->ndetect += rs->rules[i].detect;
        if (rs->rules[i].needs_body && rs->rules[i].oversize_block) rs->oversize[i / 64] |= (uint64_t) 1 << (i % 64);
    }
    rs->scratch = malloc(rs->nsubjects * (sizeof(mc_str *) + sizeof(size_t)) + rs->nsubjects + 1);
    if (rs->scratch == NULL) return fail(err, errlen, "out of memory");
    rs->finished = 1;
    return 0;
}
