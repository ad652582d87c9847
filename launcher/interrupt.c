/* SPDX-License-Identifier: ISC */
/* Exit after the parent has taken the Ctrl-C we were sent with it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "interrupt.h"

#define SETTLE_MS 1000

/* whether pid has SIGINT pending (Linux: /proc/PID/status); 0 when it
 * cannot be told */
static int
sigint_pending(pid_t pid)
{
	char path[64], line[256];
	FILE *f;
	int pending = 0;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "SigPnd:", 7) == 0 ||
		    strncmp(line, "ShdPnd:", 7) == 0)
			pending |= (strtoull(line + 7, NULL, 16) >>
			    (SIGINT - 1)) & 1;
	fclose(f);
	return pending;
}

void
interrupt_settle(void)
{
	const struct timespec tick = { 0, 10 * 1000000L };
	pid_t parent = getppid();
	long long end = deadline_in(SETTLE_MS);

	/* only a parent in our process group had the same Ctrl-C */
	if (parent <= 1 || getpgid(parent) != getpgrp())
		return;
	while (sigint_pending(parent) && !deadline_expired(end))
		nanosleep(&tick, NULL);
}
