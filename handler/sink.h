/* SPDX-License-Identifier: ISC */
/* Where records go (sink.c): a file, stderr or syslog, opened once and
 * written within SINK_WAIT_MS. */
#ifndef HANDLER_SINK_H
#define HANDLER_SINK_H

#include <stddef.h>

#include "append.h"
#include "writes.h"

/* a sink that takes nothing (a lock held, a pipe nobody reads, a FIFO
 * with no reader) gets this long per record, then the record fails */
#define SINK_WAIT_MS 5000
/* what syslog daemons carry whole by default (rsyslog's maxMessageSize) */
#define SYSLOG_MAX 8192

/* SINK_NULL: -l names the null device, which keeps nothing: nothing is
 * opened or written, and every record is taken */
enum sinkkind { SINK_FILE, SINK_STDERR, SINK_SYSLOG, SINK_NULL };

/* what the options say of the sink */
struct sink_opts {
	const char *logpath;	/* -l: NULL none, "-" stderr */
	int use_syslog;		/* -s */
	int sync;		/* -S */
	int conn_on_stderr;	/* fd 2 is the connection: no place for records */
};

struct sink {
	enum sinkkind kind;
	int fd;
	int reg;		/* a regular file, written through app */
	struct append app;
	enum how how;		/* how to write one that is not */
	int sync;		/* fsync before a record counts */
	const char *name;
};

/* what the sink takes whole in one write: 0 for any length (a regular
 * file), else at most that many bytes, and *one set when a write carries
 * one record only (a syslog datagram) */
size_t sink_whole(const struct sink *s, int *one);
/* whether the sink's reader stamps the time and ident itself (syslog) */
int sink_stamps(const struct sink *s);
/* the kind of sink with a limit, for a message: "syslog", "a pipe" */
const char *sink_what(const struct sink *s);
/* open the sink; -1 (and a diagnostic) if it cannot be opened */
int sink_open(struct sink *s, const struct sink_opts *o);
/* write whole records p..p+len: the bytes written, short with errno set */
size_t sink_write(struct sink *s, const char *p, size_t len);
/* whether a record may wait for the next write (a regular file without
 * -S: sink_ready says beforehand whether it can be written) */
int sink_defers(const struct sink *s);
/* could a record be written now (the writers' lock free, or freed within
 * SINK_WAIT_MS)?  0, or -1 with errno set */
int sink_ready(struct sink *s);
/* with -S, what was written is on the disk: 0, or -1 */
int sink_sync(struct sink *s);
/* say why a record was not written (errno) */
void sink_failed(const struct sink *s);

#endif
