/*
 * Children are made by posix_spawn(3) from SPAWNERS threads of their own.
 * posix_spawn is a vfork-style spawn: no page tables are copied, but the
 * calling thread is suspended until its child has exec'd.  Here that
 * thread is never the one that accepts, so the loop goes on taking,
 * checking and queueing clients while a child is made.  With glibc the two
 * spawners can each wait for an exec at once; musl's posix_spawn holds a
 * lock of its own until its child has exec'd, so there the second one only
 * overlaps the hand-back.
 *
 * The main thread owns every slot except while it is queued or being
 * spawned (from spawner_add until spawner_done hands it back); the queues
 * are the only state shared, under one mutex.  A spawner says a slot is
 * done by a byte on the main loop's wake-up pipe.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <unistd.h>

#include "msgd.h"
#include "launcher.h"

/* a ring of slot pointers; each slot is on at most one ring at a time */
struct ring {
	struct slot **s;
	size_t head, n, cap;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static struct ring todo, done;
static posix_spawnattr_t attr;
static const char *path;
static char *const *argv;
static int wake_fd;

static void
ring_push(struct ring *r, struct slot *s)
{
	r->s[(r->head + r->n++) % r->cap] = s;
}

static struct slot *
ring_pop(struct ring *r)
{
	struct slot *s;

	if (r->n == 0)
		return NULL;
	s = r->s[r->head];
	r->head = (r->head + 1) % r->cap;
	r->n--;
	return s;
}

/* the connection on fds 0 and 1 (fd 2 is ours, the rest close-on-exec);
 * on success the connection is the child's alone */
static int
spawn_one(struct slot *s)
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

static void *
spawner(void *unused)
{
	(void)unused;
	for (;;) {
		struct slot *s;
		char c = 'c';

		pthread_mutex_lock(&mu);
		while ((s = ring_pop(&todo)) == NULL)
			pthread_cond_wait(&work, &mu);
		pthread_mutex_unlock(&mu);

		s->err = spawn_one(s);

		pthread_mutex_lock(&mu);
		ring_push(&done, s);
		pthread_mutex_unlock(&mu);
		(void)!write(wake_fd, &c, 1);
	}
	return NULL;
}

int
spawner_init(int threads, long max, int wake, const char *program,
    char *const *args, const sigset_t *reset)
{
	pthread_attr_t ta;
	sigset_t all, old, none;
	int i, err;

	todo.cap = done.cap = (size_t)max;
	todo.s = calloc((size_t)max, sizeof *todo.s);
	done.s = calloc((size_t)max, sizeof *done.s);
	if (todo.s == NULL || done.s == NULL)
		return ENOMEM;
	path = program;
	argv = args;
	wake_fd = wake;

	/* the child: a session of its own (no terminal's ^C or hangup is
	 * its), signals at their defaults and unblocked */
	sigemptyset(&none);
	if ((err = posix_spawnattr_init(&attr)) ||
	    (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) ||
	    (err = posix_spawnattr_setsigdefault(&attr, reset)) ||
	    (err = posix_spawnattr_setsigmask(&attr, &none)))
		return err;

	/* signals are the main thread's: the spawners block them all */
	if ((err = pthread_attr_init(&ta)) ||
	    (err = pthread_attr_setstacksize(&ta, SPAWNER_STACK)) ||
	    (err = pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED)))
		return err;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < threads && err == 0; i++) {
		pthread_t t;

		err = pthread_create(&t, &ta, spawner, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&ta);
	return err;
}

void
spawner_add(struct slot *s)
{
	pthread_mutex_lock(&mu);
	ring_push(&todo, s);
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&mu);
}

struct slot *
spawner_done(void)
{
	struct slot *s;

	pthread_mutex_lock(&mu);
	s = ring_pop(&done);
	pthread_mutex_unlock(&mu);
	return s;
}

void
spawner_withdraw(int (*keep)(const struct slot *), void (*drop)(struct slot *))
{
	size_t i, n;

	pthread_mutex_lock(&mu);
	for (i = 0, n = todo.n; i < n; i++) {
		struct slot *s = ring_pop(&todo);

		if (keep(s))
			ring_push(&todo, s);
		else
			drop(s);
	}
	pthread_mutex_unlock(&mu);
}
