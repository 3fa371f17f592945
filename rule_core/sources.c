/* Where the prefilter looks for each literal. A literal says "this rule can hold only if these
 * bytes occur in a value of its input"; any string that contains every value of that input, case
 * folded, is as good a place to look, and one scan of it serves many inputs at once:
 *
 * - request_uri, query, args, arg:NAME and arg_names (raw, or decoded once) are all found in the
 *   request_uri (raw, or decoded once): the query is its tail after '?', every argument's name and
 *   value a piece of the query between '&' and '=', and a piece decoded on its own is a substring
 *   of the whole decoded, since neither separator is a hex digit (the decoder is back in its usual
 *   state after one). path_raw_decoded is its decoded head. When the query is not that tail (an
 *   embedder may pass them apart), it is scanned too (eval's MC_IN_URI_SCAN).
 * - header:NAME is in headers, cookie:NAME in cookie.
 * - A named input joins its family only on the terms of joins_family.
 * - body_args, body_arg:NAME, body_arg_names and files (raw, or decoded once) are found in the
 *   body (raw, or decoded once): the form's names, values and file names are pieces of the body's
 *   inspected bytes, each after a byte ('=', '"', '\n') that leaves the decoder in its usual state.
 *   The body scan covers the largest cap of the rules that read it; a benign body is then decoded
 *   and scanned once, and its form parsed only for a rule whose literal occurred.
 * - lowercase changes nothing the prefilter sees: it folds case itself.
 *
 * So a request's URI is decoded and scanned once however many argument rules there are, and the
 * arguments are split and decoded only for the rules whose literal occurred. The source is a
 * superset; rules still run their conditions on their own inputs. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

/* The transforms without lowercase: [] or [decode] for the merged families. */
static void strip_lower(const unsigned char *t, unsigned char *out)
{
    size_t i, n = 0;
    memset(out, 0, MC_MAX_TRANSFORMS);
    for (i = 0; i < MC_MAX_TRANSFORMS && t[i]; i++) {
        if (t[i] != MC_T_LOWER) out[n++] = t[i];
    }
}

static int raw_or_decoded_once(const unsigned char *t)
{
    return t[0] == 0 || (t[0] == MC_T_DECODE && t[1] == 0);
}

static int is_uri_family(mc_input k)
{
    return k == MC_IN_REQUEST_URI || k == MC_IN_QUERY || k == MC_IN_ARGS || k == MC_IN_ARG || k == MC_IN_ARG_NAMES;
}

static int is_named(mc_input k) { return k == MC_IN_ARG || k == MC_IN_HEADER || k == MC_IN_COOKIE_NAMED; }

/* The shortest literal of the unnamed subjects that src (kind and transforms, lowercase aside)
 * stands for; (size_t) -1 when none has literals. */
static size_t family_shortest(const mc_ruleset *rs, const size_t *shortest, size_t nshort, const mc_subject *src)
{
    unsigned char u[MC_MAX_TRANSFORMS];
    size_t i, n, best = (size_t) -1;
    for (i = 0; i < nshort; i++) {  /* subjects added since (names) are not counted */
        const mc_subject *o = &rs->subjects[i];
        int member = src->kind == MC_IN_URI_SCAN ? is_uri_family(o->kind) || o->kind == MC_IN_PATH_RAW_DECODED : o->kind == src->kind;
        if (!member || is_named(o->kind)) continue;
        strip_lower(o->transforms, u);
        if (o->kind == MC_IN_PATH_RAW_DECODED) {
            if (u[0] != 0 || src->transforms[0] != MC_T_DECODE) continue;
        } else if (memcmp(u, src->transforms, MC_MAX_TRANSFORMS) != 0) {
            continue;
        }
        n = shortest[i];
        best = n < best ? n : best;
    }
    return best;
}

/* A named input (arg:, header:, cookie:) joins its family's scan only when that scan happens
 * anyway and its literals are no shorter than the family's: a shorter one would make the scan
 * look at more positions (prefilter.c's step), while alone its scan is skipped whenever the
 * request lacks the name. */
static int joins_family(const mc_ruleset *rs, const size_t *shortest, size_t nshort, size_t i, const mc_subject *src)
{
    size_t family = family_shortest(rs, shortest, nshort, src);
    return family != (size_t) -1 && shortest[i] >= family;
}

static int is_body_family(mc_input k)
{
    return k == MC_IN_BODY || k == MC_IN_BODY_ARG || k == MC_IN_BODY_ARGS || k == MC_IN_BODY_ARG_NAMES || k == MC_IN_FILES;
}

