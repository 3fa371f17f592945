/* Where the prefilter looks for each literal. A literal says "this rule can hold only if these
 * bytes occur in a value of its input"; any string that contains every value of that input, case
 * folded, is as good a place to look, and one scan of it serves many inputs at once:
 *
 * - request_uri, query, args, arg:NAME and arg_names (raw, or decoded once) are all found in the
 *   request_uri (raw, or decoded once): the query is its tail after '?', every argument's name and
 *   value a piece of the query between '&' and '=', and a piece decoded on its own is a substring
 *   of the whole decoded, since neither separator is a hex digit (the decoder is back in its usual
 *   state after one). path_raw_decoded is its decoded head. When the query is not that tail (an
 *   embedder may pass them apart), it is scanned too (values.c's MC_IN_URI_SCAN).
 * - header:NAME is in headers, cookie:NAME in cookie (raw, or decoded once).
 * - body_args, body_arg:NAME, body_arg_names and files (raw, or decoded once) are found in the
 *   body (raw, or decoded once): the form's names, values and file names are pieces of the body's
 *   inspected bytes, each after a byte ('=', '"', '\n') that leaves the decoder in its usual state.
 *   The body scan covers the largest cap of the rules that read it; a benign body is then decoded
 *   and scanned once, and its form parsed only for a rule whose literal occurred.
 * - lowercase changes nothing the prefilter sees: it folds case itself.
 * - A named input (arg:, header:, cookie:, body_arg:) joins its family on the terms of joins().
 *
 * So a request's URI is decoded and scanned once however many argument rules there are, and the
 * arguments are split and decoded only for the rules whose literal occurred. The source is a
 * superset; rules still run their conditions on their own inputs. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

/* The scans literals can share: each stands for its family's inputs, raw or decoded once. */
enum { SRC_URI, SRC_HEADERS, SRC_COOKIE, SRC_BODY, SRC_KINDS };

static const mc_input kSourceKind[SRC_KINDS] = { MC_IN_URI_SCAN, MC_IN_HEADERS, MC_IN_COOKIE, MC_IN_BODY_SCAN };

static int is_named(mc_input k) { return k == MC_IN_ARG || k == MC_IN_HEADER || k == MC_IN_COOKIE_NAMED || k == MC_IN_BODY_ARG; }

/* The source whose scan holds every value of s (-1: none), and whether it is the decoded one. */
static int family_of(const mc_subject *s, int *decoded)
{
    size_t i, n = 0;
    unsigned char t[MC_MAX_TRANSFORMS] = {0};

    for (i = 0; i < MC_MAX_TRANSFORMS && s->transforms[i]; i++) {
        if (s->transforms[i] != MC_T_LOWER) t[n++] = s->transforms[i];  /* the scan folds case itself */
    }
    if (n > 1 || (n == 1 && t[0] != MC_T_DECODE)) return -1;
    *decoded = n == 1;
    switch (s->kind) {
    case MC_IN_REQUEST_URI: case MC_IN_QUERY: case MC_IN_ARGS: case MC_IN_ARG: case MC_IN_ARG_NAMES: return SRC_URI;
    case MC_IN_PATH_RAW_DECODED: return *decoded ? -1 : (*decoded = 1, SRC_URI);  /* the decoded URI's head */
    case MC_IN_HEADER: case MC_IN_HEADERS: return SRC_HEADERS;
    case MC_IN_COOKIE_NAMED: case MC_IN_COOKIE: return SRC_COOKIE;
    case MC_IN_BODY: case MC_IN_BODY_ARG: case MC_IN_BODY_ARGS: case MC_IN_BODY_ARG_NAMES: case MC_IN_FILES: return SRC_BODY;
    default: return -1;
    }
}

/* What the merging decides from: each subject's shortest literal ((size_t) -1: none), and each
 * family's shortest literal among its unnamed inputs (those scanned on every request anyway). */
typedef struct {
    size_t *shortest;
    size_t nsubjects;
    size_t family[SRC_KINDS][2];
    size_t body_cap;  /* the body scan covers every body input's inspected bytes */
} merge_view;

