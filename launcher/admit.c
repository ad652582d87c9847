/* SPDX-License-Identifier: ISC */
/* Admission: whether a client may have a child, by the rules (-x), its
 * rate (-R) and how many it has (-C); apart so that the whole policy
 * reads in one place, and a refusal is said the same way everywhere. */
#include <sys/socket.h>
#include <unistd.h>

#include "deadline.h"
#include "msgd.h"
#include "admit.h"
#include "limits.h"
#include "opts.h"
#include "rules.h"
#include "rules_cn.h"
#include "slots.h"
#include "sockets.h"
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

int
admit(int cfd, int ln, const struct sockaddr *client,
    const struct ruleset *rules, const struct proxy_tls *tls,
    const struct rule **rule)
{
	const struct rule *r = NULL;
	struct slot *s = slot_next();
	int say;

	s->ln = ln;
	if (socket_at(ln)->ipc) {
		/* UNIX-domain: the kernel's word on who it is, in place of an address */
		if (unix_client(cfd, &s->cred, s->key) < 0) {
			close(cfd);
			return 0;
		}
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
		source_key(client, s->key);
	}
	if (r && !r->allow) {
		close(cfd);
		counts.denied++;
		if (o.verbosity != QUIET)
			note("deny %s rule %u", s->ip, r->line);
		return 0;
	}
	if (o.rate && !rate_take(s->key, now_ms(), &say)) {
		deny(cfd, say ? s->ip : NULL, "rate limit");
		return 0;
	}
	if (o.persource && slots_from_source(s->key) >= o.persource) {
		deny(cfd, s->ip, "per-source limit");
		return 0;
	}
	*rule = r;
	return 1;
}
