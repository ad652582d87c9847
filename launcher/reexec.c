/* SPDX-License-Identifier: ISC */
/* SIGUSR2's re-exec in place: the program file checked by a run of its
 * own, then executed with the listeners, the pid file, the counters and
 * the running children handed over in a memory file; apart because it
 * touches everything once and nothing else touches it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "util.h"
#include "deadline.h"
#include "daemon.h"
#include "notify.h"
#include "opts.h"
#include "reexec.h"
#include "signals.h"
#include "slots.h"
#include "sockets.h"
#include "status.h"
#include "unix.h"

extern char **environ;

/* the new image's word that it runs with these arguments and rules */
#define CHECK_MS 10000
#define STATE_MAGIC "msgd-launcher state 1\n"

static char exe[PATH_MAX];	/* the program file, resolved at start */
static char cwd[PATH_MAX];	/* where relative paths in args start */
static char **args;
static char **env;	/* as given less ours and LISTEN_*; room for 1 */
static size_t nenv;
static int checking, heir, state_fd = -1;
static long adopted;

static int
not_passed_on(const char *e)
{
	return strncmp(e, "LISTEN_PID=", 11) == 0 ||
	    strncmp(e, "LISTEN_FDS=", 11) == 0 ||
	    strncmp(e, "LISTEN_FDNAMES=", 15) == 0 ||
	    strncmp(e, "MSGD_REEXEC_", 12) == 0;
}

void
reexec_init(char **argv)
{
	const char *st = getenv("MSGD_REEXEC_STATE");
	size_t n = 0, i;
	ssize_t len;
	long fd;

	args = argv;
	checking = getenv("MSGD_REEXEC_CHECK") != NULL;
	if (st && parse_num(st, 3, INT_MAX, &fd) == 0) {
		state_fd = (int)fd;
		heir = 1;
	}
	while (environ[n])
		n++;
	if ((env = calloc(n + 2, sizeof *env)) == NULL)
		die(1, "out of memory");
	for (i = 0; i < n; i++)
		if (!not_passed_on(environ[i]))
			env[nenv++] = environ[i];
	unsetenv("MSGD_REEXEC_STATE");
	unsetenv("MSGD_REEXEC_CHECK");
	len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[len > 0 ? len : 0] = '\0';
	/* renamed over already (an upgrade): the file now at that path */
	if (len > 10 && strcmp(exe + len - 10, " (deleted)") == 0)
		exe[len - 10] = '\0';
	if (getcwd(cwd, sizeof cwd) == NULL)
		cwd[0] = '\0';
}

int
reexec_checking(void)
{
	return checking;
}

int
reexec_heir(void)
{
	return heir;
}

long
reexec_adopted(void)
{
	return adopted;
}

/* a source's key (SOURCE_KEYLEN bytes) from its hex digits in the state */
static int
unhex_key(unsigned char *key, const char *in)
{
	if (strlen(in) != 2 * SOURCE_KEYLEN)
		return -1;
	return hex_decode(key, in, SOURCE_KEYLEN);
}

/* a child of the image before, in a slot of ours from now on */
static int
adopt_child(const char *line)
{
	struct slot *s;
	char key[2 * SOURCE_KEYLEN + 6], ip[ADDR_IPLEN];
	long pid, ln;

	if (slots_used() >= o.maxconn)
		return -1;
	s = slot_take();
	if (sscanf(line, "child %ld %ld %u %lu %lu %ld %39s %45s", &pid, &ln,
	    &s->port, &s->cred.uid, &s->cred.gid, &s->cred.pid, key, ip) != 8 ||
	    pid < 1 || ln < 0 || ln >= sockets_count() ||
	    unhex_key(s->key, key) < 0) {
		slot_return(s);
		return -1;
	}
	s->pid = (pid_t)pid;
	s->ln = (int)ln;
	if (strcmp(ip, "-") == 0)
		ip[0] = '\0';
	memcpy(s->ip, ip, sizeof ip);
	s->fd = -1;
	s->retry = 0;
	slot_use(s);
	s->state = SLOT_RUNNING;
	adopted++;
	return 0;
}