static int view_of(const mc_ruleset *rs, merge_view *v)
{
    size_t i, len;
    int f, decoded;

    free(v->shortest);
    v->nsubjects = rs->nsubjects;
    if ((v->shortest = malloc((rs->nsubjects + 1) * sizeof(size_t))) == NULL) return -1;
    memset(v->shortest, 0xff, (rs->nsubjects + 1) * sizeof(size_t));
    memset(v->family, 0xff, sizeof(v->family));
    for (i = 0; i < rs->nliterals; i++) {
        len = rs->literals[i].len;
        if (len < v->shortest[rs->literals[i].subject]) v->shortest[rs->literals[i].subject] = len;
    }
    for (i = 0; i < rs->nsubjects; i++) {
        if (MC_IS_BODY_INPUT(rs->subjects[i].kind) && rs->subjects[i].cap > v->body_cap) v->body_cap = rs->subjects[i].cap;
        if (is_named(rs->subjects[i].kind) || (f = family_of(&rs->subjects[i], &decoded)) < 0) continue;
        if (v->shortest[i] < v->family[f][decoded]) v->family[f][decoded] = v->shortest[i];
    }
    return 0;
}

/* Whether the literals of subject i are looked for in its family's scan (src filled). A named input
 * (arg:, header:, cookie:, body_arg:) joins only when that scan happens anyway and its literals are
 * no shorter than the family's: a shorter one would make the scan look at more positions
 * (prefilter.c's step), while apart its scan is skipped whenever the request lacks the name. */
static int joins(const mc_ruleset *rs, const merge_view *v, size_t i, mc_subject *src)
{
    int decoded, f = family_of(&rs->subjects[i], &decoded);

    if (f < 0 || (is_named(rs->subjects[i].kind) && (v->family[f][decoded] == (size_t) -1 || v->shortest[i] < v->family[f][decoded]))) {
        return 0;
    }
    memset(src, 0, sizeof(*src));
    src->kind = kSourceKind[f];
    src->transforms[0] = decoded ? MC_T_DECODE : 0;
    src->cap = f == SRC_BODY ? v->body_cap : 0;
    return 1;
}

int mc_add_name_literal(mc_ruleset *rs, size_t subject, size_t rule)
{
    const mc_subject *s = &rs->subjects[subject];
    size_t k, len = s->name_len;
    mc_subject names;
    unsigned char *text;
    long idx;

    if ((s->kind != MC_IN_ARG && s->kind != MC_IN_BODY_ARG) || len < 3 || memchr(s->name, '%', len) != NULL ||
        memchr(s->name, '+', len) != NULL) {
        return 0;
    }
    memset(&names, 0, sizeof(names));
    names.kind = s->kind == MC_IN_ARG ? MC_IN_ARG_NAMES : MC_IN_BODY_ARG_NAMES;
    names.transforms[0] = MC_T_DECODE;
    names.cap = s->cap;
    if ((text = malloc(len)) == NULL) return -1;
    for (k = 0; k < len; k++) text[k] = mc_lower(s->name[k]);
    if ((idx = mc_subject_index(rs, &names)) < 0 || mc_add_literal(rs, (size_t) idx, rule, text, len) != 0) {  /* s moves */
        free(text);
        return -1;
    }
    return 1;
}

/* A literal of arg:NAME or body_arg:NAME that would keep its input's own table (base64, or shorter
 * than its family's) is replaced by NAME among the decoded argument names: no weaker a gate than
 * the argument's presence, looked for in the URI's or the body's scan, where the own table would
 * split and hash every argument's name on every request. Literals of one condition are adjacent,
 * so the name is added once for them. */
static int names_for_apart(mc_ruleset *rs, const merge_view *v)
{
    size_t i, n = rs->nliterals, kept = 0, last_rule = (size_t) -1, last_subject = (size_t) -1;
    mc_subject src;
    int rc;

    for (i = 0; i < n; i++) {
        mc_literal lit = rs->literals[i];
        mc_input kind = rs->subjects[lit.subject].kind;
        if ((kind == MC_IN_ARG || kind == MC_IN_BODY_ARG) && !joins(rs, v, lit.subject, &src)) {
            rc = lit.rule == last_rule && lit.subject == last_subject ? 1 : mc_add_name_literal(rs, lit.subject, lit.rule);
            if (rc < 0) return -1;
            if (rc == 1) {
                last_rule = lit.rule;
                last_subject = lit.subject;
                free(lit.text);
                continue;
            }
        }
        rs->literals[kept++] = rs->literals[i];
    }
    if (rs->nliterals > n) memmove(rs->literals + kept, rs->literals + n, (rs->nliterals - n) * sizeof(mc_literal));  /* names added */
    rs->nliterals = kept + (rs->nliterals - n);
    return 0;
}

