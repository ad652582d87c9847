/* SPDX-License-Identifier: ISC */
/* The options as main.c parsed them, apart from the core because the parts
 * that apply them at every connection (admit.c, children.c) read them too:
 * verbosity, -R, -C, PROGRAM.  Only main.c writes them, before any runs. */
#ifndef OPTS_H
#define OPTS_H

#include <stddef.h>

enum { QUIET, NORMAL, VERBOSE };

struct opts {
	int family;		/* AF_UNSPEC, or AF_INET / AF_INET6 by -4 / -6 */
	int verbosity;
	int print_port;
	int daemon;
	long maxconn, persource, rate, backlog, grace;
	unsigned prefix4, prefix6;	/* -N: the bits that make a source */
	const char *user, *group, *pidfile, *rules;
	char *proxies;		/* -p CIDR, one "CIDR allow" line each */
	size_t proxies_len;
	const char *host, *port;
	const char *path;	/* -U PATH, else NULL */
	int ipc;		/* -U */
	long mode;		/* -M, or -1 */
	char **argv;		/* PROGRAM [ARG...] */
};

extern struct opts o;

#endif
