/* SPDX-License-Identifier: ISC */
/* The loop: one poll for signals, the listener and relays' headers; clients
 * accepted and admitted, rules reloaded, the shutdown.  With main.c the
 * program's core: it calls the other files, never they it. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "util.h"
#include "deadline.h"
#include "admit.h"
#include "children.h"
#include "env.h"
#include "loop.h"
#include "opts.h"
#include "proxied.h"
#include "reexec.h"
#include "rules.h"
#include "signals.h"
#include "slots.h"
#include "sockets.h"
#include "status.h"

/* clients taken at one poll's word, so that signals and relays are not
 * kept waiting by a flood */
#define ACCEPT_BATCH 64
/* pfd[0] is the signal pipe, pfd[1] on the listeners, then relays
 * waiting */
#define PFD_LISTEN 1
/* after the grace, SIGTERM and this long before we leave them */
#define TERM_WAIT_MS 1000

/* -x: the rules in force; -p: the relays whose PROXY header is believed */
static struct ruleset *rules, *proxies;
/* relays come in on TCP listeners, whose children are told the address
 * reached from each header: any of them stands for all */
static int relay_ln;

/* SIGUSR1: the counters, whatever the verbosity */
static void
log_counters(void)
{
	char line[STATUS_LEN];

	got_usr1 = 0;
	status_format(line, sizeof line, slots_used(), o.maxconn);
	note("status: %s", line);
}

/*
 * A free slot for the next client, the caller's, with room made in it for
 * the child's environment before the client is taken: without memory the
 * client stays in the backlog (NULL, and we back off), never dropped
 * after it was taken.
 */
static struct slot *
slot_for_client(void)
{
	struct slot *s = slot_take();

	if (env_reserve(s) == 0)
		return s;
	slot_return(s);
	back_off("accept");	/* not a busy loop */
	return NULL;
}

/*
 * Accept what is waiting, up to the limit; when the system is out of
 * descriptors or memory, back off.
 */
static void
accept_some(int ln)
{
	int lfd = socket_at(ln)->fd;
	int i;

	for (i = 0; i < ACCEPT_BATCH && slots_used() < o.maxconn &&
	    !backing_off() && !(proxies && waiting_full()); i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		const struct rule *rule;
		struct slot *s = slot_for_client();
		int cfd;

		if (s == NULL)
			return;
		cfd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
		if (cfd < 0) {
			slot_return(s);
			if (out_of_resources(errno))
				back_off("accept");
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED &&
			    errno != EPROTO && errno != EPERM)
				warn("cannot accept:");
			return;
		}
		if (!backing_off())
			back_off_over();
		if (proxies && !socket_at(ln)->ipc &&
		    rules_match(proxies, (struct sockaddr *)&ss)) {
			slot_return(s);	/* taken again with its header */
			waiting_add(cfd, &ss, now_ms());
			continue;
		}
		if (admit(s, cfd, ln, (struct sockaddr *)&ss, rules, NULL,
		    &rule))
			child_start(s, cfd, NULL, NULL, NULL, rule);
	}
}

/* SIGHUP: the file again, all of it good, or the old rules stay */
static void
rules_reload(void)
{
	char err[RULES_ERRLEN];
	struct ruleset *rs;

	if (o.rules == NULL)
		return;
	rs = rules_load(o.rules, err, sizeof err);
	if (rs == NULL) {
		warn("cannot reload %s; the old rules stay", err);
		return;
	}
	rules_free(rules);
	rules = rs;
	env_need_for(rules);
	if (o.verbosity != QUIET)
		note("rules reloaded from %s: %zu rules", o.rules, rs->nrule);
}

void
shutdown_gracefully(void)
{
	long long end = deadline_in(o.grace * 1000);
	int extra = 0;
	int seen = got_term;

	if (o.verbosity != QUIET)
		note("stopping: %ld running, grace %ld s", slots_used(),
		    o.grace);
	while (slots_used() > 0) {
		struct pollfd pfd = { .fd = signals_fd(), .events = POLLIN };

		if (got_term != seen || deadline_expired(end)) {
			if (extra)
				break;	/* they had their SIGTERM and a second */
			/* grace over, or asked twice: end them now */
			term_children();
			end = deadline_in(TERM_WAIT_MS);
			extra = 1;
			seen = got_term;
			continue;
		}
		poll(&pfd, 1, deadline_poll_ms(end));
		drain_signals();
		reap();
		if (got_usr1)
			log_counters();
	}
}

/*
 * A relay's header is in (pi), or it is bad, cut short or late (why).  A
 * complete one names the client that rules, limits, the log and the child
 * see; a v2 LOCAL or v1 UNKNOWN keeps the socket's addresses.  0 when the
 * connection was taken, -1 to keep it until there is room for a child.
 */
