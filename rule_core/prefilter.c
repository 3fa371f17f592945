/* The literal prefilter. For one condition of each rule, mitigd's compiler gives literals of which
 * one must occur (ASCII case folded) in a value the condition matches. Each literal is filed under
 * the three of its bytes that the fewest other literals contain; per request, every position of
 * each value hashes its next three folded bytes and tests one bit of an 8 KB bitmap. No state goes
 * from one position to the next (an Aho-Corasick automaton waits for each load before the next),
 * so the CPU overlaps positions. A set bit, rare for a benign request, is confirmed by comparing
 * the literals filed under that hash. Only rules whose literal occurs, and rules without literals,
 * run their conditions. */
#include "core_internal.h"

#include <stdlib.h>
#include <string.h>

static uint32_t gram_hash(uint32_t three_bytes) { return (three_bytes * 2654435761u) >> 16; }

static uint32_t key3_of(const unsigned char *p) { return p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16; }

static int gram_cmp(const void *a, const void *b)
{
    const mc_gram_entry *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    if (x->head != y->head) return x->head < y->head ? -1 : 1;
    if (x->tail != y->tail) return x->tail < y->tail ? -1 : 1;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Sorted entries: each group's first entry learns where the group ends. */
static void mark_groups(mc_grams *g)
{
    size_t i, first = 0;
    for (i = 1; i <= g->nentries; i++) {
        const mc_gram_entry *x = &g->entries[first], *y = &g->entries[i];
        if (i == g->nentries || x->hash != y->hash || x->offset != y->offset || x->len != y->len) {
            g->entries[first].group_end = (uint32_t) i;
            first = i;
        }
    }
}

/* One 3-byte window of one literal, for counting how many literals share each window. */
typedef struct {
    uint32_t gram;
    uint32_t literal;
} window;

static int window_cmp(const void *a, const void *b)
{
    const window *x = a, *y = b;
    if (x->gram != y->gram) {
        return x->gram < y->gram ? -1 : 1;
    }
    return x->literal < y->literal ? -1 : x->literal > y->literal;
}

/* How many other literals contain `gram`: a binary search in the sorted, counted windows. */
static size_t shared_by(const window *uniq, size_t nuniq, uint32_t gram)
{
    size_t lo = 0, hi = nuniq, mid;
    while (lo < hi) {
        mid = (lo + hi) / 2;
        if (uniq[mid].gram < gram) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    /* uniq[].literal holds the number of distinct literals with this window (itself included). */
    return lo < nuniq && uniq[lo].gram == gram ? uniq[lo].literal - 1 : 0;
}

/* The windows of every literal of `subject`, sorted once and counted in place: O(W log W). */
static size_t count_windows(const mc_ruleset *rs, size_t subject, window *win)
{
    size_t i, k, nwin = 0, nuniq = 0;
    uint32_t prev = (uint32_t) -1, cur;

    for (i = 0; i < rs->nliterals; i++) {
        if (rs->literals[i].subject != subject) {
            continue;
        }
        for (k = 0; k + 3 <= rs->literals[i].len; k++) {
            win[nwin].gram = key3_of(rs->literals[i].text + k);
            win[nwin].literal = (uint32_t) i;
            nwin++;
        }
    }
    qsort(win, nwin, sizeof(window), window_cmp);
    for (i = 0; i < nwin; i++) {
        cur = win[i].literal;  /* read before win[nuniq] (at or behind i) is written */
        if (nuniq > 0 && win[nuniq - 1].gram == win[i].gram) {
            if (prev != cur) {
                win[nuniq - 1].literal++;
            }
        } else {
            win[nuniq].gram = win[i].gram;
            win[nuniq].literal = 1;
            nuniq++;
        }
        prev = cur;
    }
    return nuniq;
}

static void add_entry(mc_ruleset *rs, mc_grams *g, const mc_literal *lit, size_t offset)
{
    uint32_t h = gram_hash(key3_of(lit->text + offset));
    rs->gram_bits[h / 64] |= (uint64_t) 1 << (h % 64);
    g->entries[g->nentries].hash = h;
    g->entries[g->nentries].rule = (uint32_t) lit->rule;
    unsigned char head[8] = {0}, mask[8] = {0};
    size_t n = lit->len < 8 ? lit->len : 8;

    memcpy(head, lit->text, n);
    memset(mask, 0xff, n);
    g->entries[g->nentries].text = lit->text;
    g->entries[g->nentries].len = (uint32_t) lit->len;
    g->entries[g->nentries].offset = (uint32_t) offset;
    memcpy(&g->entries[g->nentries].head, head, 8);
    memcpy(&g->entries[g->nentries].mask, mask, 8);
    g->entries[g->nentries].tail = 0;
    if (lit->len >= 8) memcpy(&g->entries[g->nentries].tail, lit->text + lit->len - 8, 8);
    g->nentries++;
}

/* Each literal under the run of `step` consecutive windows that the fewest other literals share
 * (step 1: its rarest window): literals with a common prefix ("x-backend-1=", "x-backend-2=")
 * are filed under what tells them apart, so a request holding the prefix confirms few of them. */
static int file_rarest(mc_ruleset *rs, mc_grams *g, size_t nwin, size_t step)
{
    size_t i, k, nuniq, sum, best_sum, best, nw;
    window *win = malloc((nwin + 1) * sizeof(window));
    size_t *shared = malloc((nwin + 1) * sizeof(size_t));

    if (win == NULL || shared == NULL) {
        free(win);
        free(shared);
        return -1;
    }
    nuniq = count_windows(rs, g->subject, win);
    for (i = 0; i < rs->nliterals; i++) {
        const mc_literal *lit = &rs->literals[i];
        if (lit->subject != g->subject) continue;
        nw = lit->len - 2;
        for (k = 0; k < nw; k++) shared[k] = shared_by(win, nuniq, key3_of(lit->text + k));
        best = 0;
        best_sum = (size_t) -1;
        for (k = 0, sum = 0; k < nw; k++) {
            sum += shared[k];
            if (k >= step) sum -= shared[k - step];
            if (k + 1 >= step && sum <= best_sum) {  /* ties: the later bytes, as a rule the more specific */
                best_sum = sum;
                best = k + 1 - step;
            }
        }
        for (k = 0; k < step; k++) add_entry(rs, g, lit, best + k);
    }
    free(win);
    free(shared);
    return 0;
}

/* A table whose literals are all at least step + 2 bytes long is scanned at every step-th position
 * only: an occurrence of a literal spans step consecutive positions where its windows start, one of
 * which is scanned, so each literal is filed under each window of one such run. */
int mc_build_grams(mc_ruleset *rs, size_t subject)
{
    size_t i, n = 0, nwin = 0, step;
    mc_grams *g;

    for (i = 0; i < rs->nliterals; i++) {
        if (rs->literals[i].subject != subject) continue;
        n++;
        nwin += rs->literals[i].len - 2;
    }
    if (n == 0) {
        return 0;
    }
    g = &rs->grams[rs->ngrams];
    memset(g, 0, sizeof(*g));
    g->subject = subject;
    for (i = 0; i < rs->nliterals; i++) {
        if (rs->literals[i].subject == subject && (g->min_len == 0 || rs->literals[i].len < g->min_len)) {
            g->min_len = rs->literals[i].len;
        }
    }
    step = g->min_len - 2 > 16 ? 16 : g->min_len - 2;
    g->step = step;
    g->entries = malloc(n * step * sizeof(mc_gram_entry));
    if (g->entries == NULL) {
        return -1;
    }
    rs->ngrams++;
    if (file_rarest(rs, g, nwin, step) != 0) return -1;
    qsort(g->entries, g->nentries, sizeof(mc_gram_entry), gram_cmp);
    mark_groups(g);
    return 0;
}

/* The groups of entries under hash h (from index lo) confirmed at position i of q (len bytes).
 * Not inlined: the scan loop stays small (a set bit is rare). */
static __attribute__((noinline)) void confirm(const mc_grams *g, size_t lo, uint32_t h, const unsigned char *q, size_t i, size_t len, uint64_t *seen)
{
    const mc_gram_entry *e = g->entries + lo, *end = g->entries + g->nentries, *group_end, *a, *b, *mid;
    const unsigned char *start;
    uint64_t head, tail;

    for (; e < end && e->hash == h; e = group_end) {
        group_end = g->entries + e->group_end;
        if (e->offset > i || e->len > len - (i - e->offset)) continue;
        start = q + i - e->offset;
        memcpy(&head, start, 8);
        head &= e->mask;
        tail = 0;
        if (e->len >= 8) memcpy(&tail, start + e->len - 8, 8);
        for (a = e, b = group_end; a < b;) {  /* the first entry not below (head, tail) */
            mid = a + (b - a) / 2;
            if (mid->head < head || (mid->head == head && mid->tail < tail)) {
                a = mid + 1;
            } else {
                b = mid;
            }
        }
        for (; a < group_end && a->head == head && a->tail == tail; a++) {  /* one literal, several rules */
            if (a->len <= 16 || memcmp(start + 8, a->text + 8, a->len - 16) == 0) {
                seen[a->rule / 64] |= (uint64_t) 1 << (a->rule % 64);
            }
        }
    }
}

/* The values of min_len bytes or more (no shorter one holds a literal) folded into one buffer, a
 * zero byte between two, eight zero bytes after the last (a literal's head is compared by one
 * eight-byte load wherever it starts). Returns its length. A literal found across a boundary only
 * adds a candidate, whose conditions then see each value on its own. */
static size_t fold_values(const mc_str *values, size_t n, size_t min_len, unsigned char *q)
{
    size_t k, at = 0;
    for (k = 0; k < n; k++) {
        if (values[k].len < min_len) continue;
        if (at > 0) q[at++] = 0;
        mc_fold_copy(values[k].data, values[k].len, q + at);
        at += values[k].len;
    }
    memset(q + at, 0, 8);
    return at;
}

int mc_scan(const mc_ruleset *rs, const mc_grams *g, const mc_str *values, size_t nvalues, uint64_t *seen, const mc_alloc *a)
{
    unsigned char stack[2048], *q;
    const uint64_t *bits = rs->gram_bits;
    const mc_gram_entry *entries = g->entries;
    size_t len = 0, i, lo, hi, mid, step = g->step, n = g->nentries, last;
    uint32_t h, k;

    for (i = 0; i < nvalues; i++) {
        if (values[i].len >= g->min_len) len += values[i].len + 1;  /* with a separator */
    }
    if (len == 0) {
        return 0;
    }
    q = len + 8 <= sizeof(stack) ? stack : a->alloc(a->ctx, len + 8);
    if (q == NULL) {
        return -1;
    }
    len = fold_values(values, nvalues, g->min_len, q);
    for (i = 0, last = len - 2; i < last; i += step) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&k, q + i, 4);  /* the three bytes at q[i] in the low 24 bits; q has a 4th byte */
        k &= 0xffffff;
#else
        k = key3_of(q + i);
#endif
        h = gram_hash(k);
        if (!(bits[h / 64] & ((uint64_t) 1 << (h % 64)))) {
            continue;
        }
        for (lo = 0, hi = n; lo < hi;) {
            mid = (lo + hi) / 2;
            if (entries[mid].hash < h) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        confirm(g, lo, h, q, i, len, seen);
    }
    return 0;
}
