/*
 * ngx_http_mitigd_module: mitigd's request rules evaluated natively, as a thin adapter around the
 * rule core (rule_core/: the same C code `mitigctl rules test` links, so offline verdicts are
 * nginx's). This file only turns directives into core rules, a request into the core's request
 * view, and the core's verdict into a response (the split headers-more uses: directives, handler,
 * core).
 *
 *   mitigd_rule ID STATUS [scope REGEX] [mode detect] [body CAP pass|block]
 *               when INPUT CODEC OP ARG [literals HEX,HEX...] ...;
 *
 * The grammar and semantics are the core's (rule_core/mitigd_core.h, docs/rules.md). STATUS 444
 * closes the connection. $mitigd_blocked_by holds the ID of the rule that answered and
 * $mitigd_detected_by the IDs of the rules in detect mode that matched (for access logs).
 *
 * Bodies: the body is read (nginx's own reader: chunked, Expect: 100-continue, temporary files)
 * only when a rule that reads it can still answer on its other conditions; the first CAP bytes are
 * handed to the core and the body goes on to the upstream unchanged.
 *
 * Counters: every match of every rule is counted in a shared-memory zone (per rule ID and mode,
 * kept across reloads); `mitigd_counters;` in a location serves them as "ID MODE COUNT" lines
 * (ngx_http_mitigd_counters.c).
 *
 * Variables ($mitigd_blocked_by, $mitigd_detected_by and the configuration path's decoded inputs):
 * ngx_http_mitigd_variables.c.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mitigd_core.h"
#include "ngx_http_mitigd_module.h"

#define MITIGD_MAX_WORDS 1024

static void *mitigd_create_main_conf(ngx_conf_t *cf);
static void *mitigd_create_loc_conf(ngx_conf_t *cf);
static void *mitigd_create_srv_conf(ngx_conf_t *cf);
static char *mitigd_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child);
static char *mitigd_rule_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t mitigd_postconfiguration(ngx_conf_t *cf);

static ngx_command_t mitigd_commands[] = {
    { ngx_string("mitigd_rule"), NGX_HTTP_SRV_CONF | NGX_CONF_2MORE, mitigd_rule_directive,
      NGX_HTTP_SRV_CONF_OFFSET, 0, NULL },
    { ngx_string("mitigd_counters"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, mitigd_counters_directive,
      NGX_HTTP_LOC_CONF_OFFSET, 0, NULL },
    ngx_null_command
};

static ngx_http_module_t mitigd_module_ctx = {
    mitigd_add_variables, mitigd_postconfiguration,
    mitigd_create_main_conf, NULL,
    mitigd_create_srv_conf, mitigd_merge_srv_conf,
    mitigd_create_loc_conf, NULL
};

ngx_module_t ngx_http_mitigd_module = {
    NGX_MODULE_V1, &mitigd_module_ctx, mitigd_commands, NGX_HTTP_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NGX_MODULE_V1_PADDING
};

/* ---- configuration ---------------------------------------------------------------------- */

static void *
mitigd_create_main_conf(ngx_conf_t *cf)
{
    mitigd_main_conf_t  *mcf = ngx_pcalloc(cf->pool, sizeof(mitigd_main_conf_t));

    if (mcf == NULL || ngx_array_init(&mcf->servers, cf->pool, 4, sizeof(mitigd_srv_conf_t *)) != NGX_OK) {
        return NULL;
    }
    return mcf;
}

static void *
mitigd_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(mitigd_srv_conf_t));
}

static void *
mitigd_create_loc_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(mitigd_loc_conf_t));
}

static void
mitigd_free_rules(void *data)
{
    mc_ruleset_free(data);
}

