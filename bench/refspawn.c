/* SPDX-License-Identifier: ISC */
/* refspawn: bare reference spawners, the ceiling bench/launcher.sh measures
 * msgd-launcher against.  Each listens on 127.0.0.1, prints its port, and
 * for every connection starts PROGRAM with the socket on fds 0 and 1 and
 * nothing else: no limits, no environment, no log.
 *
 *   refspawn fork PROGRAM [ARG...]       accept, fork, exec
 *   refspawn spawnN PROGRAM [ARG...]     N threads, each accept, posix_spawn
 *   refspawn clone PROGRAM [ARG...]      accept, clone(CLONE_VM) on a stack
 *                                        of its own per child, exec
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define USAGE "usage: refspawn fork|spawnN|clone PROGRAM [ARG...]\n"
#define SLOTS 1024
#define STACK (64 * 1024)

static int lfd;
static char **prog;

static void
fail(const char *what)
{
	perror(what);
	exit(1);
}

static int
take(void)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		if (errno != EINTR && errno != ECONNABORTED)
			fail("accept");
	return fd;
}

static void
by_fork(void)
{
	for (;;) {
		int fd = take();

		switch (fork()) {
		case -1:
			perror("fork");
			break;
		case 0:
			dup2(fd, 0);
			dup2(fd, 1);
			execv(prog[0], prog);
			_exit(127);
		}
		close(fd);
	}
}

static void *
spawner(void *arg)
{
	posix_spawn_file_actions_t fa;

	(void)arg;
	for (;;) {
		int fd = take(), err;
		pid_t pid;

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, fd, 0);
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
		err = posix_spawn(&pid, prog[0], &fa, NULL, prog, environ);
		if (err)
			fprintf(stderr, "posix_spawn: %s\n", strerror(err));
		posix_spawn_file_actions_destroy(&fa);
		close(fd);
	}
	return NULL;
}

static void
by_spawn(int n)
{
	pthread_t t;
	int i;

	for (i = 1; i < n; i++)
		if (pthread_create(&t, NULL, spawner, NULL))
			fail("pthread_create");
	spawner(NULL);
}

/* the child shares our memory until it execs: it reads only its argument
 * and prog, which never change */
static int
cloned(void *arg)
{
	int fd = (int)(long)arg;

	dup2(fd, 0);
	dup2(fd, 1);
	execv(prog[0], prog);
	_exit(127);
}

/* a stack per running child, free again once it is reaped */
static void
by_clone(void)
{
	static pid_t slot[SLOTS];
	char *stacks = mmap(NULL, (size_t)SLOTS * STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int i, n = 0;

	if (stacks == MAP_FAILED)
		fail("mmap");
	for (;;) {
		int fd = take();
		pid_t pid;

		for (;;) {
			int st;

			pid = waitpid(-1, &st, n < SLOTS ? WNOHANG : 0);
			if (pid <= 0)
				break;
			for (i = 0; i < SLOTS && slot[i] != pid; i++)
				;
			if (i < SLOTS) {
				slot[i] = 0;
				n--;
			}
		}
		for (i = 0; slot[i]; i++)
			;
		pid = clone(cloned, stacks + (size_t)(i + 1) * STACK,
		    CLONE_VM | SIGCHLD, (void *)(long)fd);
		if (pid < 0)
			perror("clone");
		else {
			slot[i] = pid;
			n++;
		}
		close(fd);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	int one = 1, threads = 0;

	if (argc < 3 || argv[2][0] != '/') {
		fputs(USAGE "PROGRAM must be an absolute path\n", stderr);
		return 2;
	}
	if (strncmp(argv[1], "spawn", 5) == 0) {
		threads = atoi(argv[1] + 5);
		if (threads < 1 || threads > 64) {
			fputs(USAGE, stderr);
			return 2;
		}
	} else if (strcmp(argv[1], "fork") && strcmp(argv[1], "clone")) {
		fputs(USAGE, stderr);
		return 2;
	}
	prog = argv + 2;
	/* children reaped by the kernel, except where the clone slots need
	 * the pid back */
	if (strcmp(argv[1], "clone"))
		signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one) < 0 || bind(lfd, (struct sockaddr *)&sin,
	    sizeof sin) < 0 || listen(lfd, 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		fail("listen");
	printf("%u\n", ntohs(sin.sin_port));
	fflush(stdout);
	if (threads)
		by_spawn(threads);
	else if (strcmp(argv[1], "fork") == 0)
		by_fork();
	else
		by_clone();
	return 0;
}