static int
adopt_line(const char *line, int relays)
{
	char name[64];
	unsigned long long dev, ino;
	int fd;

	if (strncmp(line, "child ", 6) == 0)
		return adopt_child(line);
	if (sscanf(line, "counts %lu %lu %lu %lu", &counts.served,
	    &counts.denied, &counts.bad_proxy, &counts.failed) == 4)
		return 0;
	if (sscanf(line, "listen %d %63s", &fd, name) == 2)
		return sockets_adopt(fd, strcmp(name, "-") ? name : "",
		    relays);
	if (sscanf(line, "pidfile %d", &fd) == 1) {
		if (o.pidfile)
			pidfile_adopt(o.pidfile, fd);
		else
			close(fd);
		return 0;
	}
	if (sscanf(line, "bound %llu %llu", &dev, &ino) == 2) {
		if (o.path)
			unix_adopt(o.path, (dev_t)dev, (ino_t)ino);
		return 0;
	}
	return -1;
}

int
reexec_adopt(int relays)
{
	char line[512];
	FILE *f = fdopen(state_fd, "r");

	if (f == NULL || fgets(line, sizeof line, f) == NULL ||
	    strcmp(line, STATE_MAGIC) != 0) {
		warn("the state handed over is not one of ours");
		return -1;
	}
	while (fgets(line, sizeof line, f))
		if (adopt_line(line, relays) < 0)
			warn("state handed over: ignored: %.*s",
			    (int)strcspn(line, "\n"), line);
	fclose(f);
	state_fd = -1;
	if (sockets_count() == 0) {
		warn("no listener was handed over");
		return -1;
	}
	return 0;
}

/* everything the new image takes over, into a memory file: its fd, or -1 */
static int
state_write(void)
{
	int fd = memfd_create("msgd-launcher-state", 0), pfd;
	char key[2 * SOURCE_KEYLEN + 1];
	dev_t dev;
	ino_t ino;
	long i;
	FILE *f;

	if (fd < 0 || (f = fdopen(dup(fd), "w")) == NULL) {
		warn("cannot re-execute: no memory file for the state:");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	fputs(STATE_MAGIC, f);
	fprintf(f, "counts %lu %lu %lu %lu\n", counts.served, counts.denied,
	    counts.bad_proxy, counts.failed);
	if ((pfd = pidfile_handed()) >= 0)
		fprintf(f, "pidfile %d\n", pfd);
	if (unix_bound(&dev, &ino))
		fprintf(f, "bound %llu %llu\n", (unsigned long long)dev,
		    (unsigned long long)ino);
	for (i = 0; i < sockets_count(); i++)
		fprintf(f, "listen %d %s\n", socket_at(i)->fd,
		    socket_at(i)->name[0] ? socket_at(i)->name : "-");
	for (i = 0; i < slots_used(); i++) {
		const struct slot *s = slot_used(i);

		hex_encode(key, s->key, SOURCE_KEYLEN);
		fprintf(f, "child %ld %d %u %lu %lu %ld %s %s\n", (long)s->pid,
		    s->ln, s->port, s->cred.uid, s->cred.gid, s->cred.pid, key,
		    s->ip[0] ? s->ip : "-");
	}
	if (fclose(f) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		warn("cannot re-execute: cannot write the state:");
		close(fd);
		return -1;
	}
	return fd;
}

/* what is handed over lives across the exec (on), or not (off) */
static void
hand_over(int on)
{
	long i;
	int fd = pidfile_handed();

	for (i = 0; i < sockets_count(); i++)
		fcntl(socket_at(i)->fd, F_SETFD, on ? 0 : FD_CLOEXEC);
	if (fd >= 0)
		fcntl(fd, F_SETFD, on ? 0 : FD_CLOEXEC);
}

/* the check's messages (its stderr) said as ours; 1 when one was */
static int
say_check(char *buf)
{
	char *line, *next;
	int said = 0;

	for (line = buf; *line; line = next) {
		size_t n = strcspn(line, "\n");

		next = line + n + (line[n] == '\n');
		line[n] = '\0';
		if (strncmp(line, "msgd-launcher: ", 15) == 0) {
			warn("cannot re-execute: %s; the old image goes on",
			    line + 15);
			said = 1;
		}
	}
	return said;
}

/* the check's stderr, whole or cut at len, within the deadline; the check
 * is killed when it runs out */
static void
read_check(int fd, pid_t pid, char *buf, size_t len)
{
	long long end = deadline_in(CHECK_MS);
	size_t got = 0;
	char scratch[256];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, deadline_poll_ms(end));
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			kill(pid, SIGKILL);
			snprintf(buf, len, "msgd-launcher: its check took more "
			    "than %d s\n", CHECK_MS / 1000);
			return;
		}
		r = got < len - 1 ? read(fd, buf + got, len - 1 - got) :
		    read(fd, scratch, sizeof scratch);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (got < len - 1)
			got += (size_t)r;
	}
	buf[got] = '\0';
}

