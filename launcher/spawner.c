/* SPDX-License-Identifier: ISC */
/*
 * Children are made by the accepting thread itself, with no hand-off.
 * On x86_64 and aarch64: clone(CLONE_VM) without CLONE_VFORK, so no page
 * table is copied and the launcher never waits for an exec.  The child
 * shares our memory until it execs, so it runs on a stack of its slot's
 * own, reads only what nothing changes until it is reaped (the program,
 * its arguments, the slot's environment and descriptor), and makes raw
 * system calls only: no errno, no libc lock, no thread state.  Signals
 * are all blocked across the clone, so no handler of ours ever runs in
 * the child.  Elsewhere, and in the ASan and valgrind builds
 * (MSGD_POSIX_SPAWN), posix_spawn(3), which waits for the exec.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "spawner.h"

#if !defined(MSGD_POSIX_SPAWN) && !defined(__SANITIZE_ADDRESS__) && \
    (defined(__x86_64__) || defined(__aarch64__))
#define BY_CLONE 1
#endif

#ifdef BY_CLONE
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* the child's stack: its frame and a few system calls, no handler ever
 * runs on it (see child); small, so that only a page per four children
 * is ever touched */
#define SPAWN_STACK 1024

/* the kernel's struct sigaction on both (not libc's) */
struct ksigaction {
	unsigned long handler, flags, restorer, mask;
};

/* system calls that touch no memory of ours but their arguments */
#if defined(__x86_64__)
static inline long
sys4(long n, long a, long b, long c, long d)
{
	register long r10 __asm__("r10") = d;
	long r;

	__asm__ volatile ("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b),
	    "d"(c), "r"(r10) : "rcx", "r11", "memory");
	return r;
}
#else
static inline long
sys4(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;

	__asm__ volatile ("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2),
	    "r"(x3) : "memory", "cc");
	return x0;
}
#endif

static const struct ksigaction dfl;	/* SIG_DFL, no flags, empty mask */
static const unsigned long no_signals, all_signals = ~0UL;
static char *stacks;
/* the signals a child gets back at their defaults */
static int reset_sig[64], nreset;
#endif

static const char *path;
static char *const *argv;

#ifdef BY_CLONE
/*
 * The child, in our memory: a process group of its own (a terminal's ^C
 * or a signal to the launcher's group is not its; not a session, which
 * would be a scheduler autogroup of its own for every child), the signals
 * of reset at their defaults, then none blocked, the connection on 0 and
 * 1 (fd 2 is ours, the rest close-on-exec), exec.  Signals are blocked
 * until their handlers are gone, so none runs on this stack.  A failed
 * exec leaves its errno in the slot and ends with status 127.
 */
static int
child(void *arg)
{
	struct slot *s = arg;
	long r;
	int i;

	sys4(SYS_setpgid, 0, 0, 0, 0);
	for (i = 0; i < nreset; i++)
		sys4(SYS_rt_sigaction, reset_sig[i], (long)&dfl, 0, 8);
	/* the connection is never 0 or 1: the launcher holds those */
	r = sys4(SYS_dup3, s->child_fd, 0, 0, 0);
	if (r >= 0)
		r = sys4(SYS_dup3, s->child_fd, 1, 0, 0);
	if (r >= 0) {
		sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&no_signals, 0, 8);
		r = sys4(SYS_execve, (long)path, (long)argv, (long)s->child_env,
		    0);
	}
	s->exec_err = (int)-r;
	sys4(SYS_exit, 127, 0, 0, 0);
	return 127;
}

int
spawner_init(struct slot *slot, long n, const char *program,
    char *const *args, const sigset_t *reset)
{
	long i;
	int sig;

	path = program;
	argv = args;
	for (sig = 1; sig < 65 && sig < NSIG; sig++)
		if (sigismember(reset, sig) == 1)
			reset_sig[nreset++] = sig;
	/* only the pages a child has run on are ever touched */
	stacks = mmap(NULL, (size_t)n * SPAWN_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (stacks == MAP_FAILED)
		return errno;
	for (i = 0; i < n; i++)
		slot[i].stack_top = stacks + (size_t)(i + 1) * SPAWN_STACK;
	return 0;
}

int
spawn(struct slot *s)
{
	unsigned long old;
	pid_t pid;
	int err = 0;

	/* what the child reads: the parent leaves it alone until the reap */
	s->child_fd = s->fd;
	s->child_env = s->env;
	s->exec_err = 0;
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all_signals, (long)&old,
	    8);
	pid = clone(child, s->stack_top, CLONE_VM | SIGCHLD, s);
	if (pid < 0)
		err = errno;
	sys4(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, 8);
	if (pid < 0)
		return err;
	s->pid = pid;
	close(s->fd);
	s->fd = -1;
	return 0;
}

int
spawn_exec_failed(const struct slot *s, int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
	    s->exec_err : 0;
}

#else
#include <spawn.h>

static posix_spawnattr_t attr;

int
spawner_init(struct slot *slot, long n, const char *program,
    char *const *args, const sigset_t *reset)
{
	sigset_t none;
	int err;

	(void)slot;
	(void)n;
	path = program;
	argv = args;
	/* the child: a process group of its own (not a session, a scheduler
	 * autogroup each), signals at their defaults and unblocked */
	sigemptyset(&none);
	if ((err = posix_spawnattr_init(&attr)) ||
	    (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) ||
	    (err = posix_spawnattr_setpgroup(&attr, 0)) ||
	    (err = posix_spawnattr_setsigdefault(&attr, reset)) ||
	    (err = posix_spawnattr_setsigmask(&attr, &none)))
		return err;
	return 0;
}

/* the connection on fds 0 and 1 (fd 2 is ours, the rest close-on-exec);
 * on success the connection is the child's alone */
int
spawn(struct slot *s)
{
	posix_spawn_file_actions_t fa;
	int err;

	err = posix_spawn_file_actions_init(&fa);
	if (err)
		return err;
	err = posix_spawn_file_actions_adddup2(&fa, s->fd, 0);
	if (err == 0)
		err = posix_spawn_file_actions_adddup2(&fa, s->fd, 1);
	if (err == 0)
		err = posix_spawn(&s->pid, path, &fa, &attr, argv, s->env);
	posix_spawn_file_actions_destroy(&fa);
	if (err == 0) {
		close(s->fd);
		s->fd = -1;
	}
	return err;
}

/* posix_spawn said it already */
int
spawn_exec_failed(const struct slot *s, int status)
{
	(void)s;
	(void)status;
	return 0;
}
#endif
