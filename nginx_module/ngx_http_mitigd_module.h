/* Shared by the module's files: its configuration and the counters' shared memory. */
#ifndef NGX_HTTP_MITIGD_MODULE_H
#define NGX_HTTP_MITIGD_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mitigd_core.h"

#define MITIGD_SLOTS 8192
#define MITIGD_ID_MAX 96

typedef struct {
    ngx_atomic_t  matches;
    ngx_atomic_t  used;
    u_char        detect;
    u_char        id_len;
    u_char        id[MITIGD_ID_MAX];
} mitigd_slot_t;

typedef struct {
    mc_ruleset     *rules;        /* NULL: no rule in this server */
    ngx_atomic_t  **counters;     /* per rule, its slot's counter (NULL: not counted) */
} mitigd_srv_conf_t;

typedef struct {
    ngx_array_t      servers;     /* mitigd_srv_conf_t *: every server with rules */
    ngx_shm_zone_t  *zone;
} mitigd_main_conf_t;

typedef struct {
    ngx_flag_t  counters;
} mitigd_loc_conf_t;

/* Per request (the main request's): what the rules decided, and the body's reading. */
typedef struct {
    ngx_str_t  blocked_by;
    ngx_str_t  detected_by;
    void      *resume;  /* the first evaluation's resume (mc_verdict), for the one with the body */
    unsigned   body_requested:1;
    unsigned   body_done:1;
    unsigned   waiting:1;
} mitigd_ctx_t;

extern ngx_module_t ngx_http_mitigd_module;

/* Adds $mitigd_blocked_by, $mitigd_detected_by, $mitigd_request_uri_decoded, $mitigd_args_decoded. */
ngx_int_t mitigd_add_variables(ngx_conf_t *cf);
/* The counters' zone ("mitigd_counters", kept across reloads while its size is the same). */
ngx_int_t mitigd_counters_zone(ngx_conf_t *cf, mitigd_main_conf_t *mcf);
/* `mitigd_counters;` in a location: serves "ID MODE COUNT" lines. */
char *mitigd_counters_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

#endif
