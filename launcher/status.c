/* SPDX-License-Identifier: ISC */
/* The launcher's counters and its status line. */
#include <stdio.h>
#include <string.h>

#include "notify.h"
#include "status.h"

#define STATUS_EVERY_MS 1000

struct counters counts;

void
status_format(char *buf, size_t len, long running, long max)
{
	snprintf(buf, len, "%ld/%ld running, %lu served, %lu denied, "
	    "%lu bad proxy headers, %lu failed spawns", running, max,
	    counts.served, counts.denied, counts.bad_proxy, counts.failed);
}

long long
status_notify(long running, long max, long long now)
{
	static char sent[STATUS_LEN];
	static long long last = -STATUS_EVERY_MS;
	char msg[STATUS_LEN];

	if (!notify_on())
		return -1;
	memcpy(msg, "STATUS=", 7);
	status_format(msg + 7, sizeof msg - 7, running, max);
	if (strcmp(msg, sent) == 0)
		return -1;
	if (now - last < STATUS_EVERY_MS)
		return last + STATUS_EVERY_MS;
	notify(msg);
	memcpy(sent, msg, sizeof sent);
	last = now;
	return -1;
}
