/* diagnose.c -- `diagnose DOMAIN`: federation troubleshooting (being written). */
#include "edgectl/commands.h"
#include "edgectl/edgectl.h"

int ctl_cmd_diagnose(struct ctl *c, const struct ctl_args *a)
{
    return ctl_fail(c, "diagnose is not implemented yet");
}
