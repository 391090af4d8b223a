/* policy_show.h -- the policy, or one of its lists, printed for people or
 * as JSON members (policy show, allowed list, provider list, ...). */
#ifndef EP_EDGECTL_POLICY_SHOW_H
#define EP_EDGECTL_POLICY_SHOW_H

struct ctl;
struct ctl_args;
struct policy;

/* The sections, in the order `policy show` prints them. */
enum ctl_section {
    SEC_SETTINGS = 0,
    SEC_INTERNAL,
    SEC_ALLOWED,
    SEC_BLOCKED,
    SEC_PROVIDERS,
    SEC_XMPP,
    SEC_ACCESS,
    SEC_USERS,
    SEC_COUNT
};

/* Print one section: a human block, or in --json mode one member of the
 * object being written ("allowed_domains": [...]). */
void ctl_show_section(struct ctl *c, const struct policy *p, enum ctl_section s);

#endif