/*
 * The new program file with our arguments and environment, run as a
 * check: it parses them and the rules as the new image would, and exits
 * 0 when they are good.  An execve that fails after its point of no
 * return would take this process with it; a check that fails takes
 * nothing.  0, or -1 said.
 */
static int
check(void)
{
	char buf[1024];
	sigset_t all, old;
	int p[2], st = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		warn("cannot re-execute: no pipe for the check:");
		return -1;
	}
	env[nenv] = "MSGD_REEXEC_CHECK=1";
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if ((pid = fork()) == 0) {
		char why[PATH_MAX + 100];
		int n;

		dup2(p[1], 2);
		if (cwd[0] && chdir(cwd) < 0)
			_exit(127);
		execve(exe, args, env);
		n = snprintf(why, sizeof why, "msgd-launcher: cannot execute "
		    "%s: %s\n", exe, strerror(errno));
		(void)!write(2, why, (size_t)n < sizeof why ? (size_t)n :
		    sizeof why - 1);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	env[nenv] = NULL;
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		warn("cannot re-execute: cannot fork the check:");
		return -1;
	}
	read_check(p[0], pid, buf, sizeof buf);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (!say_check(buf))
		warn("cannot re-execute %s: its check ended with %s %d; the "
		    "old image goes on", exe, WIFSIGNALED(st) ? "signal" :
		    "status", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
	return -1;
}

static void
notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	notify(msg);
}

void
reexec(void)
{
	char var[40];
	sigset_t all, old;
	int fd, err;

	notify_reloading();
	if (o.verbosity != QUIET)
		note("re-executing %s", exe[0] ? exe : "(unknown)");
	if (exe[0] == '\0') {
		warn("cannot re-execute: the program file is not known "
		    "(no /proc/self/exe); the old image goes on");
		notify("READY=1");
		return;
	}
	if (check() < 0) {
		notify("READY=1");
		return;
	}
	/* held from here to the new image's handlers: none lost, none
	 * run by a default that would end us */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (got_term) {		/* asked to stop meanwhile: that comes first */
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	/* what came during the check is the new image's to act on */
	if (got_hup)
		raise(SIGHUP);
	if (got_usr1)
		raise(SIGUSR1);
	if (got_usr2)
		raise(SIGUSR2);
	if ((fd = state_write()) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		notify("READY=1");
		return;
	}
	hand_over(1);
	snprintf(var, sizeof var, "MSGD_REEXEC_STATE=%d", fd);
	env[nenv] = var;
	if (cwd[0] && chdir(cwd) < 0)
		warn("cannot change back to %s:", cwd);
	execve(exe, args, env);
	err = errno;
	env[nenv] = NULL;
	if (o.daemon && chdir("/") < 0)
		warn("cannot change to /:");
	hand_over(0);
	close(fd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = err;
	warn("the old image goes on; cannot execute %s:", exe);
	notify("READY=1");
}
