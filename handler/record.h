/* SPDX-License-Identifier: ISC */
/* Records (record.c): the head every record starts with, the records made
 * and not yet written, and writing them to the sink. */
#ifndef HANDLER_RECORD_H
#define HANDLER_RECORD_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "addr.h"
#include "sink.h"
#include "tlsid.h"

/* the longest line there is a record for (-m's bound) */
#define MAXLINE_LIMIT (1024 * 1024)
/* the head's time ("YYYY-MM-DDTHH:MM:SS.mmmZ ") and ident
 * ("msgd-handler[PID]: ") at their longest, then the peer, then the TLS
 * identity (its room counted apart: most heads have none) */
#define HEAD_TIME_MAX 32
#define HEAD_IDENT_MAX 32
#define HEAD_BASE_MAX (HEAD_TIME_MAX + HEAD_IDENT_MAX + ADDR_PEERLEN)
#define HEAD_MAX (HEAD_BASE_MAX + TLSID_WHO_MAX)

struct record {
	/* what every record starts with: "TIME msgd-handler[PID]: PEER ",
	 * or just "PEER " for syslog, which adds time and ident itself;
	 * "WHO " after PEER when the client's certificate is known */
	char head[HEAD_MAX + PUT16_SLACK];	/* copied by put16 */
	size_t headlen;
	size_t wholen;		/* of that "WHO ", or 0 */
	int timed;		/* the head has a time to stamp */
	time_t ts_sec;		/* the second the head's time is of */
	struct buf pend;	/* records made, not yet written */
	unsigned long long nmsgs;	/* message records in pend */
};

/* the head for records to sink s of the client peer, known by who (its
 * TLS identity, tlsid.h: "" for none) */
void rec_head(struct record *r, const struct sink *s, const char *peer,
    const char *who);
/* the longest line whose record with r's head sink s takes whole, or 0
 * for any */
size_t rec_fits(const struct record *r, const struct sink *s);
/* the time, to the millisecond, into the record head */
void rec_stamp(struct record *r);
/* "#SEQ receive message: TEXT", TEXT the n bytes of line escaped */
void rec_message(struct record *r, const struct decimal *seq, const char *line,
    size_t n);
/* an over-long line leaves a trace: "#- rejected: line too long (N bytes)" */
void rec_rejected(struct record *r, unsigned long long n);
/* write the pending records: 0, or -1 with *msgs set to the messages
 * whose records were written whole (errno says why) */
int rec_flush(struct record *r, struct sink *s, unsigned long long *msgs);
/* stamp one record (connect) and keep it for the next write */
void rec_text(struct record *r, const char *text);
/* stamp and write one record with any kept before it (connect,
 * disconnect): 0, or -1 said */
int rec_single(struct record *r, struct sink *s, const char *text);

#endif