int mc_merge_scan_sources(mc_ruleset *rs)
{
    size_t i, n;
    long *source = NULL;
    merge_view v;
    mc_subject src;
    int rc = -1;

    memset(&v, 0, sizeof(v));
    if (view_of(rs, &v) != 0 || names_for_apart(rs, &v) != 0 || view_of(rs, &v) != 0) goto done;
    n = v.nsubjects;  /* the sources' subjects are added below */
    if ((source = malloc((n + 1) * sizeof(long))) == NULL) goto done;
    for (i = 0; i < n; i++) {
        source[i] = (long) i;
        if (v.shortest[i] != (size_t) -1 && joins(rs, &v, i, &src)) source[i] = mc_subject_index(rs, &src);
        if (source[i] < 0) goto done;
    }
    for (i = 0; i < rs->nliterals; i++) rs->literals[i].subject = (size_t) source[rs->literals[i].subject];
    rc = 0;
done:
    free(v.shortest);
    free(source);
    return rc;
}

static int named_class(mc_input k)
{
    return k == MC_IN_HEADER ? MC_NAMED_HEADER : k == MC_IN_ARG ? MC_NAMED_ARG : k == MC_IN_COOKIE_NAMED ? MC_NAMED_COOKIE : -1;
}

static int named_cmp(const void *a, const void *b)
{
    const mc_named_gram *x = a, *y = b;
    if (x->cls != y->cls) return x->cls < y->cls ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static uint64_t slot_key(uint32_t cls, uint32_t hash) { return (uint64_t) (cls + 1) << 32 | hash; }

static size_t slot_of(uint64_t key, size_t mask) { return (size_t) ((key * 0x9e3779b97f4a7c15ULL) >> 40) & mask; }

/* One slot per distinct (class, hash), at most half the table full. */
static int build_slots(mc_ruleset *rs)
{
    size_t i, size = 4, at;
    uint64_t key;

    while (size < 2 * rs->nnamed + 2) size *= 2;
    rs->slots = calloc(size, sizeof(struct mc_named_slot));
    if (rs->slots == NULL) return -1;
    rs->slot_mask = size - 1;
    for (i = 0; i < rs->nnamed; i++) {
        key = slot_key(rs->named[i].cls, rs->named[i].hash);
        for (at = slot_of(key, rs->slot_mask); rs->slots[at].key != 0 && rs->slots[at].key != key; at = (at + 1) & rs->slot_mask) {}
        if (rs->slots[at].key == 0) {
            rs->slots[at].key = key;
            rs->slots[at].first = (uint32_t) i;
        }
        rs->slots[at].count++;
    }
    return 0;
}

int mc_index_grams(mc_ruleset *rs)
{
    size_t i;
    int cls;

    rs->plain = malloc((rs->ngrams + 1) * sizeof(size_t));
    rs->named = malloc((rs->ngrams + 1) * sizeof(mc_named_gram));
    if (rs->plain == NULL || rs->named == NULL) return -1;
    for (i = 0; i < rs->ngrams; i++) {
        const mc_subject *s = &rs->subjects[rs->grams[i].subject];
        cls = named_class(s->kind);
        if (cls < 0) {
            rs->plain[rs->nplain++] = i;
            continue;
        }
        rs->named[rs->nnamed].cls = (uint32_t) cls;
        rs->named[rs->nnamed].hash = s->name_hash;
        rs->named[rs->nnamed].gram = i;
        rs->nnamed++;
        rs->named_in_class[cls]++;
    }
    qsort(rs->named, rs->nnamed, sizeof(mc_named_gram), named_cmp);
    return build_slots(rs);
}

size_t mc_named_grams(const mc_ruleset *rs, uint32_t cls, uint32_t hash, size_t *count)
{
    uint64_t key = slot_key(cls, hash);
    size_t at = slot_of(key, rs->slot_mask);

    for (; rs->slots[at].key != 0; at = (at + 1) & rs->slot_mask) {
        if (rs->slots[at].key == key) {
            *count = rs->slots[at].count;
            return rs->slots[at].first;
        }
    }
    *count = 0;
    return 0;
}
