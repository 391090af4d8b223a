/* commands.h -- the run functions of edgectl's command table (main.c). */
#ifndef EP_EDGECTL_COMMANDS_H
#define EP_EDGECTL_COMMANDS_H

struct ctl;
struct ctl_args;

int ctl_cmd_policy_show(struct ctl *c, const struct ctl_args *a);     /* policy_show.c */
int ctl_cmd_list(struct ctl *c, const struct ctl_args *a);            /* policy_show.c */
int ctl_cmd_set_access_edge(struct ctl *c, const struct ctl_args *a); /* policy_cmds.c */
int ctl_cmd_seed(struct ctl *c, const struct ctl_args *a);            /* policy_cmds.c */
int ctl_cmd_domain(struct ctl *c, const struct ctl_args *a);          /* domain_cmds.c */
int ctl_cmd_provider(struct ctl *c, const struct ctl_args *a);        /* provider_cmds.c */
int ctl_cmd_xmpp(struct ctl *c, const struct ctl_args *a);            /* provider_cmds.c */
int ctl_cmd_access_policy(struct ctl *c, const struct ctl_args *a);   /* access_cmds.c */
int ctl_cmd_user(struct ctl *c, const struct ctl_args *a);            /* access_cmds.c */
int ctl_cmd_pool_status(struct ctl *c, const struct ctl_args *a);     /* pool_status.c */
int ctl_cmd_node_drain(struct ctl *c, const struct ctl_args *a);      /* pool_status.c */
int ctl_cmd_sessions(struct ctl *c, const struct ctl_args *a);        /* sessions.c */
int ctl_cmd_watch_list(struct ctl *c, const struct ctl_args *a);      /* sessions.c */
int ctl_cmd_diagnose(struct ctl *c, const struct ctl_args *a);        /* diagnose.c */

#endif