static char *
mitigd_rule_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    mitigd_srv_conf_t   *scf = conf;
    ngx_str_t           *args = cf->args->elts;
    ngx_uint_t           i, n = cf->args->nelts;
    ngx_pool_cleanup_t  *cln;
    mc_str              *words;
    char                 err[512];

    if (scf->rules == NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        scf->rules = mc_ruleset_new();
        if (cln == NULL || scf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
        cln->handler = mitigd_free_rules;  /* the rules live as long as this configuration */
        cln->data = scf->rules;
    }
    if (n - 1 > MITIGD_MAX_WORDS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: more than %d words", &args[1], MITIGD_MAX_WORDS);
        return NGX_CONF_ERROR;
    }
    words = ngx_palloc(cf->temp_pool, (n - 1) * sizeof(mc_str));
    if (words == NULL) {
        return NGX_CONF_ERROR;
    }
    for (i = 1; i < n; i++) {
        words[i - 1].data = args[i].data;
        words[i - 1].len = args[i].len;
    }
    if (mc_rule_add(scf->rules, words, n - 1, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule %V: %s", &args[1], err);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

static char *
mitigd_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    mitigd_srv_conf_t   *conf = child;
    mitigd_main_conf_t  *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mitigd_module);
    mitigd_srv_conf_t  **slot;
    char                 err[256];

    if (conf->rules == NULL) {
        return NGX_CONF_OK;
    }
    if (mc_ruleset_finish(conf->rules, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule: %s", err);
        return NGX_CONF_ERROR;
    }
    conf->counters = ngx_pcalloc(cf->pool, mc_ruleset_rules(conf->rules) * sizeof(ngx_atomic_t *));
    slot = ngx_array_push(&mcf->servers);
    if (conf->counters == NULL || slot == NULL) {
        return NGX_CONF_ERROR;
    }
    *slot = conf;
    return NGX_CONF_OK;
}

/* ---- per request ------------------------------------------------------------------------ */

/* The core's memory for one evaluation: a worker-wide arena reset before each one (an evaluation
 * runs start to end without yielding, and nothing it allocates is used after the verdict is
 * recorded), so that rule evaluation adds no pool blocks to the request; past its size, the pool. */
#define MITIGD_ARENA (256 * 1024)

typedef struct {
    ngx_pool_t  *pool;
} mitigd_alloc_ctx_t;

static u_char  *mitigd_arena;
static size_t   mitigd_arena_used;

static void *
mitigd_alloc(void *data, size_t n)
{
    mitigd_alloc_ctx_t  *ctx = data;
    size_t               need = ngx_align(n, 16);
    u_char              *p;

    if (mitigd_arena == NULL) {
        mitigd_arena = ngx_alloc(MITIGD_ARENA, ctx->pool->log);
    }
    if (mitigd_arena != NULL && need <= MITIGD_ARENA - mitigd_arena_used) {
        p = mitigd_arena + mitigd_arena_used;
        mitigd_arena_used += need;
        return p;
    }
    return ngx_palloc(ctx->pool, n);  /* aligned: the core keeps arrays of pointers here */
}

static ngx_int_t
mitigd_run(mitigd_srv_conf_t *scf, const mc_request *rq, mitigd_alloc_ctx_t *actx, mc_verdict *v)
{
    mc_alloc  a = { mitigd_alloc, actx };

    mitigd_arena_used = 0;
    return mc_evaluate(scf->rules, rq, &a, v) == 0 ? NGX_OK : NGX_ERROR;
}

static mc_str
mitigd_str(ngx_str_t *s)
{
    mc_str  out = { s->data, s->len };
    return out;
}

/* Every request header, in order, as the core's view (no copy of names or values). */
static ngx_int_t
mitigd_headers(ngx_http_request_t *r, mc_request *rq)
{
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    ngx_uint_t        i, n = 0;
    mc_header        *out;

    for (part = &r->headers_in.headers.part; part != NULL; part = part->next) {
        n += part->nelts;
    }
    rq->nheaders = 0;
    rq->headers = NULL;
    if (n == 0) {
        return NGX_OK;
    }
    out = ngx_palloc(r->pool, n * sizeof(mc_header));
    if (out == NULL) {
        return NGX_ERROR;
    }
    for (part = &r->headers_in.headers.part; part != NULL; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            out[rq->nheaders].name = mitigd_str(&h[i].key);
            out[rq->nheaders].value = mitigd_str(&h[i].value);
            rq->nheaders++;
        }
    }
    rq->headers = out;
    return NGX_OK;
}

/* The first cap bytes of the body nginx read (from memory or its temporary file), and its length. */
static ngx_int_t
mitigd_body(ngx_http_request_t *r, size_t cap, mc_request *rq)
{
    ngx_chain_t  *cl;
    off_t         total = 0;
    size_t        got = 0, n;
    ssize_t       rd;
    u_char       *p;

    rq->body_read = 1;
    rq->body.data = (const unsigned char *) "";
    rq->body.len = 0;
    rq->body_length = 0;
    if (r->request_body == NULL) {
        return NGX_OK;
    }
    for (cl = r->request_body->bufs; cl != NULL; cl = cl->next) {
        total += ngx_buf_size(cl->buf);
    }
    rq->body_length = (size_t) total;
    n = (size_t) total < cap ? (size_t) total : cap;
    cl = r->request_body->bufs;
    if (n > 0 && cl->next == NULL && ngx_buf_in_memory(cl->buf)) {  /* one buffer in memory: no copy */
        rq->body.data = cl->buf->pos;
        rq->body.len = n;
        return NGX_OK;
    }
    if (n == 0 || (p = ngx_pnalloc(r->pool, n)) == NULL) {
        return n == 0 ? NGX_OK : NGX_ERROR;
    }
    for (cl = r->request_body->bufs; cl != NULL && got < n; cl = cl->next) {
        size_t want = (size_t) ngx_buf_size(cl->buf) < n - got ? (size_t) ngx_buf_size(cl->buf) : n - got;
        if (ngx_buf_in_memory(cl->buf)) {
            ngx_memcpy(p + got, cl->buf->pos, want);
        } else {
            rd = ngx_read_file(cl->buf->file, p + got, want, cl->buf->file_pos);
            if (rd != (ssize_t) want) {
                return NGX_ERROR;
            }
        }
        got += want;
    }
    rq->body.data = p;
    rq->body.len = got;
    return NGX_OK;
}

/* Called once nginx has the whole body: evaluate again (re-entering the phase when we waited). */
static void
mitigd_body_ready(ngx_http_request_t *r)
{
    mitigd_ctx_t  *ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);

    r->main->count--;
    if (ctx == NULL) {
        return;
    }
    ctx->body_done = 1;
    if (ctx->waiting) {
        ctx->waiting = 0;
        ngx_http_core_run_phases(r);
    }
}

