/* SPDX-License-Identifier: ISC */
/* Fuzz the handler's line framing, records and acknowledgements: its
 * message loop (frame.o) with the real framing, batches and record writing,
 * fed the input in reads of fuzzer-chosen sizes through its input seam
 * (input.h), records to a memfd, replies (fd 1) to another; both are
 * compared with a line-by-line reference.
 * Input: byte 0 sets the line limit (1 to 64), byte 1 the number K (0 to 7)
 * of read sizes that follow (each 1 to 256, used in turn; none: one read),
 * and the rest is what the client sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "escape.h"
#include "frame.h"
#include "fuzz.h"
#include "input.h"

/* the client: reads of the chosen sizes, then EOF; always readable */
static struct {
	const uint8_t *p;
	size_t left;
	const uint8_t *sizes;
	size_t nsizes, next;
} client;

/* the handler's input seam, in place of input.o: always readable, and
 * fd 0 is the client above (make fuzz builds frame.o with batches and
 * their bounds small enough for these inputs to reach) */
int
input_ready(long long end)
{
	(void)end;
	return 1;
}

/* more input waits while the client has some left */
int
input_waiting(void)
{
	return client.left > 0;
}

ssize_t
input_read(void *buf, size_t n)
{
	size_t k = client.left;

	if (client.nsizes > 0) {
		size_t want = 1 + (size_t)client.sizes[client.next++ %
		    client.nsizes];

		if (want < k)
			k = want;
	}
	if (n < k)
		k = n;
	memcpy(buf, client.p, k);
	client.p += k;
	client.left -= k;
	return (ssize_t)k;
}

/* a line of the input and what the handler must make of it */
struct line {
	const uint8_t *p;
	size_t len;
	int ok;		/* within the limit: a message */
	int last;	/* at EOF without LF */
};

static int recfd = -1, outfd = -1, stdout_fd = -1;
static char recpath[64];

static void
setup(void)
{
	recfd = memfd_create("fuzz-records", 0);
	outfd = memfd_create("fuzz-replies", 0);
	stdout_fd = dup(1);
	CHECK(recfd >= 0 && outfd >= 0 && stdout_fd >= 0, "memfd: %s",
	    strerror(errno));
	snprintf(recpath, sizeof recpath, "/proc/self/fd/%d", recfd);
	signal(SIGPIPE, SIG_IGN);
}

/* the whole content of a memfd, NUL-terminated; *n its length */
static char *
slurp(int fd, size_t *n)
{
	struct stat st;
	char *b;

	CHECK(fstat(fd, &st) == 0, "fstat: %s", strerror(errno));
	b = malloc((size_t)st.st_size + 1);
	CHECK(b != NULL, "out of memory");
	CHECK(pread(fd, b, (size_t)st.st_size, 0) == st.st_size, "pread");
	b[st.st_size] = '\0';
	*n = (size_t)st.st_size;
	return b;
}

/* the reference: split at LF, drop a CR before it, judge the length */
static size_t
ref_lines(struct line *l, const uint8_t *s, size_t n, size_t maxline)
{
	size_t k = 0, i = 0, j;

	while (i < n) {
		for (j = i; j < n && s[j] != '\n'; j++)
			;
		l[k].p = s + i;
		l[k].len = j - i;
		l[k].last = j == n;
		if (!l[k].last && l[k].len > 0 && s[j - 1] == '\r')
			l[k].len--;
		l[k].ok = l[k].len <= maxline;
		k++;
		i = j + 1;
	}
	return k;
}

