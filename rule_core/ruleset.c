/* A rule set's lifetime and what callers read of it (ids, modes, gates, the body cap). */
#include "core_internal.h"

#include <stdlib.h>

mc_ruleset *mc_ruleset_new(void)
{
    mc_ruleset *rs = calloc(1, sizeof(mc_ruleset));
    if (rs == NULL) {
        return NULL;
    }
    rs->md = pcre2_match_data_create(1, NULL);
    if (rs->md == NULL) {
        free(rs);
        return NULL;
    }
    return rs;
}

void mc_ruleset_free(mc_ruleset *rs)
{
    size_t i, j;
    if (rs == NULL) {
        return;
    }
    for (i = 0; i < rs->nrules; i++) {
        mc_rule *r = &rs->rules[i];
        for (j = 0; j < r->nconds; j++) {
            pcre2_code_free(r->conds[j].regex);
            free(r->conds[j].lit);
        }
        pcre2_code_free(r->scope);
        free(r->conds);
        free(r->id);
    }
    for (i = 0; i < rs->nsubjects; i++) free(rs->subjects[i].name);
    free(rs->subjects);
    for (i = 0; i < rs->nliterals; i++) free(rs->literals[i].text);
    for (i = 0; i < rs->ngrams; i++) free(rs->grams[i].entries);
    free(rs->rules);
    free(rs->literals);
    free(rs->grams);
    free(rs->plain);
    free(rs->named);
    free(rs->slots);
    free(rs->always);
    free(rs->body_gated);
    free(rs->scratch);
    free(rs->oversize);
    pcre2_match_data_free(rs->md);
    free(rs);
}

size_t mc_ruleset_rules(const mc_ruleset *rs) { return rs->nrules; }

int mc_rule_gated(const mc_ruleset *rs, size_t i) { return i < rs->nrules && rs->rules[i].gated; }

size_t mc_ruleset_body_cap(const mc_ruleset *rs) { return rs->body_cap; }

mc_str mc_rule_id(const mc_ruleset *rs, size_t i)
{
    mc_str id = {(const unsigned char *) "", 0};
    if (i < rs->nrules) {
        id.data = rs->rules[i].id;
        id.len = rs->rules[i].id_len;
    }
    return id;
}

int mc_rule_detect(const mc_ruleset *rs, size_t i) { return i < rs->nrules && rs->rules[i].detect; }

void mc_ruleset_all_candidates(mc_ruleset *rs, int on) { rs->all_candidates = on; }