static int
on_header(int fd, const struct proxy_info *pi,
    const struct sockaddr_storage *proxy, const char *why)
{
	const struct sockaddr_storage *client = proxy, *local = NULL;
	const struct rule *rule;
	struct slot *s;
	char ip[ADDR_IPLEN];
	unsigned port;

	if (pi == NULL) {
		close(fd);
		counts.bad_proxy++;
		if (o.verbosity != QUIET &&
		    addr_ip_port((const struct sockaddr *)proxy, ip, &port) == 0)
			note("bad proxy header from %s: %s", ip, why);
		return 0;
	}
	if (backing_off() || slots_used() >= o.maxconn)
		return -1;
	if ((s = slot_for_client()) == NULL)
		return -1;
	if (!pi->local) {
		client = &pi->src;
		local = &pi->dst;
	}
	s->check = pi->check;
	if (admit(s, fd, relay_ln, (const struct sockaddr *)client, rules,
	    &pi->tls, &rule))
		child_start(s, fd, (const struct sockaddr *)local,
		    (const struct sockaddr *)proxy, &pi->tls, rule);
	return 0;
}

/* a relay usually sends its header with the connection: the ones just
 * accepted (from `old` on) are read at once, not after another poll */
static void
read_new_headers(struct pollfd *pfd, int old)
{
	int i, n = waiting_fds(pfd);

	for (i = old; i < n; i++)
		pfd[i].revents = POLLIN;
	if (n > old)
		waiting_run(pfd, n, now_ms(), on_header);
}

/*
 * Backing off, the next try is a deadline, not a poll timeout: a child's
 * end or any other signal may wake us before it, and a client whose child
 * could not be made must still be served when it is due.  Connections
 * from a relay wait for their header in the same poll, each with its own
 * deadline.  Nothing new is taken while backing off or while failed spawns
 * are tried again; a whole header kept meanwhile is handed over in the
 * first round after, since no event of its own will come.
 */
int
loop(struct ruleset *rs, struct ruleset *relays)
{
	long nl = sockets_count(), i;
	int waiting_at = PFD_LISTEN + (int)nl;
	struct pollfd *pfd = calloc((size_t)(o.maxconn + waiting_at),
	    sizeof *pfd);

	rules = rs;
	proxies = relays;
	for (relay_ln = 0; relay_ln < nl - 1 && socket_at(relay_ln)->ipc;
	    relay_ln++)
		;
	if (pfd == NULL) {
		warn("out of memory");
		return -1;
	}
	reap();	/* children adopted from a re-exec may have ended since */
	while (!got_term) {
		int taking = !backing_off();
		int nw = proxies && taking ? waiting_fds(pfd + waiting_at) : 0;
		/* a whole header that waited is handed over now that a child
		 * may be made: nothing else may come to wake us */
		int handover = nw && slots_used() < o.maxconn &&
		    waiting_whole();
		/* STATUS= for the service manager, when due */
		long long told = status_notify(slots_used(), o.maxconn,
		    now_ms());
		/* at the limit, backing off, or a re-exec waits for relays'
		 * headers: leave them in the backlog */
		int accepting = taking && slots_used() < o.maxconn &&
		    !(proxies && (waiting_full() || got_usr2));
		int r;

		pfd[0].fd = signals_fd();
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < nl; i++) {
			pfd[PFD_LISTEN + i].fd = accepting ?
			    socket_at(i)->fd : -1;
			pfd[PFD_LISTEN + i].events = POLLIN;
			pfd[PFD_LISTEN + i].revents = 0;
		}
		r = poll(pfd, (nfds_t)(waiting_at + nw), handover ? 0 :
		    deadline_poll_ms(deadline_min(back_off_until(),
		    deadline_min(nw ? waiting_due() : DEADLINE_NONE, told))));
		if (r < 0 && errno != EINTR) {
			warn("poll:");
			free(pfd);
			return -1;
		}
		if (r > 0 && pfd[0].revents) {
			drain_signals();
			reap();
			if (got_hup) {
				got_hup = 0;
				rules_reload();
			}
			if (got_usr1)
				log_counters();
		}
		if (nw)
			waiting_run(pfd + waiting_at, nw, now_ms(), on_header);
		if (back_off_until() >= 0)
			back_off_retry(now_ms());
		else if (r > 0) {
			for (i = 0; i < nl; i++) {
				int old;

				if (pfd[PFD_LISTEN + i].fd < 0 ||
				    !pfd[PFD_LISTEN + i].revents)
					continue;
				old = proxies ? waiting_fds(pfd + waiting_at) :
				    0;
				accept_some((int)i);
				if (proxies)
					read_new_headers(pfd + waiting_at, old);
			}
		}
		/* SIGUSR2: once no client is half taken (a relay's header,
		 * a spawn to retry), the new image gets them all */
		if (got_usr2 && !got_term && !backing_off() &&
		    !(proxies && waiting_due() >= 0)) {
			got_usr2 = 0;
			reexec();
		}
	}
	free(pfd);
	return 0;
}

void
drop_pending(void)
{
	close_failed();
	if (proxies)
		waiting_close_all();
}