static mitigd_ctx_t *
mitigd_ctx(ngx_http_request_t *r)
{
    mitigd_ctx_t  *ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);

    if (ctx == NULL && (ctx = ngx_pcalloc(r->pool, sizeof(mitigd_ctx_t))) != NULL) {
        ngx_http_set_ctx(r, ctx, ngx_http_mitigd_module);
    }
    return ctx;
}

static void
mitigd_request_view(ngx_http_request_t *r, mc_request *rq)
{
    ngx_memzero(rq, sizeof(*rq));
    rq->method = mitigd_str(&r->main->method_name);
    rq->request_uri = mitigd_str(&r->unparsed_uri);
    rq->path = mitigd_str(&r->uri);
    rq->query = mitigd_str(&r->args);
    if (r->headers_in.content_type != NULL) {
        rq->content_type = mitigd_str(&r->headers_in.content_type->value);
    }
}

/* Whether the request can have a body at all (else it is read as empty without asking nginx). */
static ngx_int_t
mitigd_may_have_body(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream != NULL) {
        return 1;
    }
#endif
    return r->headers_in.content_length_n > 0 || r->headers_in.chunked;
}

/* The IDs of the rules in detect mode that held, for $mitigd_detected_by; and every match counted. */
static void
mitigd_record(ngx_http_request_t *r, mitigd_srv_conf_t *scf, mc_verdict *v, mitigd_ctx_t *ctx)
{
    size_t   i, len = 0;
    mc_str   id;
    u_char  *p;

    if (v->rule >= 0 && scf->counters[v->rule] != NULL) {
        (void) ngx_atomic_fetch_add(scf->counters[v->rule], 1);
    }
    for (i = 0; i < v->ndetected; i++) {
        if (scf->counters[v->detected[i]] != NULL) {
            (void) ngx_atomic_fetch_add(scf->counters[v->detected[i]], 1);
        }
        len += mc_rule_id(scf->rules, v->detected[i]).len + 1;
    }
    if (len == 0 || ctx == NULL || (p = ngx_pnalloc(r->pool, len)) == NULL) {
        return;
    }
    ctx->detected_by.data = p;
    for (i = 0; i < v->ndetected; i++) {
        id = mc_rule_id(scf->rules, v->detected[i]);
        if (i > 0) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, id.data, id.len);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "mitigd: rule %*s matched (detect mode: let through)",
                      id.len, id.data);
    }
    ctx->detected_by.len = (size_t) (p - ctx->detected_by.data);
}

