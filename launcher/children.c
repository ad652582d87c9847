/* SPDX-License-Identifier: ISC */
/* Children from admission to reaping: the spawn, a retry after a back-off
 * when the system is out of processes or memory, the end logged; apart
 * from the loop, which only hands clients over and reaps on SIGCHLD. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"
#include "deadline.h"
#include "children.h"
#include "env.h"
#include "opts.h"
#include "slots.h"
#include "sockets.h"
#include "spawner.h"
#include "status.h"

/* back off from 50 ms, doubling, to 1 s */
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

/* slots whose spawn failed for want of a process or memory: retried after
 * the back-off, and no client is taken meanwhile */
static long nretry;
/* the back-off: until when it runs (-1: none does), and how long the last
 * one was (0: none since the system last gave what was asked) */
static struct {
	long long until;
	int ms;
} backoff = { -1, 0 };

static void
log_status(void)
{
	if (o.verbosity == VERBOSE)
		note("status: %ld/%ld", slots_used(), o.maxconn);
}

static void
child_ended(struct slot *s, int st)
{
	if (WIFSIGNALED(st))
		note("end %ld signal %d", (long)s->pid, WTERMSIG(st));
	else if (o.verbosity == VERBOSE ||
	    (o.verbosity == NORMAL && WEXITSTATUS(st) != 0))
		note("end %ld status %d", (long)s->pid, WEXITSTATUS(st));
	slot_free(s);
	log_status();
}

/* every child that ended; one we did not make (inherited across an
 * exec) is only reaped.  A child whose exec failed is said by PROGRAM's
 * name, not as an end */
void
reap(void)
{
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		long i, n = slots_used();
		struct slot *s = NULL;
		int err;

		for (i = 0; i < n && !((s = slot_used(i))->state ==
		    SLOT_RUNNING && s->pid == pid); i++)
			;
		if (i == n)
			continue;
		if ((err = spawn_exec_failed(s, st)) != 0) {
			/* made, but no PROGRAM ran: a failed spawn, as
			 * posix_spawn reports it, not one served */
			counts.served--;
			counts.failed++;
			errno = err;
			warn("cannot run %s:", o.argv[0]);
			slot_free(s);
			log_status();
		} else
			child_ended(s, st);
	}
}

/* said once per episode, then a calm retry with a back-off doubling */
static int
back_off_longer(const char *what)
{
	if (!backoff.ms)
		warn("cannot %s (will retry):", what);
	backoff.ms = backoff.ms ? backoff.ms * 2 : BACKOFF_MIN_MS;
	if (backoff.ms > BACKOFF_MAX_MS)
		backoff.ms = BACKOFF_MAX_MS;
	return backoff.ms;
}

void
back_off(const char *what)
{
	if (backoff.until < 0)
		backoff.until = deadline_in(back_off_longer(what));
}

long long
back_off_until(void)
{
	return backoff.until;
}

int
backing_off(void)
{
	return backoff.until >= 0 || nretry != 0;
}

void
back_off_over(void)
{
	if (backoff.ms && o.verbosity != QUIET)
		note("accepting again");
	backoff.ms = 0;
}

int
out_of_resources(int err)
{
	return err == ENOMEM || err == EMFILE || err == ENFILE ||
	    err == ENOBUFS;
}

/* a client whose child was not made is closed (it sees EOF) and its slot
 * freed */
static void
close_pending(struct slot *s)
{
	close(s->fd);
	nretry -= s->retry;
	slot_free(s);
}

/*
 * Make s's child (its fd and env set).  A child made is running now.  A
 * spawn that failed for want of a process or memory is kept and tried
 * again after a back-off, never dropped; after SIGTERM it is closed.  Any
 * other failure is exec's, said with PROGRAM's name, and the client gets
 * EOF.
 */
static void
try_spawn(struct slot *s)
{
	int err = spawn(s);

	if (err == 0) {
		s->state = SLOT_RUNNING;
		counts.served++;
		if (s->retry) {
			s->retry = 0;
			if (--nretry == 0)
				back_off_over();
		}
		if (o.verbosity == VERBOSE) {
			if (socket_at(s->ln)->ipc)	/* ip: credentials */
				note("pid %ld from %s", (long)s->pid, s->ip);
			else
				note("pid %ld from %s port %u", (long)s->pid,
				    s->ip, s->port);
			log_status();
		}
		return;
	}
	/* EAGAIN: fork's "no process left" */
	if (err == EAGAIN || out_of_resources(err)) {
		s->state = SLOT_FAILED;
		if (!s->retry)
			nretry++;
		s->retry = 1;
		errno = err;
		back_off("fork");
		return;
	}
	counts.failed++;
	errno = err;
	warn("cannot run %s:", o.argv[0]);
	close_pending(s);
	log_status();
}

void
child_start(struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy, const struct proxy_tls *tls,
    const struct rule *rule)
{
	slot_use(s);
	if (make_env(s, cfd, local, proxy, tls, rule) < 0) {
		close(cfd);
		slot_free(s);
		counts.failed++;
		warn("no room for a child's environment");
		return;
	}
	s->fd = cfd;
	s->retry = 0;
	try_spawn(s);
}

/* a client that left while it waited for a process: reset, or its side
 * closed with not a byte sent; its child would only meet a closed door */
static int
gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	int n = 0;

	if (poll(&p, 1, 0) != 1)
		return 0;
	if (p.revents & (POLLERR | POLLHUP))
		return 1;
	return (p.revents & POLLRDHUP) && ioctl(fd, FIONREAD, &n) == 0 &&
	    n == 0;
}

/* the back-off is over: the failed spawns are tried again, but a client
 * that has gone is closed without a child */
static void
retry_failed(void)
{
	long i;

	for (i = slots_used(); i-- > 0;) {
		struct slot *s = slot_used(i);

		if (s->state != SLOT_FAILED)
			continue;
		if (gone(s->fd)) {
			close_pending(s);
			if (nretry == 0)
				back_off_over();
			log_status();
		} else
			try_spawn(s);
	}
}

void
back_off_retry(long long now)
{
	if (backoff.until >= 0 && now >= backoff.until) {
		backoff.until = -1;
		retry_failed();
	}
}

void
term_children(void)
{
	long i;

	for (i = 0; i < slots_used(); i++)
		if (slot_used(i)->state == SLOT_RUNNING)
			kill(slot_used(i)->pid, SIGTERM);
}

void
close_failed(void)
{
	long i;

	for (i = slots_used(); i-- > 0;)
		if (slot_used(i)->state == SLOT_FAILED)
			close_pending(slot_used(i));
}
