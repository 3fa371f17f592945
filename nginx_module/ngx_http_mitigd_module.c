/*
 * ngx_http_mitigd_module: mitigd's request rules evaluated natively, with a literal prefilter.
 *
 * The configuration path (one `if` per condition) costs every request a regex per rule: about
 * 200 ns each, so 100 rules cut nginx's throughput to a third. Here mitigd's compiler also gives,
 * for one condition of each rule, literals of which at least one must occur in the subject for the
 * pattern to match (docs/rules.md, "prefilter"). One pass over each subject finds the rules
 * whose literal occurs (mitigd_grams_t); only those rules run their regexes. A benign request usually runs
 * none. Verdicts are the configuration path's: the same subjects, the same decoding, nginx's own
 * PCRE2 with the same options, conditions ANDed, the first matching rule in file order answers.
 *
 *   mitigd_rule ID STATUS [scope REGEX] when INPUT raw|decoded OP PATTERN [literals HEX,HEX...] ...;
 *
 * INPUT: request_uri, path, query, method, cookie, header:NAME, cookie:NAME; OP: ~ ~* !~ !~*;
 * REGEX (scope) is matched case-insensitively against $uri. STATUS 444 closes the connection.
 * $mitigd_blocked_by holds the ID of the rule that answered (for access logs).
 * $mitigd_request_uri_decoded and $mitigd_args_decoded are the configuration path's decoded
 * inputs, so that files of both engines validate together while the inventory switches engines.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#define MITIGD_MAX_SUBJECTS 64
#define MITIGD_MAX_RULES 8192

typedef enum {
    MITIGD_IN_REQUEST_URI, MITIGD_IN_PATH, MITIGD_IN_QUERY, MITIGD_IN_METHOD,
    MITIGD_IN_COOKIE, MITIGD_IN_HEADER, MITIGD_IN_COOKIE_NAMED
} mitigd_input_kind_e;

/* One value a condition reads; conditions on the same input share it, computed once a request. */
typedef struct {
    mitigd_input_kind_e  kind;
    ngx_str_t            name;     /* header or cookie name */
    ngx_flag_t           decoded;
} mitigd_subject_t;

typedef struct {
    ngx_uint_t    subject;
    ngx_regex_t  *regex;
    ngx_flag_t    negate;
} mitigd_condition_t;

typedef struct {
    ngx_str_t     id;
    ngx_int_t     status;
    ngx_regex_t  *scope;          /* NULL: server-wide */
    ngx_array_t   conditions;     /* mitigd_condition_t */
    ngx_flag_t    gated;          /* runs only when a literal of its gate was seen */
} mitigd_rule_t;

/* The literals gating rules on one subject, found through their first three bytes: every position
 * of the subject hashes its next three (folded) bytes and tests one bit of an 8 KB bitmap. Each
 * literal is filed under its three bytes that the fewest other literals contain, so that the 25
 * literals "x-backend-N=" do not all answer to "x-b". No state
 * goes from one position to the next (an Aho-Corasick automaton waits for each load before the
 * next), so the CPU overlaps positions. A set bit, rare for a benign request, is confirmed by
 * comparing the literals filed under that hash. */
typedef struct {
    uint32_t   hash;
    uint32_t   rule;
    ngx_str_t  text;              /* lower case, 3 bytes or more */
    size_t     offset;            /* of the three bytes hashed: those fewest other literals share */
} mitigd_gram_entry_t;

typedef struct {
    ngx_uint_t            subject;
    uint64_t              bits[1024];   /* 65536 bits, one per hash */
    mitigd_gram_entry_t  *entries;      /* sorted by hash */
    ngx_uint_t            nentries;
} mitigd_grams_t;

typedef struct {
    ngx_array_t  *rules;          /* mitigd_rule_t */
    ngx_array_t  *subjects;       /* mitigd_subject_t */
    ngx_array_t  *literals;       /* build input: mitigd_literal_t */
    ngx_array_t  *grams;          /* mitigd_grams_t, one per subject with literals */
    uint64_t     *always;         /* bit set: rules without literals, evaluated for every request */
} mitigd_srv_conf_t;

typedef struct {
    ngx_uint_t  subject;
    ngx_uint_t  rule;
    ngx_str_t   text;             /* lower case */
} mitigd_literal_t;

