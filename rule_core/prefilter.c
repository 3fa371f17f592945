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
    return x->hash < y->hash ? -1 : x->hash > y->hash;
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
    g->entries[g->nentries].text = lit->text;
    g->entries[g->nentries].len = lit->len;
    g->entries[g->nentries].offset = offset;
    g->nentries++;
}

/* Step 1: each literal under its rarest window. */
static int file_rarest(mc_ruleset *rs, mc_grams *g, size_t nwin)
{
    size_t i, k, nuniq, shared, best_shared, best;
    window *win = malloc((nwin + 1) * sizeof(window));

    if (win == NULL) return -1;
    nuniq = count_windows(rs, g->subject, win);
    for (i = 0; i < rs->nliterals; i++) {
        const mc_literal *lit = &rs->literals[i];
        if (lit->subject != g->subject) continue;
        best = 0;
        best_shared = (size_t) -1;
        for (k = 0; k + 3 <= lit->len; k++) {
            shared = shared_by(win, nuniq, key3_of(lit->text + k));
            if (shared <= best_shared) {  /* ties: the later bytes, as a rule the more specific */
                best_shared = shared;
                best = k;
            }
        }
        add_entry(rs, g, lit, best);
    }
    free(win);
    return 0;
}

/* A table whose literals are all at least step + 2 bytes long is scanned at every step-th position
 * only: an occurrence of a literal spans step positions where one of its first step windows starts,
 * one of which is scanned, so each literal is filed under each of those windows. */
int mc_build_grams(mc_ruleset *rs, size_t subject)
{
    size_t i, k, n = 0, nwin = 0, step;
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
    if (step == 1) {
        if (file_rarest(rs, g, nwin) != 0) return -1;
    } else {
        for (i = 0; i < rs->nliterals; i++) {
            if (rs->literals[i].subject != subject) continue;
            for (k = 0; k < step; k++) add_entry(rs, g, &rs->literals[i], k);
        }
    }
    qsort(g->entries, g->nentries, sizeof(mc_gram_entry), gram_cmp);
    return 0;
}

/* The subject folded to lower case into q (eight bytes at a time), with zero bytes after it. */
static void fold(const unsigned char *p, size_t len, unsigned char *q)
{
    size_t i = 0;
    unsigned char c;

    for (; i + 8 <= len; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        x = mc_fold8(x);
        memcpy(q + i, &x, 8);
    }
    for (; i < len; i++) {
        c = p[i];
        q[i] = (unsigned char) (c + (((unsigned char) (c - 'A') < 26) << 5));
    }
    memset(q + len, 0, 4);
}

int mc_scan(const mc_ruleset *rs, const mc_grams *g, mc_str s, uint64_t *seen, const mc_alloc *a)
{
    unsigned char stack[2048], *q;
    size_t len = s.len, i, lo, hi, mid;
    uint32_t h, k;
    const mc_gram_entry *e;

    if (len < 3 || len < g->min_len) {
        return 0;
    }
    q = len + 4 <= sizeof(stack) ? stack : a->alloc(a->ctx, len + 4);
    if (q == NULL) {
        return -1;
    }
    fold(s.data, len, q);
    for (i = 0; i + 2 < len; i += g->step) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&k, q + i, 4);  /* the three bytes at q[i] in the low 24 bits; q has a 4th byte */
        k &= 0xffffff;
#else
        k = key3_of(q + i);
#endif
        h = gram_hash(k);
        if (!(rs->gram_bits[h / 64] & ((uint64_t) 1 << (h % 64)))) {
            continue;
        }
        lo = 0;
        hi = g->nentries;
        while (lo < hi) {
            mid = (lo + hi) / 2;
            if (g->entries[mid].hash < h) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for (e = &g->entries[lo]; e < g->entries + g->nentries && e->hash == h; e++) {
            if (e->offset <= i && e->len <= len - (i - e->offset) && memcmp(q + i - e->offset, e->text, e->len) == 0) {
                seen[e->rule / 64] |= (uint64_t) 1 << (e->rule % 64);
            }
        }
    }
    return 0;
}
