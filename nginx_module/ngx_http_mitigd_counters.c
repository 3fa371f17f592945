/*
 * The module's per-rule match counters: one slot per rule id and mode in a shared-memory zone that
 * outlives reloads (a rule keeps its count while its id does), read by the `mitigd_counters`
 * location that mitigd's prelude serves over loopback.
 */
#include "ngx_http_mitigd_module.h"

/* The slot of (id, mode): found, or claimed in the first free place of its probe sequence. Run by
 * the master while it builds a configuration; workers of an older one only add to their slots. */
static mitigd_slot_t *
mitigd_slot(mitigd_slot_t *slots, mc_str id, int detect)
{
    ngx_uint_t      i, h = ngx_hash_key((u_char *) id.data, id.len) + (ngx_uint_t) detect;
    mitigd_slot_t  *s;

    if (id.len > MITIGD_ID_MAX) {
        return NULL;
    }
    for (i = 0; i < MITIGD_SLOTS; i++) {
        s = &slots[(h + i) % MITIGD_SLOTS];
        if (!s->used) {
            ngx_memcpy(s->id, id.data, id.len);
            s->id_len = (u_char) id.len;
            s->detect = (u_char) detect;
            ngx_memory_barrier();
            s->used = 1;
            return s;
        }
        if (s->id_len == id.len && s->detect == detect && ngx_memcmp(s->id, id.data, id.len) == 0) {
            return s;
        }
    }
    return NULL;
}

static ngx_int_t
mitigd_init_zone(ngx_shm_zone_t *zone, void *data)
{
    mitigd_main_conf_t  *mcf = zone->data;
    mitigd_srv_conf_t  **servers = mcf->servers.elts;
    mitigd_slot_t       *slots = (mitigd_slot_t *) zone->shm.addr, *slot;
    ngx_uint_t           i;
    size_t               k;

    (void) data;  /* a zone kept across a reload holds its counters: new rules get free slots */
    for (i = 0; i < mcf->servers.nelts; i++) {
        for (k = 0; k < mc_ruleset_rules(servers[i]->rules); k++) {
            slot = mitigd_slot(slots, mc_rule_id(servers[i]->rules, k), mc_rule_detect(servers[i]->rules, k));
            servers[i]->counters[k] = slot ? &slot->matches : NULL;
            if (slot == NULL) {
                ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0, "mitigd: no counter for rule %*s (table full)",
                              mc_rule_id(servers[i]->rules, k).len, mc_rule_id(servers[i]->rules, k).data);
            }
        }
    }
    return NGX_OK;
}

static ngx_int_t
mitigd_counters_handler(ngx_http_request_t *r)
{
    mitigd_main_conf_t  *mcf = ngx_http_get_module_main_conf(r, ngx_http_mitigd_module);
    mitigd_slot_t       *slots;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_uint_t           i, used = 0;
    ngx_int_t            rc;

    if (r->method != NGX_HTTP_GET || ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    slots = mcf->zone ? (mitigd_slot_t *) mcf->zone->shm.addr : NULL;
    for (i = 0; slots && i < MITIGD_SLOTS; i++) {
        used += slots[i].used != 0;
    }
    b = ngx_create_temp_buf(r->pool, 32 + used * (MITIGD_ID_MAX + 32));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->last, "# mitigd rule matches: ID MODE COUNT\n", 37);
    for (i = 0; slots && i < MITIGD_SLOTS && used > 0; i++) {
        if (slots[i].used) {
            b->last = ngx_sprintf(b->last, "%*s %s %uA\n", (size_t) slots[i].id_len, slots[i].id,
                                  slots[i].detect ? "detect" : "enforce", slots[i].matches);
            used--;
        }
    }
    b->last_buf = 1;
    b->last_in_chain = 1;
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    out.buf = b;
    out.next = NULL;
    return ngx_http_output_filter(r, &out);
}

char *
mitigd_counters_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    ((mitigd_loc_conf_t *) conf)->counters = 1;
    clcf->handler = mitigd_counters_handler;
    return NGX_CONF_OK;
}

ngx_int_t
mitigd_counters_zone(ngx_conf_t *cf, mitigd_main_conf_t *mcf)
{
    ngx_str_t  name = ngx_string("mitigd_counters");

    mcf->zone = ngx_shared_memory_add(cf, &name, ngx_align(sizeof(mitigd_slot_t) * MITIGD_SLOTS, ngx_pagesize) + ngx_pagesize,
                                      &ngx_http_mitigd_module);
    if (mcf->zone == NULL) {
        return NGX_ERROR;
    }
    mcf->zone->init = mitigd_init_zone;
    mcf->zone->data = mcf;
    return NGX_OK;
}