typedef struct {
    ngx_str_t  blocked_by;
} mitigd_ctx_t;

static void *mitigd_create_srv_conf(ngx_conf_t *cf);
static char *mitigd_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child);
static char *mitigd_rule_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t mitigd_preconfiguration(ngx_conf_t *cf);
static ngx_int_t mitigd_postconfiguration(ngx_conf_t *cf);

static ngx_command_t mitigd_commands[] = {
    { ngx_string("mitigd_rule"), NGX_HTTP_SRV_CONF | NGX_CONF_2MORE, mitigd_rule_directive,
      NGX_HTTP_SRV_CONF_OFFSET, 0, NULL },
    ngx_null_command
};

static ngx_http_module_t mitigd_module_ctx = {
    mitigd_preconfiguration, mitigd_postconfiguration,
    NULL, NULL,
    mitigd_create_srv_conf, mitigd_merge_srv_conf,
    NULL, NULL
};

ngx_module_t ngx_http_mitigd_module = {
    NGX_MODULE_V1, &mitigd_module_ctx, mitigd_commands, NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NGX_MODULE_V1_PADDING
};

static void *
mitigd_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(mitigd_srv_conf_t));
}

/* ---- configuration ---------------------------------------------------------------------- */

static ngx_int_t
mitigd_subject_index(ngx_conf_t *cf, mitigd_srv_conf_t *scf, mitigd_input_kind_e kind, ngx_str_t *name,
    ngx_flag_t decoded)
{
    mitigd_subject_t  *s = scf->subjects->elts;
    ngx_uint_t         i;

    for (i = 0; i < scf->subjects->nelts; i++) {
        if (s[i].kind == kind && s[i].decoded == decoded && s[i].name.len == name->len
            && ngx_strncasecmp(s[i].name.data, name->data, name->len) == 0)
        {
            return (ngx_int_t) i;
        }
    }
    if (scf->subjects->nelts >= MITIGD_MAX_SUBJECTS) {
        return NGX_ERROR;
    }
    s = ngx_array_push(scf->subjects);
    if (s == NULL) {
        return NGX_ERROR;
    }
    s->kind = kind;
    s->name = *name;
    s->decoded = decoded;
    return (ngx_int_t) i;
}

static ngx_regex_t *
mitigd_compile(ngx_conf_t *cf, ngx_str_t *pattern, ngx_flag_t caseless)
{
    ngx_regex_compile_t  rc;
    u_char               errstr[NGX_MAX_CONF_ERRSTR];

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));
    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.options = caseless ? NGX_REGEX_CASELESS : 0;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;
    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule: %V", &rc.err);
        return NULL;
    }
    return rc.regex;
}

static ngx_int_t
mitigd_hex_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = (u_char) (c | 0x20);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* "6162,6364": comma-separated hex literals, lower-cased here whatever the writer did. */
static ngx_int_t
mitigd_parse_literals(ngx_conf_t *cf, mitigd_srv_conf_t *scf, ngx_str_t *text, ngx_uint_t subject,
    ngx_uint_t rule)
{
    u_char            *p = text->data, *end = text->data + text->len, *comma;
    mitigd_literal_t  *lit;
    size_t             i, n;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }
        n = (size_t) (comma - p);
        if (n < 6 || n % 2 != 0) {  /* 3 bytes at least: the filter hashes the first three */
            return NGX_ERROR;
        }
        lit = ngx_array_push(scf->literals);
        if (lit == NULL) {
            return NGX_ERROR;
        }
        lit->subject = subject;
        lit->rule = rule;
        lit->text.len = n / 2;
        lit->text.data = ngx_pnalloc(cf->pool, n / 2);
        if (lit->text.data == NULL) {
            return NGX_ERROR;
        }
        for (i = 0; i < n / 2; i++) {
            ngx_int_t hi = mitigd_hex_value(p[2 * i]), lo = mitigd_hex_value(p[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                return NGX_ERROR;
            }
            lit->text.data[i] = ngx_tolower((u_char) (hi * 16 + lo));
        }
        p = comma + 1;
    }
    return NGX_OK;
}

