/*
 * ngx_http_mitigd_module: mitigd's request rules evaluated natively, as a thin adapter around the
 * rule core (rule_core/: the same C code `mitigctl rules test` links, so offline verdicts are
 * nginx's). This file only turns directives into core rules, a request into the core's request
 * view, and the core's verdict into a response (the split headers-more uses: directives, handler,
 * core).
 *
 *   mitigd_rule ID STATUS [scope REGEX] when INPUT CODEC OP ARG [literals HEX,HEX...] ...;
 *
 * The grammar and semantics are the core's (rule_core/mitigd_core.h, docs/rules.md). STATUS 444
 * closes the connection. $mitigd_blocked_by holds the ID of the rule that answered (for access
 * logs). $mitigd_request_uri_decoded and $mitigd_args_decoded are the configuration path's decoded
 * inputs, so that files of both engines validate together while the inventory switches engines.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mitigd_core.h"

#define MITIGD_MAX_WORDS 1024

typedef struct {
    mc_ruleset  *rules;           /* NULL: no rule in this server */
} mitigd_srv_conf_t;

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

/* ---- configuration ---------------------------------------------------------------------- */

static void *
mitigd_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(mitigd_srv_conf_t));
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
    mitigd_srv_conf_t  *conf = child;
    char                err[256];

    if (conf->rules != NULL && mc_ruleset_finish(conf->rules, err, sizeof(err)) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mitigd_rule: %s", err);
        return NGX_CONF_ERROR;
    }
    return NGX_CONF_OK;
}

/* ---- per request ------------------------------------------------------------------------ */

static void *
mitigd_alloc(void *pool, size_t n)
{
    return ngx_palloc(pool, n);  /* aligned: the core keeps arrays of pointers here */
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

static ngx_int_t
mitigd_handler(ngx_http_request_t *r)
{
    mitigd_srv_conf_t  *scf = ngx_http_get_module_srv_conf(r, ngx_http_mitigd_module);
    mitigd_ctx_t       *ctx;
    mc_request          rq;
    mc_alloc            a = { mitigd_alloc, r->pool };
    mc_verdict          v;

    if (scf->rules == NULL || mc_ruleset_rules(scf->rules) == 0) {
        return NGX_DECLINED;
    }
    rq.method = mitigd_str(&r->main->method_name);
    rq.request_uri = mitigd_str(&r->unparsed_uri);
    rq.path = mitigd_str(&r->uri);
    rq.query = mitigd_str(&r->args);
    if (mitigd_headers(r, &rq) != NGX_OK || mc_evaluate(scf->rules, &rq, &a, &v) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (v.rule < 0) {
        return NGX_DECLINED;
    }
    if (v.engine_error) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "mitigd: a regex of rule %*s failed: it matches (fail closed)",
                      v.id.len, v.id.data);
    }
    ctx = ngx_pcalloc(r->pool, sizeof(mitigd_ctx_t));
    if (ctx != NULL) {
        ctx->blocked_by.data = (u_char *) v.id.data;  /* owned by the rules: as long as the configuration */
        ctx->blocked_by.len = v.id.len;
        ngx_http_set_ctx(r, ctx, ngx_http_mitigd_module);
    }
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "mitigd: rule %*s answered %d", v.id.len, v.id.data, v.status);
    return v.status;
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
    ngx_str_t  *in = data == 0 ? &r->unparsed_uri : &r->args;
    u_char     *out = ngx_pnalloc(r->pool, in->len + 1);

    if (out == NULL) {
        return NGX_ERROR;
    }
    v->len = mc_unescape(in->data, in->len, out);
    v->data = out;
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
