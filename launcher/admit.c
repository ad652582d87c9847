/* SPDX-License-Identifier: ISC */
/* Admission: whether a client may have a child, by the rules (-x), its
 * rate (-R) and how many it has (-C); apart so that the whole policy
 * reads in one place, and a refusal is said the same way everywhere. */
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "addr.h"
#include "util.h"
#include "admit.h"
#include "children.h"
#include "opts.h"
#include "rules.h"
#include "rules_cn.h"
#include "slots.h"
#include "sockets.h"
#include "sources.h"
#include "status.h"
#include "unix.h"

/* over -R or -C: told so and closed; logged "deny IP WHY" unless ip is
 * NULL */
static void
deny(int fd, const char *ip, const char *why)
{
	static const char msg[] = "error too many connections\n";

	(void)!send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_WR);
	close(fd);
	counts.denied++;
	if (ip && o.verbosity != QUIET)
		note("deny %s %s", ip, why);
}

/* the source as the log names it: an IP client's prefix, a local
 * client's credentials */
static const char *
source(const struct slot *s, char *buf)
{
	if (o.path)
		return s->ip;
	source_text(s->key, buf, SOURCE_TEXTLEN);
	return buf;
}

/* the client is refused: s is free again */
static int
refused(struct slot *s)
{
	slot_return(s);
	return 0;
}

int
admit(struct slot *s, int cfd, int ln, const struct sockaddr *client,
    const struct ruleset *rules, const struct proxy_tls *tls,
    const struct rule **rule)
{
	const struct rule *r = NULL;
	char src[SOURCE_TEXTLEN];
	long persource = o.persource, rate = o.rate;
	int say, took;

	s->ln = ln;
	if (socket_at(ln)->ipc) {
		/* UNIX-domain: the kernel's word on who it is, in place of an address */
		if (unix_client(cfd, &s->cred, s->key) < 0) {
			close(cfd);
			return refused(s);
		}
		s->key[16] = SOURCE_UID;
		cred_text(s->ip, &s->cred);
		s->port = 0;
		r = rules ? rules_match_cred(rules, &s->cred) : NULL;
	} else {
		r = rules ? rules_match(rules, client) : NULL;
		if (rules && tls && tls->verified && tls->cn.n) {
			const struct rule *c = rules_match_cn(rules,
			    tls->cn.p, tls->cn.n);

			if (c && (r == NULL || c->line < r->line))
				r = c;
		}
		if (addr_ip_port(client, s->ip, &s->port) < 0)
			s->ip[0] = '\0';
		source_key(client, r ? r->plen : 0, s->key);
	}
	if (r && !r->allow) {
		close(cfd);
		counts.denied++;
		if (o.verbosity != QUIET)
			note("deny %s rule %u", s->ip, r->line);
		return refused(s);
	}
	/* its rule's limits, else the command line's */
	if (r && r->persource >= 0)
		persource = r->persource;
	if (r && r->rate >= 0)
		rate = r->rate;
	if (rate && (took = rate_take(s->key, rate, now_ms(), &say)) !=
	    RATE_OK) {
		deny(cfd, say ? source(s, src) : NULL, took == RATE_FULL ?
		    "rate table full" : "rate limit");
		return refused(s);
	}
	/* a child of this source that has ended but is not reaped yet
	 * (its SIGCHLD came after this wakeup's poll) counts no more: its
	 * client, which saw the connection end, may be this one again */
	if (persource && slots_from_source(s->key) >= persource)
		reap();
	if (persource && slots_from_source(s->key) >= persource) {
		deny(cfd, source(s, src), "per-source limit");
		return refused(s);
	}
	*rule = r;
	return 1;
}
