/* SPDX-License-Identifier: ISC */
/* -a: whether the server acknowledged every line the client sent.  The
 * relay copies bytes blind; this reads both directions as msgd's protocol
 * (a message a line; "ok N", "error ...", "bye N" back), apart from it. */
#include <limits.h>
#include <string.h>

#include "ack.h"
#include "util.h"

/* "bye 18446744073709551615" and a CR fit; a longer line is no bye */
#define LINE_MAX_KEEP 32

static struct {
	unsigned long long sent;	/* LFs sent */
	int open;		/* bytes sent since the last LF */
	char line[LINE_MAX_KEEP];	/* the server's line so far, cut */
	size_t len;		/* its length, not cut */
	int error;		/* a line began with "error" */
	int bye;		/* the last whole line was "bye N" */
	unsigned long long bye_n;
} a;

void
ack_sent(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		a.sent += p[i] == '\n';
	if (n)
		a.open = p[n - 1] != '\n';
}

/* one whole line from the server, its LF (and a CR before it) gone; cut:
 * it was longer than that */
static void
server_line(const char *s, size_t n, int cut)
{
	long v;
	char num[LINE_MAX_KEEP];

	if (n >= 5 && memcmp(s, "error", 5) == 0)
		a.error = 1;
	a.bye = 0;
	if (!cut && n > 4 && n - 4 < sizeof num &&
	    memcmp(s, "bye ", 4) == 0) {
		memcpy(num, s + 4, n - 4);
		num[n - 4] = '\0';
		/* parse_num takes a long: more lines than that are not sent */
		if (parse_num(num, 0, LONG_MAX, &v) == 0) {
			a.bye = 1;
			a.bye_n = (unsigned long long)v;
		}
	}
}

void
ack_received(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n') {
			if (a.len < sizeof a.line)
				a.line[a.len] = (char)p[i];
			a.len++;
			continue;
		}
		if (a.len > sizeof a.line)
			server_line(a.line, sizeof a.line, 1);
		else
			server_line(a.line, a.len - (a.len &&
			    a.line[a.len - 1] == '\r'), 0);
		a.len = 0;
	}
}

int
ack_all(void)
{
	return a.bye && a.len == 0 && !a.error &&
	    a.bye_n == a.sent + (unsigned long long)a.open;
}
