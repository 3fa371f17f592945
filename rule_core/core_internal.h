/* Internal to the rule core: the compiled rule set, shared by its files. */
#ifndef MITIGD_CORE_INTERNAL_H
#define MITIGD_CORE_INTERNAL_H

#include "mitigd_core.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

typedef enum {
    MC_IN_REQUEST_URI, MC_IN_PATH, MC_IN_QUERY, MC_IN_METHOD, MC_IN_COOKIE, MC_IN_HEADER,
    MC_IN_COOKIE_NAMED, MC_IN_ARG, MC_IN_ARGS, MC_IN_ARG_NAMES, MC_IN_HEADERS, MC_IN_HEADER_NAMES,
    MC_IN_PATH_RAW_DECODED
} mc_input;

typedef enum { MC_T_DECODE = 1, MC_T_LOWER, MC_T_BASE64 } mc_transform;
#define MC_MAX_TRANSFORMS 4

typedef enum { MC_OP_REGEX, MC_OP_EQ, MC_OP_CONTAINS, MC_OP_PREFIX, MC_OP_SUFFIX, MC_OP_LEN } mc_op;

/* One list of values a condition reads; conditions on the same input and transforms share it. */
typedef struct {
    mc_input kind;
    unsigned char *name;  /* header, cookie or argument name (owned) */
    size_t name_len;
    unsigned char transforms[MC_MAX_TRANSFORMS];  /* 0-terminated */
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
} mc_rule;

typedef struct {
    size_t subject;
    size_t rule;
    unsigned char *text;  /* lower case, 3 bytes or more (owned) */
    size_t len;
} mc_literal;

typedef struct {
    uint32_t hash;
    uint32_t rule;
    const unsigned char *text;
    size_t len;
    size_t offset;  /* of the three bytes hashed */
} mc_gram_entry;

typedef struct {
    size_t subject;
    uint64_t bits[1024];  /* 65536 bits, one per hash */
    mc_gram_entry *entries;  /* sorted by hash */
    size_t nentries;
} mc_grams;

struct mc_ruleset {
    mc_rule *rules;
    size_t nrules, cap_rules;
    mc_subject subjects[MC_MAX_SUBJECTS];
    size_t nsubjects;
    mc_literal *literals;
    size_t nliterals, cap_literals;
    mc_grams *grams;  /* one per subject with literals */
    size_t ngrams;
    uint64_t *always;  /* rules without literals */
    pcre2_match_data *md;
    int finished;
};

int mc_hex_value(unsigned char c);
int mc_strncasecmp(const unsigned char *a, const unsigned char *b, size_t n);
size_t mc_cookie_values(mc_str cookies, mc_str name, mc_str *out, size_t max);
size_t mc_split_args(mc_str query, mc_str *names, mc_str *values, size_t max);

int mc_build_grams(mc_ruleset *rs, size_t subject);
/* Marks in seen the rules of every literal of g occurring in s (folded); -1 when memory ran out. */
int mc_scan(const mc_grams *g, mc_str s, uint64_t *seen, const mc_alloc *a);

#endif
