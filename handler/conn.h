/* SPDX-License-Identifier: ISC */
/* The connection (conn.c): its parts (sink, records, input, output,
 * counts), the replies, and how it ends. */
#ifndef HANDLER_CONN_H
#define HANDLER_CONN_H

#include <stddef.h>
#include <sys/stat.h>

#include "buf.h"
#include "record.h"
#include "sink.h"
#include "writes.h"

#define REPLY_CANNOT "error cannot record message\n"
/* how long a kept connect record waits for the first line */
#define KEPT_MS 100

enum endreason { END_EOF, END_TIMEOUT, END_RESET, END_ERROR, END_SHUTDOWN };

/* what the client sends, framed into lines */
struct input {
	char *p;
	size_t len, cap;
	size_t maxline;
	int discarding;		/* inside a line over the limit */
	unsigned long long skipped;	/* its length so far */
	int skip_cr;		/* its last byte was a CR */
};

/* the replies to the client */
struct output {
	int fd;
	enum how how;
	int sendwait_ms;
	long long session_end;	/* -T: when the connection ends (a deadline) */
	struct buf rep;		/* replies not yet sent: this batch's */
};

/* messages numbered, and the last whose record is written */
struct counts {
	unsigned long long seq, durable, bytes;
	struct decimal seqdec;	/* seq in decimal */
	unsigned long long acked;	/* oks sent before this batch */
};

struct conn {
	struct sink sink;
	struct record rec;
	struct input in;
	struct output out;
	struct counts count;
	int failed;		/* a record could not be written */
	int unannounced;	/* a relay's check: no connect record yet */
	const char *connect;	/* the connect record's text */
	size_t batch_read;	/* input the batch in hand has read */
	int batch_split;	/* its records were written before its end */
	int kept;		/* the connect record waits for the first batch */
	long long kept_until;	/* and is written alone then (a deadline) */
};

/* "eof", "timeout" ... as the disconnect record says it */
const char *end_reason(enum endreason why);
int is_reset(int err);

/* open the sink, make the record head for peer and who (tlsid.h), and
 * bring the line limit down to what the sink takes whole (saying so if -m
 * asked for more): 0, or -1 said */
int conn_sink_init(struct conn *c, const struct sink_opts *o,
    int maxline_set, const char *peer, const char *who);
/* the connect record, before the greeting: written now, or where the
 * sink defers (a regular file), kept to go out in one write with the
 * first batch's records, once sink_ready says the file can be written;
 * a client whose first line is slow to come gets it written alone after
 * KEPT_MS.  0, or -1 said */
int conn_connect(struct conn *c);
/* a relay's health check (v2 LOCAL) is recorded only once it sends a
 * byte: its connect record then, if not made yet, kept for the write of
 * the records that follow */
void conn_announce(struct conn *c);
/* the connection's output, fd 1 (st1: its fstat); replies wait for a
 * reader at most timeout seconds (0: a default) */
void output_init(struct output *out, long timeout, const struct stat *st1);
/* replies: queued, then sent by rep_flush */
void reply(struct output *out, const char *s, size_t n);
void reply_ok(struct output *out, const struct decimal *n);
/* keep the replies of this batch up to its `upto`-th ok */
void rep_keep_oks(struct output *out, unsigned long long upto);
/* send what is queued; -1 with the reason set on failure */
int rep_flush(struct output *out, enum endreason *why);
/* a last line for a connection cut short; returns end */
enum endreason say_end(struct output *out, const char *line,
    enum endreason end);
/* TCP_NODELAY and keepalive on fd 0 when tcp says it is TCP */
void tcp_options(int tcp);
/* after an early end: stop writing, drain input for a moment */
void linger(void);

#endif
