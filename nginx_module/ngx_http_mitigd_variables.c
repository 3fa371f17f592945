/*
 * The module's variables. $mitigd_blocked_by holds the ID of the rule that answered and
 * $mitigd_detected_by the IDs of the rules in detect mode that matched (for access logs; set by
 * the handler in the main request's context). $mitigd_request_uri_decoded and $mitigd_args_decoded
 * are the configuration path's decoded inputs, decoded by the rule core's decoder, so that files of
 * both engines validate together while the inventory switches engines.
 */
#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mitigd_core.h"
#include "ngx_http_mitigd_module.h"

/* data: 0 $mitigd_blocked_by, 1 $mitigd_detected_by. */
static ngx_int_t
mitigd_blocked_by_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    mitigd_ctx_t  *ctx = ngx_http_get_module_ctx(r->main, ngx_http_mitigd_module);
    ngx_str_t     *s;

    if (ctx == NULL) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mitigd_module);
    }
    s = ctx == NULL ? NULL : data == 0 ? &ctx->blocked_by : &ctx->detected_by;
    if (s == NULL || s->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }
    v->len = s->len;
    v->data = s->data;
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

ngx_int_t
mitigd_add_variables(ngx_conf_t *cf)
{
    static ngx_str_t      decoded[] = { ngx_string("mitigd_request_uri_decoded"), ngx_string("mitigd_args_decoded") };
    static ngx_str_t      verdicts[] = { ngx_string("mitigd_blocked_by"), ngx_string("mitigd_detected_by") };
    ngx_http_variable_t  *var;
    ngx_uint_t            i;

    for (i = 0; i < 2; i++) {
        var = ngx_http_add_variable(cf, &verdicts[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = mitigd_blocked_by_variable;
        var->data = i;
    }
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