static char *
mitigd_rule_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    mitigd_srv_conf_t   *scf = conf;
    ngx_str_t           *args = cf->args->elts;
    ngx_uint_t           n = cf->args->nelts, i, gates = 0;
    mitigd_rule_t       *rule;
    mitigd_condition_t  *cond;
    ngx_str_t            name, empty = ngx_null_string;
    mitigd_input_kind_e  kind;
    ngx_int_t            subject;

    if (scf->rules == NULL) {
        scf->rules = ngx_array_create(cf->pool, 16, sizeof(mitigd_rule_t));
        scf->subjects = ngx_array_create(cf->pool, 8, sizeof(mitigd_subject_t));
        scf->literals = ngx_array_create(cf->pool, 64, sizeof(mitigd_literal_t));
        if (scf->rules == NULL || scf->subjects == NULL || scf->literals == NULL) {
            return NGX_CONF_ERROR;
        }
    }
    if (scf->rules->nelts >= MITIGD_MAX_RULES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule: more than %d rules in one server",
                           MITIGD_MAX_RULES);
        return NGX_CONF_ERROR;
    }
    rule = ngx_array_push(scf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }
    ngx_memzero(rule, sizeof(mitigd_rule_t));
    rule->id = args[1];
    rule->status = ngx_atoi(args[2].data, args[2].len);
    if (rule->status < 200 || rule->status > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: status \"%V\" is not 200-599", &args[1], &args[2]);
        return NGX_CONF_ERROR;
    }
    if (ngx_array_init(&rule->conditions, cf->pool, 2, sizeof(mitigd_condition_t)) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 3; i < n; ) {
        if (ngx_strcmp(args[i].data, "scope") == 0 && i + 1 < n && rule->scope == NULL) {
            rule->scope = mitigd_compile(cf, &args[i + 1], 1);
            if (rule->scope == NULL) {
                return NGX_CONF_ERROR;
            }
            i += 2;

        } else if (ngx_strcmp(args[i].data, "when") == 0 && i + 4 < n) {
            ngx_str_t *in = &args[i + 1], *codec = &args[i + 2], *op = &args[i + 3];
            name = empty;
            if (ngx_strcmp(in->data, "request_uri") == 0) {
                kind = MITIGD_IN_REQUEST_URI;
            } else if (ngx_strcmp(in->data, "path") == 0) {
                kind = MITIGD_IN_PATH;
            } else if (ngx_strcmp(in->data, "query") == 0) {
                kind = MITIGD_IN_QUERY;
            } else if (ngx_strcmp(in->data, "method") == 0) {
                kind = MITIGD_IN_METHOD;
            } else if (ngx_strcmp(in->data, "cookie") == 0) {
                kind = MITIGD_IN_COOKIE;
            } else if (in->len > 7 && ngx_strncmp(in->data, "header:", 7) == 0) {
                kind = MITIGD_IN_HEADER;
                name.data = in->data + 7;
                name.len = in->len - 7;
            } else if (in->len > 7 && ngx_strncmp(in->data, "cookie:", 7) == 0) {
                kind = MITIGD_IN_COOKIE_NAMED;
                name.data = in->data + 7;
                name.len = in->len - 7;
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: unknown input \"%V\"", &args[1], in);
                return NGX_CONF_ERROR;
            }
            if (ngx_strcmp(codec->data, "raw") != 0 && ngx_strcmp(codec->data, "decoded") != 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: expected raw or decoded, not \"%V\"",
                                   &args[1], codec);
                return NGX_CONF_ERROR;
            }
            if (ngx_strcmp(op->data, "~") != 0 && ngx_strcmp(op->data, "~*") != 0 && ngx_strcmp(op->data, "!~") != 0
                && ngx_strcmp(op->data, "!~*") != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: unknown operator \"%V\"", &args[1], op);
                return NGX_CONF_ERROR;
            }
            subject = mitigd_subject_index(cf, scf, kind, &name, codec->data[0] == 'd');
            if (subject == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: more than %d distinct inputs in one server",
                                   &args[1], MITIGD_MAX_SUBJECTS);
                return NGX_CONF_ERROR;
            }
            cond = ngx_array_push(&rule->conditions);
            if (cond == NULL) {
                return NGX_CONF_ERROR;
            }
            cond->subject = (ngx_uint_t) subject;
            cond->negate = op->data[0] == '!';
            cond->regex = mitigd_compile(cf, &args[i + 4], op->data[op->len - 1] == '*');
            if (cond->regex == NULL) {
                return NGX_CONF_ERROR;
            }
            i += 5;
            if (i + 1 < n && ngx_strcmp(args[i].data, "literals") == 0) {
                /* A negated condition holds when its pattern does not match: nothing is required. */
                if (cond->negate || ++gates > 1
                    || mitigd_parse_literals(cf, scf, &args[i + 1], cond->subject, scf->rules->nelts - 1) != NGX_OK)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "mitigd_rule %V: \"literals\" needs comma-separated hex of 3 bytes "
                                       "or more, once, on a condition that is not negated", &args[1]);
                    return NGX_CONF_ERROR;
                }
                rule->gated = 1;
                i += 2;
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mitigd_rule %V: expected \"scope REGEX\" or \"when INPUT raw|decoded OP PATTERN\" at \"%V\"",
                               &args[1], &args[i]);
            return NGX_CONF_ERROR;
        }
    }
    if (rule->conditions.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: no condition", &args[1]);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

/* ---- the literal prefilter -------------------------------------------------------------- */

static uint32_t
mitigd_gram_hash(uint32_t three_bytes)
{
    return (three_bytes * 2654435761u) >> 16;
}

static int
mitigd_gram_cmp(const void *a, const void *b)
{
    const mitigd_gram_entry_t *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* One 3-byte window of one literal, for counting how many literals share each window. */
typedef struct {
    uint32_t  gram;
    uint32_t  literal;
} mitigd_window_t;

static int
mitigd_window_cmp(const void *a, const void *b)
{
    const mitigd_window_t *x = a, *y = b;
    if (x->gram != y->gram) {
        return x->gram < y->gram ? -1 : 1;
    }
    return x->literal < y->literal ? -1 : x->literal > y->literal;
}

/* How many other literals contain `gram`: a binary search in the sorted, counted windows. */
static ngx_uint_t
mitigd_shared(mitigd_window_t *uniq, ngx_uint_t nuniq, uint32_t gram)
{
    ngx_uint_t  lo = 0, hi = nuniq, mid;

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

/* Files each literal of `subject` under the 3-byte window the fewest other literals share. The
 * windows of all literals are sorted once and counted, so the choice costs O(W log W) for W
 * windows (it was a scan of every literal per window: quadratic, 22 s for 1,000 rules). */
static ngx_int_t
mitigd_build_grams(ngx_conf_t *cf, mitigd_srv_conf_t *scf, ngx_uint_t subject)
{
    mitigd_literal_t  *lit = scf->literals->elts;
    mitigd_grams_t    *g;
    mitigd_window_t   *win, *uniq;
    ngx_uint_t         i, n = 0, nwin = 0, nuniq = 0, shared, best_shared;
    size_t             k, best;
    u_char            *p;
    uint32_t           h, prev, cur;

    for (i = 0; i < scf->literals->nelts; i++) {
        if (lit[i].subject == subject) {
            n++;
            nwin += lit[i].text.len >= 3 ? lit[i].text.len - 2 : 0;
        }
    }
    if (n == 0) {
        return NGX_OK;
    }
    g = ngx_array_push(scf->grams);
    if (g == NULL) {
        return NGX_ERROR;
    }
    ngx_memzero(g, sizeof(mitigd_grams_t));
    g->subject = subject;
    g->entries = ngx_palloc(cf->pool, n * sizeof(mitigd_gram_entry_t));
    win = ngx_palloc(cf->temp_pool, (nwin + 1) * sizeof(mitigd_window_t));
    if (g->entries == NULL || win == NULL) {
        return NGX_ERROR;
    }
    nwin = 0;
    for (i = 0; i < scf->literals->nelts; i++) {
        if (lit[i].subject != subject) {
            continue;
        }
        for (k = 0; k + 3 <= lit[i].text.len; k++) {
            p = lit[i].text.data + k;
            win[nwin].gram = p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16;
            win[nwin].literal = (uint32_t) i;
            nwin++;
        }
    }
    ngx_qsort(win, nwin, sizeof(mitigd_window_t), mitigd_window_cmp);
    /* In place: one entry per distinct window, `literal` turned into its count of distinct literals. */
    uniq = win;
    prev = (uint32_t) -1;
    for (i = 0; i < nwin; i++) {
        cur = win[i].literal;  /* read before uniq[] (the same memory, at or behind i) is written */
        if (nuniq > 0 && uniq[nuniq - 1].gram == win[i].gram) {
            if (prev != cur) {
                uniq[nuniq - 1].literal++;
            }
        } else {
            uniq[nuniq].gram = win[i].gram;
            uniq[nuniq].literal = 1;
            nuniq++;
        }
        prev = cur;
    }
    for (i = 0; i < scf->literals->nelts; i++) {
        if (lit[i].subject != subject) {
            continue;
        }
        best = 0;
        best_shared = NGX_MAX_UINT32_VALUE;
        for (k = 0; k + 3 <= lit[i].text.len; k++) {
            p = lit[i].text.data + k;
            shared = mitigd_shared(uniq, nuniq, p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16);
            if (shared <= best_shared) {  /* ties: the later bytes, as a rule the more specific */
                best_shared = shared;
                best = k;
            }
        }
        p = lit[i].text.data + best;
        h = mitigd_gram_hash(p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16);
        g->bits[h / 64] |= (uint64_t) 1 << (h % 64);
        g->entries[g->nentries].hash = h;
        g->entries[g->nentries].rule = (uint32_t) lit[i].rule;
        g->entries[g->nentries].text = lit[i].text;
        g->entries[g->nentries].offset = best;
        g->nentries++;
    }
    ngx_qsort(g->entries, g->nentries, sizeof(mitigd_gram_entry_t), mitigd_gram_cmp);
    return NGX_OK;
}

/* The three bytes at q as a key: q[0] | q[1] << 8 | q[2] << 16. */
static ngx_inline uint32_t
mitigd_key3(const u_char *q)
{
#if (NGX_HAVE_LITTLE_ENDIAN && NGX_HAVE_NONALIGNED)
    uint32_t  k;

    memcpy(&k, q, 4);  /* the caller guarantees a readable fourth byte */
    return k & 0xffffff;
#else
    return q[0] | (uint32_t) q[1] << 8 | (uint32_t) q[2] << 16;
#endif
}

/* Marks in `seen` the rules of every literal occurring in the subject. The subject is first folded
 * into a buffer (a loop the compiler vectorises); then no state goes from one position to the
 * next, so the CPU overlaps them. */
static ngx_int_t
mitigd_scan(ngx_pool_t *pool, mitigd_grams_t *g, ngx_str_t *subject, uint64_t *seen)
{
    u_char                 stack[2048], *q, *p = subject->data, c;
    size_t                 len = subject->len, i;
    uint32_t               h;
    ngx_uint_t             lo, hi, mid;
    mitigd_gram_entry_t   *e;

    if (len < 3) {
        return NGX_OK;
    }
    q = len + 4 <= sizeof(stack) ? stack : ngx_pnalloc(pool, len + 4);
    if (q == NULL) {
        return NGX_ERROR;
    }
    i = 0;
#if (NGX_HAVE_NONALIGNED)
    /* Eight bytes at a time: 0x20 added to the bytes in 'A'..'Z' (bit 7 clear), none other. */
    for (; i + 8 <= len; i += 8) {
        uint64_t x, low7, upper;
        memcpy(&x, p + i, 8);
        low7 = x & 0x7f7f7f7f7f7f7f7fULL;
        upper = (low7 + 0x3f3f3f3f3f3f3f3fULL) & ~(low7 + 0x2525252525252525ULL) & ~x & 0x8080808080808080ULL;
        x |= upper >> 2;
        memcpy(q + i, &x, 8);
    }
#endif
    for (; i < len; i++) {
        c = p[i];
        q[i] = (u_char) (c + (((u_char) (c - 'A') < 26) << 5));
    }
    q[len] = 0;

    for (i = 0; i + 2 < len; i++) {
        h = mitigd_gram_hash(mitigd_key3(q + i));
        if (!(g->bits[h / 64] & ((uint64_t) 1 << (h % 64)))) {
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
            if (e->offset <= i && e->text.len <= len - (i - e->offset)
                && ngx_memcmp(q + i - e->offset, e->text.data, e->text.len) == 0)
            {
                seen[e->rule / 64] |= (uint64_t) 1 << (e->rule % 64);
            }
        }
    }
    return NGX_OK;
}

static char *
mitigd_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    mitigd_srv_conf_t  *conf = child;
    mitigd_rule_t      *rules;
    ngx_uint_t          s, i;

    if (conf->rules == NULL) {
        return NGX_CONF_OK;
    }
    conf->grams = ngx_array_create(cf->pool, 4, sizeof(mitigd_grams_t));
    conf->always = ngx_pcalloc(cf->pool, (conf->rules->nelts + 63) / 64 * sizeof(uint64_t));
    if (conf->grams == NULL || conf->always == NULL) {
        return NGX_CONF_ERROR;
    }
    for (s = 0; s < conf->subjects->nelts; s++) {
        if (mitigd_build_grams(cf, conf, s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }
    rules = conf->rules->elts;
    for (i = 0; i < conf->rules->nelts; i++) {
        if (!rules[i].gated) {
            conf->always[i / 64] |= (uint64_t) 1 << (i % 64);
        }
    }
    return NGX_CONF_OK;
}

/* ---- per request ------------------------------------------------------------------------ */

/* Decodes %XX once and '+' to a space: set-misc's set_unescape_uri, which the configuration path
 * uses, and mitigd's offline evaluator (policies/request_semantics.cpp). */
static ngx_int_t
mitigd_unescape(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char      *d, *p = in->data, *end = in->data + in->len;
    ngx_int_t    v, high = 0;
    enum { usual, quoted, quoted_second } state = usual;

    if (memchr(p, '%', in->len) == NULL && memchr(p, '+', in->len) == NULL) {
        *out = *in;  /* nothing to decode: no copy */
        return NGX_OK;
    }
    d = out->data = ngx_pnalloc(pool, in->len ? in->len : 1);
    if (d == NULL) {
        return NGX_ERROR;
    }
    for (; p < end; p++) {
        switch (state) {
        case usual:
            if (*p == '%') {
                state = quoted;
            } else {
                *d++ = *p == '+' ? ' ' : *p;
            }
            break;
        case quoted:
            v = mitigd_hex_value(*p);
            if (v >= 0) {
                high = v;
                state = quoted_second;
            } else {
                *d++ = *p;
                state = usual;
            }
            break;
        case quoted_second:
            v = mitigd_hex_value(*p);
            if (v >= 0) {
                *d++ = (u_char) (high * 16 + v);
            }
            state = usual;
            break;
        }
    }
    out->len = (size_t) (d - out->data);
    return NGX_OK;
}

/* The next request header named `name` after the cursor (NULL part: from the start), or NULL. */
static ngx_table_elt_t *
mitigd_next_header(ngx_http_request_t *r, ngx_list_part_t **part, ngx_uint_t *i, ngx_str_t *name)
{
    ngx_table_elt_t  *h;

    if (*part == NULL) {
        *part = &r->headers_in.headers.part;
        *i = 0;
    } else {
        (*i)++;
    }
    for (;; (*i)++) {
        if (*i >= (*part)->nelts) {
            if ((*part)->next == NULL) {
                return NULL;
            }
            *part = (*part)->next;
            *i = 0;
            if ((*part)->nelts == 0) {
                continue;
            }
        }
        h = (ngx_table_elt_t *) (*part)->elts + *i;
        if (h->key.len == name->len && ngx_strncasecmp(h->key.data, name->data, name->len) == 0) {
            return h;
        }
    }
}

/* All Cookie headers joined with "; ", as $http_cookie in nginx 1.22. */
static ngx_int_t
mitigd_cookies(ngx_http_request_t *r, ngx_str_t *out)
{
    static ngx_str_t   cookie = ngx_string("cookie");
    ngx_list_part_t   *part = NULL;
    ngx_table_elt_t   *h, *first = NULL;
    ngx_uint_t         i, count = 0;
    size_t             len = 0;
    u_char            *p;

    while ((h = mitigd_next_header(r, &part, &i, &cookie)) != NULL) {
        len += (count ? 2 : 0) + h->value.len;
        first = count ? first : h;
        count++;
    }
    if (count <= 1) {
        *out = count ? first->value : (ngx_str_t) ngx_string("");  /* the usual case: no copy */
        return NGX_OK;
    }
    p = out->data = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }
    part = NULL;
    while ((h = mitigd_next_header(r, &part, &i, &cookie)) != NULL) {
        if (p != out->data) {
            *p++ = ';';
            *p++ = ' ';
        }
        p = ngx_cpymem(p, h->value.data, h->value.len);
    }
    out->len = (size_t) (p - out->data);
    return NGX_OK;
}

/* The first header of that name, as $http_NAME in nginx 1.22. */
static void
mitigd_header(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *out)
{
    ngx_list_part_t  *part = NULL;
    ngx_uint_t        i;
    ngx_table_elt_t  *h = mitigd_next_header(r, &part, &i, name);

    if (h != NULL) {
        *out = h->value;
    } else {
        out->len = 0;
        out->data = (u_char *) "";
    }
}

/* The first cookie of that name (case-insensitive), its value up to ';'. */
static void
mitigd_cookie_named(ngx_str_t *cookies, ngx_str_t *name, ngx_str_t *out)
{
    u_char  *p = cookies->data, *end = cookies->data + cookies->len, *semi, *eq;

    while (p < end) {
        semi = ngx_strlchr(p, end, ';');
        if (semi == NULL) {
            semi = end;
        }
        while (p < semi && (*p == ' ' || *p == '\t')) {
            p++;
        }
        eq = ngx_strlchr(p, semi, '=');
        if (eq != NULL && (size_t) (eq - p) == name->len && ngx_strncasecmp(p, name->data, name->len) == 0) {
            out->data = eq + 1;
            out->len = (size_t) (semi - eq - 1);
            return;
        }
        p = semi + 1;
    }
    out->len = 0;
    out->data = (u_char *) "";
}

static ngx_int_t
mitigd_subject_value(ngx_http_request_t *r, mitigd_subject_t *s, ngx_str_t *out)
{
    ngx_str_t  raw, cookies;

    switch (s->kind) {
    case MITIGD_IN_REQUEST_URI: raw = r->unparsed_uri; break;
    case MITIGD_IN_PATH: raw = r->uri; break;
    case MITIGD_IN_QUERY: raw = r->args; break;
    case MITIGD_IN_METHOD: raw = r->main->method_name; break;
    case MITIGD_IN_HEADER: mitigd_header(r, &s->name, &raw); break;
    case MITIGD_IN_COOKIE:
        if (mitigd_cookies(r, &raw) != NGX_OK) {
            return NGX_ERROR;
        }
        break;
    case MITIGD_IN_COOKIE_NAMED:
        if (mitigd_cookies(r, &cookies) != NGX_OK) {
            return NGX_ERROR;
        }
        mitigd_cookie_named(&cookies, &s->name, &raw);
        break;
    default:
        return NGX_ERROR;
    }
    if (!s->decoded) {
        *out = raw;
        return NGX_OK;
    }
    return mitigd_unescape(r->pool, &raw, out);
}

/* 1: match; 0: no match; -1: a regex error (the match or depth limit every pattern carries). */
static ngx_int_t
mitigd_matches(ngx_http_request_t *r, ngx_regex_t *re, ngx_str_t *subject)
{
    ngx_int_t rc = ngx_regex_exec(re, subject, NULL, 0);
    if (rc == NGX_REGEX_NO_MATCHED) {
        return 0;
    }
    if (rc < 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "mitigd: %s failed: %i, the rule matches (fail closed)",
                      ngx_regex_exec_n, rc);
        return -1;
    }
    return 1;
}

/* 1: the rule's scope and every condition hold; 0: not; NGX_ERROR: an input could not be read. */
static ngx_int_t
mitigd_rule_holds(ngx_http_request_t *r, mitigd_rule_t *rule, mitigd_subject_t *subjects, ngx_str_t *value,
    u_char *have)
{
    mitigd_condition_t  *cond = rule->conditions.elts;
    ngx_uint_t           j;
    ngx_int_t            m;

    /* An engine error makes the whole rule match, whatever `negate` says, and ends its evaluation:
     * fail closed (and no further expensive condition runs), as the offline tester does. */
    if (rule->scope != NULL) {
        m = mitigd_matches(r, rule->scope, &r->uri);
        if (m == 0) {
            return 0;
        }
        if (m < 0) {
            return 1;
        }
    }
    for (j = 0; j < rule->conditions.nelts; j++) {
        if (!have[cond[j].subject]) {
            if (mitigd_subject_value(r, &subjects[cond[j].subject], &value[cond[j].subject]) != NGX_OK) {
                return NGX_ERROR;
            }
            have[cond[j].subject] = 1;
        }
        m = mitigd_matches(r, cond[j].regex, &value[cond[j].subject]);
        if (m < 0) {
            return 1;
        }
        if ((m == 1) == (cond[j].negate != 0)) {
            return 0;
        }
    }
    return 1;
}

static ngx_int_t
mitigd_handler(ngx_http_request_t *r)
{
    mitigd_srv_conf_t   *scf = ngx_http_get_module_srv_conf(r, ngx_http_mitigd_module);
    mitigd_rule_t       *rules;
    mitigd_grams_t      *g;
    mitigd_subject_t    *subjects;
    mitigd_ctx_t        *ctx;
    ngx_str_t            value[MITIGD_MAX_SUBJECTS];
    u_char               have[MITIGD_MAX_SUBJECTS];
    uint64_t             seen[MITIGD_MAX_RULES / 64];
    ngx_uint_t           i, w;
    uint64_t             candidates;
    ngx_int_t            rc;

    if (scf->rules == NULL || scf->rules->nelts == 0) {
        return NGX_DECLINED;
    }
    rules = scf->rules->elts;
    subjects = scf->subjects->elts;
    ngx_memzero(have, scf->subjects->nelts);
    ngx_memzero(seen, ((scf->rules->nelts + 63) / 64) * sizeof(uint64_t));

    g = scf->grams->elts;
    for (i = 0; i < scf->grams->nelts; i++) {
        if (!have[g[i].subject]) {
            if (mitigd_subject_value(r, &subjects[g[i].subject], &value[g[i].subject]) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            have[g[i].subject] = 1;
        }
        if (mitigd_scan(r->pool, &g[i], &value[g[i].subject], seen) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* In file order: the candidates (a literal was seen) and the rules without literals. */
    for (w = 0; w < (scf->rules->nelts + 63) / 64; w++) {
        candidates = seen[w] | scf->always[w];
        while (candidates) {
            i = w * 64 + (ngx_uint_t) __builtin_ctzll(candidates);
            candidates &= candidates - 1;
            rc = mitigd_rule_holds(r, &rules[i], subjects, value, have);
            if (rc == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            if (rc == 1) {
                ctx = ngx_pcalloc(r->pool, sizeof(mitigd_ctx_t));
                if (ctx != NULL) {
                    ctx->blocked_by = rules[i].id;
                    ngx_http_set_ctx(r, ctx, ngx_http_mitigd_module);
                }
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "mitigd: rule %V answered %i", &rules[i].id,
                              rules[i].status);
                return rules[i].status;
            }
        }
    }
    return NGX_DECLINED;
}

static ngx_int_t
mitigd_blocked_by_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    mitigd_ctx_t *ctx = ngx_http_get_module_ctx(r->main, ngx_http_mitigd_module);

    if (ctx == NULL) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);
    }
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->len = ctx->blocked_by.len;
    v->data = ctx->blocked_by.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

/* data: 0 the request URI, 1 the query. Changeable, so set-misc's set_unescape_uri may set them. */
static ngx_int_t
mitigd_decoded_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  out;

    if (mitigd_unescape(r->pool, data == 0 ? &r->unparsed_uri : &r->args, &out) != NGX_OK) {
        return NGX_ERROR;
    }
    v->len = out.len;
    v->data = out.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

static ngx_int_t
mitigd_preconfiguration(ngx_conf_t *cf)
{
    static ngx_str_t      decoded[] = { ngx_string("mitigd_request_uri_decoded"), ngx_string("mitigd_args_decoded") };
    ngx_str_t             name = ngx_string("mitigd_blocked_by");
    ngx_http_variable_t  *var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    ngx_uint_t            i;

    if (var == NULL) {
        return NGX_ERROR;
    }
    var->get_handler = mitigd_blocked_by_variable;
    for (i = 0; i < 2; i++) {
        var = ngx_http_add_variable(cf, &decoded[i], NGX_HTTP_VAR_CHANGEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = mitigd_decoded_variable;
        var->data = i;
    }
    return NGX_OK;
}

/* The rules run first in the server rewrite phase: before the location is chosen and before any
 * server-level rewrite, so no operator redirect can carry an exploit request past them. */
static ngx_int_t
mitigd_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t  *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt        *h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);

    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = mitigd_handler;
    return NGX_OK;
}