/* Evaluates; when a rule needs the body, asks nginx for it: NGX_DONE while it arrives. */
static ngx_int_t
mitigd_evaluate(ngx_http_request_t *r, mitigd_srv_conf_t *scf, mc_verdict *v)
{
    mitigd_ctx_t        *ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);
    mc_request           rq;
    mitigd_alloc_ctx_t   a = { r->pool };
    ngx_int_t            rc;

    mitigd_request_view(r, &rq);
    if (mitigd_headers(r, &rq) != NGX_OK) {
        return NGX_ERROR;
    }
    if (ctx != NULL && ctx->body_done) {
        if (mitigd_body(r, mc_ruleset_body_cap(scf->rules), &rq) != NGX_OK) {
            return NGX_ERROR;
        }
        rq.resume = ctx->resume;
    }
    if (mitigd_run(scf, &rq, &a, v) != NGX_OK) {
        return NGX_ERROR;
    }
    if (!v->need_body) {
        return NGX_OK;
    }
    /* The resume lives in the worker's arena, which the next evaluation reuses: into the pool. */
    if ((ctx = mitigd_ctx(r)) == NULL || (ctx->resume = ngx_palloc(r->pool, v->resume_len)) == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(ctx->resume, v->resume, v->resume_len);
    rq.resume = ctx->resume;
    if (!mitigd_may_have_body(r)) {
        rq.body_read = 1;
        return mitigd_run(scf, &rq, &a, v);
    }
    ctx->body_requested = 1;
    rc = ngx_http_read_client_request_body(r, mitigd_body_ready);
    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }
    if (!ctx->body_done) {
        ctx->waiting = 1;
        return NGX_DONE;
    }
    if (mitigd_body(r, mc_ruleset_body_cap(scf->rules), &rq) != NGX_OK) {
        return NGX_ERROR;
    }
    return mitigd_run(scf, &rq, &a, v);
}

static ngx_int_t
mitigd_handler(ngx_http_request_t *r)
{
    mitigd_srv_conf_t  *scf = ngx_http_get_module_srv_conf(r, ngx_http_mitigd_module);
    mitigd_ctx_t       *ctx;
    mc_verdict          v;
    ngx_int_t           rc;

    /* The client's request is judged once: an internal redirect (error_page, try_files, named
     * locations) re-enters this phase with the same request, already judged. */
    if (scf->rules == NULL || mc_ruleset_rules(scf->rules) == 0 || r->internal) {
        return NGX_DECLINED;
    }
    ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);
    if (ctx != NULL && ctx->body_requested && !ctx->body_done) {
        return NGX_DONE;  /* still reading: mitigd_body_ready runs the phases again */
    }
    rc = mitigd_evaluate(r, scf, &v);
    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (rc != NGX_OK) {
        return rc;  /* NGX_DONE while the body arrives, or nginx's own error status (413, 400) */
    }
    if (v.rule < 0 && v.ndetected == 0) {
        return NGX_DECLINED;
    }
    ctx = mitigd_ctx(r);
    mitigd_record(r, scf, &v, ctx);
    if (v.rule < 0) {
        return NGX_DECLINED;
    }
    if (v.engine_error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "mitigd: a regex of rule %*s failed: it matches (fail closed)",
                      v.id.len, v.id.data);
    }
    if (ctx != NULL) {
        ctx->blocked_by.data = (u_char *) v.id.data;  /* owned by the rules: as long as the configuration */
        ctx->blocked_by.len = v.id.len;
    }
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "mitigd: rule %*s answered %d", v.id.len, v.id.data, v.status);
    return v.status;
}

/* The rules run first in the server rewrite phase: before the location is chosen and before any
 * server-level rewrite, so no operator redirect can carry an exploit request past them. */
static ngx_int_t
mitigd_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t  *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt        *h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);

    mitigd_main_conf_t         *mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mitigd_module);

    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = mitigd_handler;
    return mitigd_counters_zone(cf, mcf);
}