static void
check_replies(const struct line *l, size_t k, size_t maxline)
{
	size_t n, wn = 0, i;
	char *got = slurp(outfd, &n), *want = malloc(64 * k + 1);
	unsigned long long seq = 0;

	CHECK(want != NULL, "out of memory");
	for (i = 0; i < k; i++)
		wn += l[i].ok ? (size_t)sprintf(want + wn, "ok %llu\n", ++seq) :
		    (size_t)sprintf(want + wn,
			"error line too long (max %zu bytes)\n", maxline);
	CHECK(n == wn && memcmp(got, want, n) == 0,
	    "replies differ:\n--- got\n%s--- want\n%s---", got, want);
	free(got);
	free(want);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ msgd-handler[PID]: fuzz " */
static size_t
check_head(const char *r, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	char tail[64];
	size_t i, tl;

	CHECK(n > sizeof shape, "short record: %.*s", (int)n, r);
	for (i = 0; i < sizeof shape - 1; i++)
		CHECK(shape[i] == 'd' ? r[i] >= '0' && r[i] <= '9' :
		    r[i] == shape[i], "bad time: %.*s", (int)n, r);
	tl = (size_t)snprintf(tail, sizeof tail, " msgd-handler[%ld]: fuzz ",
	    (long)getpid());
	CHECK(n >= i + tl && memcmp(r + i, tail, tl) == 0,
	    "bad record head: %.*s", (int)n, r);
	return i + tl;
}

/* one record per message and per over-long line, in order; an over-long
 * last line at EOF may instead be left to main(), which records it */
static void
check_records(const struct line *l, size_t k, const struct conn *c)
{
	size_t n, i, h, bn, en;
	char *recs = slurp(recfd, &n), *r = recs, *e = recs + n, *q;
	char want[96], *esc;
	unsigned long long seq = 0;

	CHECK(n == 0 || recs[n - 1] == '\n', "records end mid-line");
	for (i = 0; i < k; i++) {
		if (!l[i].ok && l[i].last && c->in.discarding) {
			CHECK(c->in.skipped == l[i].len, "skipped %llu, line %zu",
			    c->in.skipped, l[i].len);
			continue;
		}
		CHECK(r < e, "record for line %zu missing", i + 1);
		q = memchr(r, '\n', (size_t)(e - r));
		h = check_head(r, (size_t)(q - r));
		if (!l[i].ok) {
			bn = (size_t)snprintf(want, sizeof want,
			    "#- rejected: line too long (%zu bytes)", l[i].len);
		} else {
			bn = (size_t)snprintf(want, sizeof want,
			    "#%llu receive message: ", ++seq);
		}
		CHECK((size_t)(q - r) >= h + bn && memcmp(r + h, want, bn) == 0,
		    "record %zu: want '%s', got '%.*s'", i + 1, want,
		    (int)(q - r), r);
		if (l[i].ok) {
			const char *text = r + h + bn;
			size_t tn = (size_t)(q - text);

			check_escaped(text, tn, l[i].p, l[i].len);
			esc = malloc(4 * l[i].len + 1);
			CHECK(esc != NULL, "out of memory");
			en = ref_escape(esc, l[i].p, l[i].len);
			CHECK(tn == en && memcmp(text, esc, en) == 0,
			    "record %zu: text '%.*s', reference '%.*s'", i + 1,
			    (int)tn, text, (int)en, esc);
			free(esc);
		} else
			CHECK((size_t)(q - r) == h + bn, "record %zu: '%.*s'",
			    i + 1, (int)(q - r), r);
		r = q + 1;
	}
	CHECK(r == e, "extra records: %.*s", (int)(e - r), r);
	CHECK(!c->in.discarding || (k > 0 && l[k - 1].last && !l[k - 1].ok),
	    "still discarding after the input ended in a line");
	free(recs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn c;
	struct stat st1;
	struct sink_opts o;
	struct line *l;
	size_t maxline, k, hdr;
	enum endreason why;

	if (size < 2)
		return 0;
	if (recfd < 0)
		setup();
	maxline = 1 + data[0] % 64;
	hdr = 2 + data[1] % 8;
	if (hdr > size)
		return 0;
	client.sizes = data + 2;
	client.nsizes = hdr - 2;
	client.next = 0;
	client.p = data + hdr;
	client.left = size - hdr;
	CHECK(ftruncate(recfd, 0) == 0 && ftruncate(outfd, 0) == 0 &&
	    lseek(outfd, 0, SEEK_SET) == 0, "truncate: %s", strerror(errno));

	/* as main() sets up a connection, with -m maxline -l records -t 0 */
	memset(&c, 0, sizeof c);
	memset(&o, 0, sizeof o);
	o.logpath = recpath;
	c.in.maxline = maxline;
	CHECK(dup2(outfd, 1) == 1 && fstat(1, &st1) == 0, "dup2: %s",
	    strerror(errno));
	output_init(&c.out, 0, &st1);
	CHECK(conn_sink_init(&c, &o, 1, "fuzz", "") == 0, "conn_sink_init");
	c.in.cap = c.in.maxline + 1 + READSZ;
	c.in.p = malloc(c.in.cap);
	CHECK(c.in.p != NULL, "out of memory");
	why = handle_messages(&c, 0);
	CHECK(dup2(stdout_fd, 1) == 1, "dup2: %s", strerror(errno));
	CHECK(why == END_EOF && !c.failed, "the loop ended with %s",
	    end_reason(why));

	l = malloc((size - hdr + 1) * sizeof *l);
	CHECK(l != NULL, "out of memory");
	k = ref_lines(l, data + hdr, size - hdr, maxline);
	check_replies(l, k, maxline);
	check_records(l, k, &c);

	close(c.sink.fd);
	free(l);
	free(c.in.p);
	free(c.rec.pend.p);
	free(c.out.rep.p);
	return 0;
}
