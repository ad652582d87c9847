/* SPDX-License-Identifier: ISC */
/* What the launcher has done since it started: the status line that
 * SIGUSR1 logs and the service manager is sent as STATUS=. */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>

/* room for the status line */
#define STATUS_LEN 160

struct counters {
	unsigned long served;	/* children made */
	unsigned long denied;	/* refused by a rule, -R or -C */
	unsigned long bad_proxy;	/* -p: a relay's header bad, short or late */
	unsigned long failed;	/* clients closed because no child was made */
};

extern struct counters counts;

/* "R/MAX running, S served, D denied, B bad proxy headers, F failed
 * spawns" into buf; the log line is "status: " and this */
void status_format(char *buf, size_t len, long running, long max);
/* STATUS= to the service manager when the line changed, at most once a
 * second (now: now_ms()).  Returns when to call again for a change not
 * yet sent, or -1 */
long long status_notify(long running, long max, long long now);

#endif
