/* The rule core's per-evaluation state, shared by eval.c (prefilter, conditions, rules) and
 * values.c (each input's values, computed once per evaluation). Internal. */
#ifndef MITIGD_EVAL_STATE_H
#define MITIGD_EVAL_STATE_H

#include "core_internal.h"

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
    int json;  /* whether the body is JSON (mc_is_json_type); -1 until asked */
} eval_state;

extern const unsigned char mc_empty[4];

/* Loads the values of subject once (its input, then its transforms): 0, or -1 out of memory. */
int mc_load_values(eval_state *st, size_t subject);
/* Every Cookie header joined with "; " (computed once). */
int mc_joined_cookies(eval_state *st, mc_str *out);
/* The query's arguments split and indexed once (st->query). */
int mc_split_query(eval_state *st);

#endif