/* Whether the literals of subject i are looked for in another subject's scan, filled in src.
 * shortest[]: each subject's shortest literal ((size_t) -1: none); body_cap: the largest cap of a
 * body input with literals (the body scan covers every body input's inspected bytes). */
static int joins(const mc_ruleset *rs, const size_t *shortest, size_t nshort, size_t body_cap, size_t i, mc_subject *src)
{
    mc_input kind = rs->subjects[i].kind;

    *src = rs->subjects[i];
    strip_lower(rs->subjects[i].transforms, src->transforms);
    if (!raw_or_decoded_once(src->transforms) && kind != MC_IN_HEADER && kind != MC_IN_COOKIE_NAMED) return 0;
    if (is_uri_family(kind)) {
        src->kind = MC_IN_URI_SCAN;
    } else if (kind == MC_IN_PATH_RAW_DECODED && src->transforms[0] == 0) {
        src->kind = MC_IN_URI_SCAN;
        src->transforms[0] = MC_T_DECODE;
    } else if (is_body_family(kind)) {
        src->kind = MC_IN_BODY;
        src->cap = body_cap;
    } else if (kind == MC_IN_HEADER || kind == MC_IN_COOKIE_NAMED) {
        src->kind = kind == MC_IN_HEADER ? MC_IN_HEADERS : MC_IN_COOKIE;
    } else {
        return 0;
    }
    if ((is_named(kind) || kind == MC_IN_BODY_ARG) && !joins_family(rs, shortest, nshort, i, src)) return 0;
    src->name = NULL;
    src->name_len = 0;
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
    for (k = 0; k < len; k++) text[k] = (unsigned char) (s->name[k] + (((unsigned char) (s->name[k] - 'A') < 26) << 5));
    if ((idx = mc_subject_index(rs, &names)) < 0 || mc_add_literal(rs, (size_t) idx, rule, text, len) != 0) {  /* s moves */
        free(text);
        return -1;
    }
    return 1;
}

static void shortest_literals(const mc_ruleset *rs, size_t *shortest)
{
    size_t i;
    memset(shortest, 0xff, (rs->nsubjects + 1) * sizeof(size_t));
    for (i = 0; i < rs->nliterals; i++) {
        if (rs->literals[i].len < shortest[rs->literals[i].subject]) shortest[rs->literals[i].subject] = rs->literals[i].len;
    }
}

/* A literal of arg:NAME or body_arg:NAME that would keep its input's own table (base64, or shorter
 * than its family's) is replaced by NAME among the decoded argument names: no weaker a gate than
 * the argument's presence, looked for in the URI's or the body's scan, where the own table would
 * split and hash every argument's name on every request. Literals of one condition are adjacent,
 * so the name is added once for them. */
static int names_for_apart(mc_ruleset *rs, const size_t *shortest, size_t body_cap)
{
    size_t i, n = rs->nliterals, nshort = rs->nsubjects, kept = 0, last_rule = (size_t) -1, last_subject = (size_t) -1;
    mc_subject src;
    int rc;

    for (i = 0; i < n; i++) {
        mc_literal lit = rs->literals[i];
        mc_input kind = rs->subjects[lit.subject].kind;
        if ((kind == MC_IN_ARG || kind == MC_IN_BODY_ARG) && !joins(rs, shortest, nshort, body_cap, lit.subject, &src)) {
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
    size_t i, n, body_cap = 0;
    size_t *shortest = NULL;
    long *source = NULL;
    mc_subject src;
    int rc = -1;

    for (i = 0; i < rs->nsubjects; i++) {
        if (MC_IS_BODY_INPUT(rs->subjects[i].kind) && rs->subjects[i].cap > body_cap) body_cap = rs->subjects[i].cap;
    }
    if ((shortest = malloc((rs->nsubjects + 1) * sizeof(size_t))) == NULL) goto done;
    shortest_literals(rs, shortest);
    if (names_for_apart(rs, shortest, body_cap) != 0) goto done;
    n = rs->nsubjects;  /* the names' subjects may be new */
    free(shortest);
    shortest = malloc((n + 1) * sizeof(size_t));
    source = malloc((n + 1) * sizeof(long));
    if (shortest == NULL || source == NULL) goto done;
    shortest_literals(rs, shortest);
    for (i = 0; i < n; i++) {
        source[i] = (long) i;
        if (shortest[i] != (size_t) -1 && joins(rs, shortest, n, body_cap, i, &src)) source[i] = mc_subject_index(rs, &src);
        if (source[i] < 0) goto done;
    }
    for (i = 0; i < rs->nliterals; i++) rs->literals[i].subject = (size_t) source[rs->literals[i].subject];
    rc = 0;
done:
    free(shortest);
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
