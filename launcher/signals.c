/* SPDX-License-Identifier: ISC */
/* The launcher's signals: each sets a flag and writes a byte to a pipe
 * that the loop polls, so nothing is done in a handler; apart so that the
 * loop only reads flags. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "signals.h"

/* signals arrive through a pipe, so the loop only ever waits in poll(2) */
static int sigpipe_fd[2];
volatile sig_atomic_t got_term, got_int, got_hup, got_usr1, got_usr2;

void
signals_hold(void)
{
	sigset_t early;

	sigemptyset(&early);
	sigaddset(&early, SIGTERM);
	sigaddset(&early, SIGINT);
	sigaddset(&early, SIGHUP);
	sigaddset(&early, SIGUSR1);
	sigaddset(&early, SIGUSR2);
	sigprocmask(SIG_BLOCK, &early, NULL);
}

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		got_term++;
	if (sig == SIGINT)
		got_int = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (sig == SIGUSR2)
		got_usr2 = 1;
	(void)!write(sigpipe_fd[1], &c, 1);
	errno = saved;
}

int
signals_init(sigset_t *child_reset)
{
	struct sigaction sa;
	sigset_t reset;
	int sig;

	if (pipe(sigpipe_fd) < 0)
		return -1;
	for (sig = 0; sig < 2; sig++)
		fcntl(sigpipe_fd[sig], F_SETFL, O_NONBLOCK),
		fcntl(sigpipe_fd[sig], F_SETFD, FD_CLOEXEC);
	/* signals we inherited as ignored stay ignored across exec: the child
	 * must get them back at their defaults; caught ones reset by exec */
	sigemptyset(&reset);
	for (sig = 1; sig < NSIG; sig++) {
		struct sigaction old;

		if (sig != SIGKILL && sig != SIGSTOP &&
		    sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			sigaddset(&reset, sig);
	}
	sigaddset(&reset, SIGPIPE);
	signal(SIGPIPE, SIG_IGN);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* re-read -x; never die of a hangup */
	sigaddset(&reset, SIGHUP);
	sigaction(SIGUSR1, &sa, NULL);	/* log the status line */
	sigaddset(&reset, SIGUSR1);
	sigaction(SIGUSR2, &sa, NULL);	/* re-execute in place */
	sigaddset(&reset, SIGUSR2);

	sigaddset(&reset, SIGCHLD);
	sigaddset(&reset, SIGTERM);
	sigaddset(&reset, SIGINT);
	*child_reset = reset;
	sigemptyset(&reset);
	sigprocmask(SIG_SETMASK, &reset, NULL);
	return 0;
}

int
signals_fd(void)
{
	return sigpipe_fd[0];
}

void
drain_signals(void)
{
	char buf[64];

	while (read(sigpipe_fd[0], buf, sizeof buf) > 0)
		;
}
