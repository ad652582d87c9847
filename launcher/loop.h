/* SPDX-License-Identifier: ISC */
/* The launcher's loop and its end (loop.c), for main.c. */
#ifndef LOOP_H
#define LOOP_H

#include "rules.h"

/* serve the listeners (sockets.h) until SIGTERM or SIGINT, with the rules rs (-x, else NULL;
 * re-read from o.rules on SIGHUP) and the relays (-p, else NULL), which
 * are the loop's from now on.  0, or -1 said */
int loop(struct ruleset *rs, struct ruleset *relays);
/* clients still waiting for a process or for their relay's header are
 * closed: they see EOF now, not after the grace */
void drop_pending(void);
/* the running children get GRACE seconds, then SIGTERM and a second */
void shutdown_gracefully(void);

#endif
