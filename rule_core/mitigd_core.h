/*
 * mitigd's rule core: the request-side semantics of mitigd's rules in one small C library with no
 * nginx types. The nginx module is a thin adapter around it (directives in, request view in,
 * verdict out); `mitigctl rules test` links the same code, so offline verdicts are the module's.
 *
 * A rule is given as the words of its directive (docs/rules.md, "the module's directive"):
 *
 *   ID STATUS [scope REGEX] [mode detect] [body CAP pass|block]
 *      when INPUT CODEC OP ARG [literals HEX,HEX...] [when ...]...
 *
 *   INPUT   request_uri path query method cookie header:NAME cookie:NAME
 *           arg:NAME args arg_names headers header_names path_raw_decoded
 *           body body_arg:NAME body_args body_arg_names files
 *   body    the first CAP bytes of the body are inspected (default 65536, at most 1048576); a longer
 *           body passes the rule's body conditions on those bytes (pass) or makes it answer (block)
 *   mode    detect: the rule answers nothing; the verdict lists it among the detected rules
 *   CODEC   raw | a comma list of transforms applied in order: decoded, lowercase, base64
 *   OP      ~ ~* (regex; * caseless), eq contains prefix suffix (ARG in hex; * caseless), len (ARG
 *           MIN-MAX, on the byte length); a leading ! negates
 *
 * An input may have several values (every occurrence of a header, every query argument). A
 * condition holds when one value satisfies it; a negated one when none does. header:NAME and
 * cookie:NAME that occur nowhere are one empty value (as nginx's $http_NAME). Conditions are
 * ANDed; the first rule in order whose scope and conditions hold answers. A regex engine error
 * (the match limit every pattern carries) makes the rule answer, whatever negation says: fail closed.
 */
#ifndef MITIGD_CORE_H
#define MITIGD_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MC_MAX_SUBJECTS 65536
#define MC_MAX_RULES 8192

typedef struct {
    const unsigned char *data;
    size_t len;
} mc_str;

typedef struct {
    mc_str name;
    mc_str value;
} mc_header;

/* What the web server saw, filled by the adapter. Strings need not be NUL-terminated. */
typedef struct {
    mc_str method;
    mc_str request_uri; /* path and query as sent */
    mc_str path;        /* decoded and normalised by the server (nginx $uri) */
    mc_str query;       /* raw query string (nginx $args) */
    const mc_header *headers;
    size_t nheaders;
    /* The body. While body_read is 0, a rule that reads it and whose other conditions hold makes
     * the verdict need_body: the adapter reads the body and evaluates again with body_read 1. */
    int body_read;
    mc_str body;          /* its first bytes: at least mc_ruleset_body_cap() of them when it is longer */
    size_t body_length;   /* its whole length */
    mc_str content_type;  /* the Content-Type the back end sees (empty when none) */
    /* NULL, or with body_read 1: the resume of the need_body verdict this rule set gave the same
     * request without the body. Nothing the first evaluation did outside the body is done again. */
    const void *resume;
} mc_request;

/* Per-request memory: the module passes its request pool, the tester an arena. Never freed
 * one by one. */
typedef struct {
    void *(*alloc)(void *ctx, size_t n);
    void *ctx;
} mc_alloc;

typedef struct mc_ruleset mc_ruleset;

mc_ruleset *mc_ruleset_new(void);
void mc_ruleset_free(mc_ruleset *rs);
/* Adds one rule from its directive words; 0, or -1 with a message in err naming the word. */
int mc_rule_add(mc_ruleset *rs, const mc_str *words, size_t nwords, char *err, size_t errlen);
/* Builds the prefilter once every rule is in: 0, or -1 with a message. */
int mc_ruleset_finish(mc_ruleset *rs, char *err, size_t errlen);
size_t mc_ruleset_rules(const mc_ruleset *rs);
/* Whether the rule at index i has a literal gate (else it runs for every request). */
int mc_rule_gated(const mc_ruleset *rs, size_t i);

typedef struct {
    long rule;          /* index of the rule that answered, or -1 */
    int status;         /* its status */
    mc_str id;          /* its id */
    int engine_error;   /* 1: it answered because a regex failed (fail closed) */
    unsigned regexes;   /* how many regexes ran (for cost reports) */
    int need_body;      /* 1: a rule needs the body to decide (body_read was 0); only resume is set */
    const size_t *detected;  /* rules in detect mode that held, in order (they answer nothing) */
    size_t ndetected;
    /* With need_body: resume_len bytes (in the evaluation's memory) that the adapter copies into
     * memory living as long as the request and passes as mc_request.resume with the body. */
    const void *resume;
    size_t resume_len;
} mc_verdict;

/* The bytes of the body the rules inspect at most (the largest cap; 0 when no rule reads the body). */
size_t mc_ruleset_body_cap(const mc_ruleset *rs);
/* Rule i's id and whether it runs in detect mode. */
mc_str mc_rule_id(const mc_ruleset *rs, size_t i);
int mc_rule_detect(const mc_ruleset *rs, size_t i);

/* Evaluates the rules on a request: 0 (verdict filled), or -1 when memory ran out. One request at a
 * time per rule set (its scratch state is reused): an nginx worker, or one thread of a tester. */
int mc_evaluate(const mc_ruleset *rs, const mc_request *rq, const mc_alloc *a, mc_verdict *out);

/* The decoder of `decoded`, set-misc's set_unescape_uri: %XX once, '+' to a space; a '%' not
 * followed by a hex digit is dropped (the byte after it kept), and "%X" followed by a byte that is
 * not a hex digit is dropped with that byte. out has room for len bytes and does not overlap in;
 * returns the length. */
size_t mc_unescape(const unsigned char *in, size_t len, unsigned char *out);
/* Base64 (standard or URL alphabet, padding optional, whitespace skipped), stopping at the first
 * byte outside the alphabet. out has room for len * 3 / 4 + 3 bytes; returns the decoded length. */
size_t mc_base64(const unsigned char *in, size_t len, unsigned char *out);

#ifdef __cplusplus
}
#endif

#endif
