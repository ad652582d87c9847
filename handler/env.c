/* SPDX-License-Identifier: ISC */
/* The variables that say who the client is, picked out of the environment
 * once: getenv(3) reads every variable on each call, a dozen calls are made
 * and whoever started us may pass many.  Apart because peer.c, tlsid.c and
 * conn.c all look them up. */
#include <stdlib.h>
#include <string.h>

#include "env.h"

extern char **environ;

/* more than these of them, and env_get is getenv (it cannot miss one) */
#define PICKED_MAX 48

static const char *picked[PICKED_MAX];
static size_t npicked;
static int state;	/* 0 not yet picked, 1 picked, -1 too many */

/* s starts with p (inlined: no call for each variable) */
static int
starts(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

/* PROTO, TCP*, IPC*, REMOTE_*, PROXY*, SSL_CLIENT_DN, MSGD*: a look at
 * the first bytes, for every variable is looked at */
static int
ours(const char *s)
{
	switch (s[0]) {
	case 'I':
		return starts(s, "IPC");
	case 'M':
		return starts(s, "MSGD");
	case 'P':
		return starts(s, "PROTO") || starts(s, "PROXY");
	case 'R':
		return starts(s, "REMOTE_");
	case 'S':
		return starts(s, "SSL_CLIENT_DN");
	case 'T':
		return starts(s, "TCP");
	}
	return 0;
}

static void
pick(void)
{
	char **e;

	state = 1;
	for (e = environ; e && *e; e++) {
		if (!ours(*e))
			continue;
		if (npicked == PICKED_MAX) {
			state = -1;
			return;
		}
		picked[npicked++] = *e;
	}
}

const char *
env_get(const char *name)
{
	size_t n = strlen(name), i;

	if (state == 0)
		pick();
	if (state < 0 || !ours(name))
		return getenv(name);
	for (i = 0; i < npicked; i++)
		if (picked[i][0] == name[0] && strncmp(picked[i], name, n) == 0 &&
		    picked[i][n] == '=')
			return picked[i] + n + 1;
	return NULL;
}
