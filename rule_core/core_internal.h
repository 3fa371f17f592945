/* Internal to the rule core: the compiled rule set, shared by its files. */
#ifndef MITIGD_CORE_INTERNAL_H
#define MITIGD_CORE_INTERNAL_H

#include "mitigd_core.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#ifdef __cplusplus
extern "C" {  /* for the tests and the fuzzer */
#endif

typedef enum {
    MC_IN_REQUEST_URI, MC_IN_PATH, MC_IN_QUERY, MC_IN_METHOD, MC_IN_COOKIE, MC_IN_HEADER,
    MC_IN_COOKIE_NAMED, MC_IN_ARG, MC_IN_ARGS, MC_IN_ARG_NAMES, MC_IN_HEADERS, MC_IN_HEADER_NAMES,
    MC_IN_PATH_RAW_DECODED,
    MC_IN_URI_SCAN,  /* the prefilter's: request_uri, and the query when it is not request_uri's tail */
    MC_IN_BODY, MC_IN_BODY_ARG, MC_IN_BODY_ARGS, MC_IN_BODY_ARG_NAMES, MC_IN_FILES,
    MC_IN_BODY_SCAN  /* the prefilter's: the body, and a JSON body with its strings decoded */
} mc_input;

#define MC_IS_BODY_INPUT(k) ((k) >= MC_IN_BODY)
#define MC_DEFAULT_BODY_CAP 65536
#define MC_MAX_BODY_CAP 1048576

typedef enum { MC_T_DECODE = 1, MC_T_LOWER, MC_T_BASE64 } mc_transform;
#define MC_MAX_TRANSFORMS 4

typedef enum { MC_OP_REGEX, MC_OP_EQ, MC_OP_CONTAINS, MC_OP_PREFIX, MC_OP_SUFFIX, MC_OP_LEN } mc_op;

/* One list of values a condition reads; conditions on the same input and transforms share it. */
typedef struct {
    mc_input kind;
    unsigned char *name;  /* header, cookie or argument name (owned) */
    size_t name_len;
    unsigned char transforms[MC_MAX_TRANSFORMS];  /* 0-terminated */
    size_t cap;  /* body inputs: the bytes of the body inspected (the rule's cap) */
    uint32_t name_hash;  /* of the lower-case name: which requests can have a value at all */
} mc_subject;

typedef struct {
    size_t subject;
    mc_op op;
    int negate;
    int caseless;
    pcre2_code *regex;
    unsigned char *lit;  /* owned; lower-cased when caseless */
    size_t lit_len;
    size_t min, max;
} mc_condition;

typedef struct {
    unsigned char *id;
    size_t id_len;
    int status;
    pcre2_code *scope;
    mc_condition *conds;
    size_t nconds;
    int gated;
    int detect;       /* mode detect: counted and logged, never answers */
    int needs_body;   /* a condition reads the body */
    int oversize_block;  /* a body longer than cap makes the rule answer (else: the cap is inspected) */
    size_t cap;
} mc_rule;

typedef struct {
    size_t subject;
    size_t rule;
    unsigned char *text;  /* lower case, 3 bytes or more (owned) */
    size_t len;
} mc_literal;

/* A literal filed under the hash of one of its 3-byte windows. Entries are sorted by (hash, offset,
 * len, head, tail): those of one hash, offset and length form a group, which one request position
 * confirms by a single load of head and tail and a binary search, however many literals share a
 * prefix ("x-backend-1=" .. "x-backend-99=" under "bac"). */
typedef struct {
    uint32_t hash;
    uint32_t rule;
    uint32_t len;
    uint32_t offset;  /* of the three bytes hashed */
    uint32_t group_end;   /* in a group's first entry: the index past its last */
    uint64_t head, mask;  /* the literal's first eight bytes (fewer: mask), as a load of them reads */
    uint64_t tail;        /* its last eight bytes (8 or more; else 0): with head, all of a literal up to 16 */
    const unsigned char *text;
} mc_gram_entry;

typedef struct {
    size_t subject;
    mc_gram_entry *entries;  /* sorted by hash, offset, len, head, tail */
    size_t nentries;
    size_t min_len;  /* the shortest literal: a shorter value holds none */
    size_t step;     /* positions scanned: every step-th (min_len - 2, at most 16) */
} mc_grams;

/* The prefilter's named tables (header:, arg:, cookie:), found by the names a request has. */
enum { MC_NAMED_HEADER, MC_NAMED_ARG, MC_NAMED_COOKIE, MC_NAMED_CLASSES };

typedef struct {
    uint32_t cls;
    uint32_t hash;  /* the subject's name_hash */
    size_t gram;    /* index in grams */
} mc_named_gram;

struct mc_named_slot {
    uint64_t key;  /* (class + 1) << 32 | hash; 0: empty */
    uint32_t first, count;
};

struct mc_ruleset {
    mc_rule *rules;
    size_t nrules, cap_rules;
    mc_subject *subjects;
    size_t nsubjects, cap_subjects;
    mc_literal *literals;
    size_t nliterals, cap_literals;
    mc_grams *grams;  /* one per subject with literals */
    uint64_t gram_bits[1024];  /* 65536 bits, one per gram hash, shared by every subject: one table
                                * stays in cache however many inputs the rules name */
    size_t ngrams;
    size_t *plain;  /* grams scanned on every request (not named) */
    size_t nplain;
    mc_named_gram *named;  /* sorted by class and hash */
    size_t nnamed, named_in_class[MC_NAMED_CLASSES];
    struct mc_named_slot *slots;  /* open addressing over (class, hash): where its run in named starts */
    size_t slot_mask;
    uint64_t *always;  /* rules without literals */
    uint64_t *body_gated;  /* rules whose literals are in a body input */
    uint64_t *oversize;    /* rules with oversize block: candidates once the body is read */
    size_t ndetect;  /* rules in detect mode */
    size_t body_cap;  /* the largest cap of a rule that reads the body; 0: none does */
    pcre2_match_data *md;
    /* Per-evaluation state by subject, reused by each evaluation (a rule set evaluates one request
     * at a time, as an nginx worker does): no per-request allocation that grows with the rules. */
    void *scratch;
    int finished;
    int all_candidates;  /* tests: every rule runs its conditions, as if no prefilter existed */
};

/* One byte, ASCII lower-cased (no other byte changes: the rules' case folding everywhere). */
static inline unsigned char mc_lower(unsigned char c) { return (unsigned char) (c + (((unsigned char) (c - 'A') < 26) << 5)); }

/* Eight bytes with 'A'..'Z' turned to lower case and no other byte changed: 0x20 is added to
 * the bytes in 0x41..0x5a with bit 7 clear (each byte's sums stay below 0x100: no carries). */
static inline uint64_t mc_fold8(uint64_t x)
{
    uint64_t low7 = x & 0x7f7f7f7f7f7f7f7fULL;
    uint64_t upper = (low7 + 0x3f3f3f3f3f3f3f3fULL) & ~(low7 + 0x2525252525252525ULL) & ~x & 0x8080808080808080ULL;
    return x | upper >> 2;
}

int mc_hex_value(unsigned char c);
size_t mc_find_escape(const unsigned char *p, size_t len);
/* q[0..len) = p[0..len) ASCII lower-cased (16 bytes at a time where SSE2 exists, as on every
 * x86-64; else eight, by mc_fold8). */
void mc_fold_copy(const unsigned char *p, size_t len, unsigned char *q);
/* d[0..n) = p[0..n) with every '+' as a space. */
void mc_plus_to_space(const unsigned char *p, size_t n, unsigned char *d);
/* A hash of the ASCII-lower-cased bytes, eight at a time: names compared case-insensitively
 * hash alike. Its low bits are mixed (the blooms use them). */
uint32_t mc_name_hash(const unsigned char *p, size_t n);
int mc_strncasecmp(const unsigned char *a, const unsigned char *b, size_t n);
/* The next cookie at *p in "a=1; b=2" (name and value; pieces without '=' skipped); 0 at the end. */
int mc_next_cookie(const unsigned char **p, const unsigned char *end, mc_str *name, mc_str *value);
size_t mc_cookie_values(mc_str cookies, mc_str name, mc_str *out, size_t max);
size_t mc_split_args(mc_str query, mc_str *names, mc_str *values, size_t max);

/* A body's form, parsed once per request for the cap of the rules that read it. */
typedef struct {
    mc_str *names, *values, *files;
    unsigned char *is_file;  /* per field: a multipart file (its content is not a body_args value) */
    size_t n, nfiles, cap_files;
    int encoded;  /* urlencoded: names and values are %-encoded */
    mc_str *keys;      /* each field's name as rules compare it: decoded when encoded */
    uint32_t *hashes;  /* mc_name_hash of each key */
    uint64_t bloom[4]; /* of the hashes: which names the form certainly lacks */
    mc_str *members;   /* JSON: every member name (body_arg_names); NULL for other forms */
    size_t nmembers;
} mc_form;

int mc_parse_form(const mc_request *rq, size_t cap, const mc_alloc *a, mc_form *f);
/* Whether a Content-Type is JSON's (application/json, or a type ending in +json). */
int mc_is_json_type(mc_str content_type);
/* A JSON body's fields (json.c): each scalar named after the member holding it; the member names. */
int mc_parse_json(mc_str body, const mc_alloc *a, mc_form *f);
/* The body with its JSON strings decoded, when it has a backslash: 1 (out set), 0 (none needed),
 * -1 out of memory. Each decoded string and member name of mc_parse_json is a piece of it. */
int mc_json_decoded_body(mc_str body, const mc_alloc *a, mc_str *out);
/* Fills keys, hashes and bloom once (the fields' names are compared by every named rule). */
int mc_form_index(mc_form *f, const mc_alloc *a);
/* Whether field i is called name (hash its mc_name_hash), ASCII case folded. */
int mc_form_name_is(const mc_form *f, size_t i, const unsigned char *name, size_t len, uint32_t hash);
int mc_form_may_have(const mc_form *f, uint32_t hash);

/* The subject equal to s (its name copied when new); -1 past MC_MAX_SUBJECTS or out of memory. */
long mc_subject_index(mc_ruleset *rs, const mc_subject *s);
/* For tests and the fuzzer: when on, every rule runs its conditions on every request (the verdict
 * the prefilter must never change, a regex failure aside). */
void mc_ruleset_all_candidates(mc_ruleset *rs, int on);
/* Adds literal text (owned from then on) of rule, found in a value of subject. */
int mc_add_literal(mc_ruleset *rs, size_t subject, size_t rule, unsigned char *text, size_t len);
/* Adds NAME of subject (arg:NAME, body_arg:NAME) as a literal of rule among the decoded argument
 * names: 1 added; 0 NAME cannot serve (shorter than 3 bytes, or with '%' or '+'); -1 no memory. */
int mc_add_name_literal(mc_ruleset *rs, size_t subject, size_t rule);
/* Files each literal under the subject whose values the prefilter scans for it (sources.c). */
int mc_merge_scan_sources(mc_ruleset *rs);
/* Splits the gram tables into plain and named ones (after every mc_build_grams). */
int mc_index_grams(mc_ruleset *rs);
/* The named tables of class cls whose name hashes to hash: *count of them from the returned index. */
size_t mc_named_grams(const mc_ruleset *rs, uint32_t cls, uint32_t hash, size_t *count);
int mc_build_grams(mc_ruleset *rs, size_t subject);
/* Marks in seen the rules of every literal of g occurring in one of the values (folded; scanned
 * as one buffer, so a literal across two values may mark its rule too); -1 when memory ran out. */
int mc_scan(const mc_ruleset *rs, const mc_grams *g, const mc_str *values, size_t nvalues, uint64_t *seen, const mc_alloc *a);

#ifdef __cplusplus
}
#endif

#endif
