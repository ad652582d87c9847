/* SPDX-License-Identifier: ISC */
/* The record sink: choosing and opening it (a file, stderr, syslog), and
 * writing to it within a bounded wait; a regular file goes through the one
 * writers' discipline of lib/append.c.  Apart from the record format. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "deadline.h"
#include "slog.h"
#include "util.h"
#include "sink.h"

/* how often an open retries a FIFO with no reader yet */
#define FIFO_NAP_NS 10000000

/* -l FILE, *readable set when it may be read (on entry: stat(2) says it
 * is a regular file, or that there is none yet).  A regular file is
 * opened for reading too, to see a torn last record, so it needs no
 * second description; anything else (a FIFO) write-only, O_NONBLOCK:
 * with no reader the open fails at once (ENXIO) instead of blocking in
 * it, and gets SINK_WAIT_MS to find one.  No O_CLOEXEC: the handler runs
 * nothing. */
static int
open_file(const char *path, int *readable)
{
	long long end = DEADLINE_NONE;	/* the clock read only for a FIFO */
	struct timespec nap = { 0, FIFO_NAP_NS };
	int fd, flags = O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK;

	if (*readable) {
		fd = open(path, flags | O_RDWR, 0640);
		if (fd >= 0 || errno != EACCES)
			goto opened;
		*readable = 0;	/* may append, may not read (0622) */
	}
	while ((fd = open(path, flags | O_WRONLY, 0640)) < 0 &&
	    errno == ENXIO) {
		if (end == DEADLINE_NONE)
			end = deadline_in(SINK_WAIT_MS);
		else if (deadline_expired(end))
			break;
		nanosleep(&nap, NULL);
	}
opened:
	if (fd < 0 && errno == ENXIO)
		warn("cannot open record file %s: no reader for %d s", path,
		    SINK_WAIT_MS / 1000);
	else if (fd < 0)
		warn("cannot open record file %s:", path);
	return fd;
}

/*
 * Records on a stderr pipe: an open file description of our own, so that
 * it can be non-blocking without changing it for anyone else.  Where it
 * cannot be reopened (no /proc, a socket) fd 2 itself is used.  (A regular
 * file gets its own description from append_open.)
 */
static int
reopen_stderr(void)
{
	int fd = reopen_nonblocking(2);

	return fd >= 0 ? fd : 2;
}

/* the null device (Linux's 1,3, by any name): it takes every record and
 * keeps none, so nothing is opened and nothing written */
static int
null_device(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

int
sink_open(struct sink *s, const struct sink_opts *o)
{
	struct stat st;
	int readable;

	s->sync = o->sync;
	if (o->use_syslog || (o->logpath == NULL && o->conn_on_stderr)) {
		s->kind = SINK_SYSLOG;
		s->name = "syslog at /dev/log";
	} else if (o->logpath == NULL || strcmp(o->logpath, "-") == 0) {
		s->kind = SINK_STDERR;
		s->name = "stderr";
		s->reg = append_open(&s->app, 2, 0) == 0;
		s->fd = s->reg ? s->app.fd : reopen_stderr();
	} else {
		s->name = o->logpath;
		if (stat(o->logpath, &st) == 0) {
			if (null_device(&st)) {
				s->kind = SINK_NULL;
				return 0;
			}
			readable = S_ISREG(st.st_mode);
		} else
			readable = errno == ENOENT;
		s->kind = SINK_FILE;
		s->fd = open_file(o->logpath, &readable);
		if (s->fd < 0)
			return -1;
		s->reg = append_adopt(&s->app, s->fd, readable) == 0;
		s->how = HOW_WRITE;	/* not regular: we opened it O_NONBLOCK */
	}
	if (s->kind == SINK_STDERR && !s->reg) {
		s->how = (fcntl(s->fd, F_GETFL) & O_NONBLOCK) ? HOW_WRITE :
		    HOW_POLLFIRST;
	}
	return 0;
}

size_t
sink_whole(const struct sink *s, int *one)
{
	*one = s->kind == SINK_SYSLOG;
	if (*one)
		return SYSLOG_MAX;
	return s->reg || s->kind == SINK_NULL ? 0 : PIPE_ATOMIC;
}

int
sink_stamps(const struct sink *s)
{
	return s->kind == SINK_SYSLOG;
}

const char *
sink_what(const struct sink *s)
{
	return s->kind == SINK_SYSLOG ? "syslog" : "a pipe";
}

/*
 * Into a regular file records go the one writers' way (append_write): one
 * append under the lock every writer takes, after a torn record is cut,
 * and if it fails part-way (disk full, file size limit) the partial record
 * is taken back out before anyone appends after it: the file never holds
 * half a record.  A pipe gets at most PIPE_BUF at once, written whole or
 * not at all.  Syslog takes one record, its LF left out.
 */
size_t
sink_write(struct sink *s, const char *p, size_t len)
{
	if (s->kind == SINK_SYSLOG)
		return slog_send(SLOG_INFO, p, len - 1) < 0 ? 0 : len;
	if (s->kind == SINK_NULL)
		return len;
	if (!s->reg)
		return write_within(s->fd, p, len, SINK_WAIT_MS, s->how);
	return append_write(&s->app, p, len, SINK_WAIT_MS);
}

int
sink_defers(const struct sink *s)
{
	return s->reg && !s->sync;
}

int
sink_ready(struct sink *s)
{
	return s->reg ? append_probe(&s->app, SINK_WAIT_MS) : 0;
}

int
sink_sync(struct sink *s)
{
	return s->sync && s->reg ? fsync(s->fd) : 0;
}

/* the bounded waits in our words */
void
sink_failed(const struct sink *s)
{
	if (errno == ETIMEDOUT)
		warn("cannot write record to %s: it took nothing for %d s",
		    s->name, SINK_WAIT_MS / 1000);
	else if (errno == EWOULDBLOCK && s->reg)
		warn("cannot write record to %s: another process held its "
		    "lock for %d s", s->name, SINK_WAIT_MS / 1000);
	else
		warn("cannot write record to %s:", s->name);
}
