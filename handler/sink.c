/* SPDX-License-Identifier: ISC */
/* The record sink: choosing and opening it (a file, stderr, syslog), and
 * writing to it within a bounded wait; a regular file goes through the one
 * writers' discipline of lib/append.c.  Apart from the record format. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "deadline.h"
#include "slog.h"
#include "util.h"
#include "sink.h"

/* how often an open retries a FIFO with no reader yet */
#define FIFO_NAP_NS 10000000

/* -l FILE.  O_NONBLOCK: a FIFO with no reader fails the open at once
 * (ENXIO) instead of blocking in it; it gets SINK_WAIT_MS to find one */
static int
open_file(const char *path)
{
	long long end = deadline_in(SINK_WAIT_MS);
	struct timespec nap = { 0, FIFO_NAP_NS };
	int fd;

	while ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY | O_NONBLOCK, 0640)) < 0 && errno == ENXIO &&
	    !deadline_expired(end))
		nanosleep(&nap, NULL);
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

int
sink_open(struct sink *s, const struct sink_opts *o)
{
	s->sync = o->sync;
	if (o->use_syslog || (o->logpath == NULL && o->conn_on_stderr)) {
		s->kind = SINK_SYSLOG;
		s->name = "syslog";
	} else if (o->logpath == NULL || strcmp(o->logpath, "-") == 0) {
		s->kind = SINK_STDERR;
		s->name = "stderr";
		s->reg = append_open(&s->app, 2, 0) == 0;
		s->fd = s->reg ? s->app.fd : reopen_stderr();
	} else {
		s->kind = SINK_FILE;
		s->name = o->logpath;
		s->fd = open_file(o->logpath);
		if (s->fd < 0)
			return -1;
		s->reg = append_open(&s->app, s->fd, 1) == 0;
		if (s->reg) {
			close(s->fd);
			s->fd = s->app.fd;
		}
	}
	if (s->kind != SINK_SYSLOG && !s->reg) {
		s->how = (fcntl(s->fd, F_GETFL) & O_NONBLOCK) ? HOW_WRITE :
		    HOW_POLLFIRST;
	}
	return 0;
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
	if (!s->reg)
		return write_within(s->fd, p, len, SINK_WAIT_MS, s->how);
	return append_write(&s->app, p, len, SINK_WAIT_MS);
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
