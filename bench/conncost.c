/* SPDX-License-Identifier: ISC */
/* conncost: what one connection costs the program that serves it, one
 * connection at a time, with nothing of a launcher's own work in the sum.
 *
 *   conncost RUNS 'PROGRAM [ARG...]' ['PROGRAM [ARG...]' ...]
 *
 * Each PROGRAM (an absolute path; words split at spaces) is started in
 * turn, RUNS times, with posix_spawn on a connection accepted from a
 * loopback TCP listener that has msgd-launcher's socket options, on fds 0
 * and 1 (fd 2 on /dev/null), and the environment msgd-launcher gives a
 * child (PROTO=TCP, TCPLOCAL*, TCPREMOTE*, MSGDTCPOPTS).  The client side
 * holds loadgen's conversation (the greeting, "ping", its ok, a half-close,
 * bye and EOF) and checks every byte; wait4's rusage gives the program's
 * own CPU, exec included.  Prints a line a program: "med_us=N mean_us=N".
 * Exits 1 when a run fails (cannot start, wrong bytes, a status not 0), 2
 * on bad usage. */
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROGS_MAX 16
#define WORDS_MAX 16

extern char **environ;

static const char expect[] = "hello\nok 1\nbye 1\n";

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* read from fd until len bytes are in buf (or EOF, with upto 0): how many */
static size_t
read_upto(int fd, char *buf, size_t have, size_t cap, size_t upto)
{
	ssize_t n;

	while ((upto == 0 || have < upto) &&
	    (n = read(fd, buf + have, cap - have)) > 0)
		have += (size_t)n;
	return have;
}

/* the listener, with the options msgd-launcher sets on its own */
static int
listener(struct sockaddr_in *a)
{
	int one = 1, idle = 60, intvl = 10, cnt = 6, l;
	socklen_t al = sizeof *a;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = 0;
	setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(l, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
	setsockopt(l, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
	setsockopt(l, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
	setsockopt(l, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
	if (bind(l, (struct sockaddr *)a, sizeof *a) < 0 || listen(l, 64) < 0 ||
	    getsockname(l, (struct sockaddr *)a, &al) < 0)
		return -1;
	return l;
}

/* one connection served by argv[0]: its CPU in us, or -1 said */
static double
one_run(int l, const struct sockaddr_in *a, char **argv)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	char buf[256];
	size_t got;
	pid_t pid;
	int s, c, st;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (const struct sockaddr *)a, sizeof *a) < 0 ||
	    (c = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0) {
		perror("conncost: connect");
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, c, 0);
	posix_spawn_file_actions_adddup2(&fa, c, 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	st = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(c);
	if (st != 0) {
		fprintf(stderr, "conncost: cannot start %s: %s\n", argv[0],
		    strerror(st));
		close(s);
		return -1;
	}
	got = read_upto(s, buf, 0, sizeof buf, 6);
	if (write(s, "ping\n", 5) != 5)
		perror("conncost: write");
	got = read_upto(s, buf, got, sizeof buf, 11);
	shutdown(s, SHUT_WR);
	got = read_upto(s, buf, got, sizeof buf, 0);
	close(s);
	if (wait4(pid, &st, 0, &ru) < 0 || st != 0 || got != sizeof expect - 1 ||
	    memcmp(buf, expect, got) != 0) {
		fprintf(stderr, "conncost: %s: status %d, %zu bytes: %.*s\n",
		    argv[0], st, got, (int)got, buf);
		return -1;
	}
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int
main(int argc, char **argv)
{
	char *words[PROGS_MAX][WORDS_MAX + 1], *spec[PROGS_MAX];
	double *cpu[PROGS_MAX];
	struct sockaddr_in a;
	int runs, np = argc - 2, k, r, l;

	if (argc < 3 || np > PROGS_MAX || (runs = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: conncost RUNS 'PROGRAM [ARG...]' ...\n");
		return 2;
	}
	for (k = 0; k < np; k++) {
		char *w;
		int n = 0;

		if ((spec[k] = strdup(argv[2 + k])) == NULL)
			return 1;
		w = strtok(argv[2 + k], " ");
		while (w && n < WORDS_MAX) {
			words[k][n++] = w;
			w = strtok(NULL, " ");
		}
		words[k][n] = NULL;
		if (n == 0 || words[k][0][0] != '/' ||
		    (cpu[k] = calloc((size_t)runs, sizeof **cpu)) == NULL) {
			fprintf(stderr, "conncost: PROGRAM must be an absolute "
			    "path\n");
			return 2;
		}
	}
	if ((l = listener(&a)) < 0) {
		perror("conncost: listen");
		return 1;
	}
	setenv("PROTO", "TCP", 1);
	setenv("TCPLOCALIP", "127.0.0.1", 1);
	setenv("TCPLOCALPORT", "9100", 1);
	setenv("TCPREMOTEIP", "127.0.0.1", 1);
	setenv("TCPREMOTEPORT", "40000", 1);
	setenv("MSGDTCPOPTS", "nodelay,keepalive,60,10,6", 1);
	for (r = 0; r < runs; r++)
		for (k = 0; k < np; k++)
			if ((cpu[k][r] = one_run(l, &a, words[k])) < 0)
				return 1;
	for (k = 0; k < np; k++) {
		double sum = 0;

		for (r = 0; r < runs; r++)
			sum += cpu[k][r];
		qsort(cpu[k], (size_t)runs, sizeof **cpu, cmp);
		printf("%s: med_us=%.0f mean_us=%.1f\n", spec[k],
		    cpu[k][runs / 2], sum / runs);
	}
	return 0;
}
