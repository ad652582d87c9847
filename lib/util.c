/* SPDX-License-Identifier: ISC */
/* Diagnostics, full writes and bounded number parsing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "append.h"
#include "slog.h"
#include "util.h"

/* the Makefile passes it, read from debian/changelog: one source */
#ifndef MSGD_VERSION
#error "MSGD_VERSION is the Makefile's (from debian/changelog)"
#endif

const char *progname = "msgd";
int usage_status = 2;
static int to_syslog;
static int shared;	/* stderr may be a record file: see diag_shared */

#define DIAG_WAIT_MS 1000

/* the description diagnostics on a regular-file stderr go through */
static struct append da = { .fd = -1 };

void
diag_syslog(int on)
{
	to_syslog = on;
	/* a daemon's stderr is about to be /dev/null: keep nothing open */
	if (on && da.fd >= 0)
		append_close(&da);
}

void
diag_shared(const struct stat st[3])
{
	shared = 1;
	append_handed(st);
}

/* a line on a stderr that is a regular file: appended as records are, for
 * it may be theirs (one writer discipline); 0, or -1 when it is not one */
static int
diag_append(const char *msg, size_t n)
{
	struct stat st;

	if (!shared || fstat(2, &st) < 0 || !S_ISREG(st.st_mode))
		return -1;
	/* fd 2 may have been replaced since (a daemon's /dev/null) */
	if (da.fd >= 0 && (da.dev != st.st_dev || da.ino != st.st_ino))
		append_close(&da);
	if (da.fd < 0 && append_open(&da, 2, 0) < 0) {
		da.fd = -1;
		return -1;
	}
	append_write(&da, msg, n, DIAG_WAIT_MS);
	return 0;
}

static void
vdiag(int prefix, int severity, const char *fmt, va_list ap)
{
	int saved = errno;
	char msg[1024];
	size_t n, fl = strlen(fmt);
	int off = prefix ? snprintf(msg, sizeof msg, "%s: ", progname) : 0;

	if (off < 0 || (size_t)off >= sizeof msg)
		off = 0;
	vsnprintf(msg + off, sizeof msg - off, fmt, ap);
	n = strlen(msg);
	if (fl > 0 && fmt[fl - 1] == ':')
		snprintf(msg + n, sizeof msg - n, " %s", strerror(saved));
	n = strlen(msg);
	if (to_syslog) {
		/* syslog adds the ident itself */
		slog_send(severity, msg + off, n - off);
	} else {
		struct pollfd pfd = { .fd = 2, .events = POLLOUT };

		if (n == sizeof msg - 1)
			n--;
		msg[n++] = '\n';
		/* a stderr pipe nobody reads costs a second, not forever; a
		 * free pipe slot takes the whole line */
		if (diag_append(msg, n) < 0 && poll(&pfd, 1, DIAG_WAIT_MS) > 0)
			writeall(2, msg, n);
	}
	errno = saved;
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(1, SLOG_ERR, fmt, ap);
	va_end(ap);
}

void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(1, SLOG_INFO, fmt, ap);
	va_end(ap);
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(1, SLOG_ERR, fmt, ap);
	va_end(ap);
	exit(status);
}

static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(0, SLOG_ERR, fmt, ap);
	va_end(ap);
}

void
usage_exit(const char *synopsis)
{
	say("usage: %s", synopsis);
	exit(usage_status);
}

void
usage_help(const char *synopsis, const char *options)
{
	printf("usage: %s\n%s", synopsis, options);
	exit(fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
}

void
version_exit(void)
{
	printf("%s %s\n", progname, MSGD_VERSION);
	exit(fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1);
}

/* what opt_help saw, for opt_fail to name a long option as given */
static int opt_argc;
static char **opt_argv;
static const char *opt_options;

/* --help or --version: do it; else say "unknown option --NAME" */
static void
long_option(const char *arg, const char *synopsis)
{
	if (strcmp(arg, "--help") == 0)
		usage_help(synopsis, opt_options);
	if (strcmp(arg, "--version") == 0)
		version_exit();
	warn("unknown option %s", arg);
	usage_exit(synopsis);
}

void
opt_help(int argc, char **argv, const char *synopsis, const char *options)
{
	opt_argc = argc;
	opt_argv = argv;
	opt_options = options;
	if (argc > 1 && strncmp(argv[1], "--", 2) == 0 && argv[1][2])
		long_option(argv[1], synopsis);
}

/* getopt(3) stopped at the '-' of "--NAME": that word, else NULL.  While
 * it is inside a word optind stays on it; after the last letter of one
 * ("-a-") it has moved on */
static const char *
long_word(void)
{
	const char *a, *prev;

	if (opt_argv == NULL || optind >= opt_argc || optind < 1)
		return NULL;
	a = opt_argv[optind];
	prev = optind > 1 ? opt_argv[optind - 1] : "";
	if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
		return NULL;
	if (prev[0] == '-' && prev[1] != '-' && prev[1] &&
	    prev[strlen(prev) - 1] == '-')
		return NULL;	/* "-a-" then "--NAME": the lone '-' it is */
	return a;
}

void
opt_fail(int ch, const char *synopsis)
{
	const char *word = ch == '?' && optopt == '-' ? long_word() : NULL;

	if (word)
		long_option(word, synopsis);
	if (ch == ':')
		warn("-%c needs a value", optopt);
	else
		warn("unknown option -%c", optopt);
	usage_exit(synopsis);
}

long
opt_num(int opt, const char *arg, long min, long max, const char *synopsis)
{
	long v;

	if (parse_num(arg, min, max, &v) < 0) {
		warn("-%c: bad value '%s' (a number from %ld to %ld)", opt, arg,
		    min, max);
		usage_exit(synopsis);
	}
	return v;
}

void
port_check(const char *port, long min, const char *synopsis)
{
	long v;

	if (port[0] >= '0' && port[0] <= '9' &&
	    parse_num(port, min, 65535, &v) < 0) {
		warn("bad port '%s' (a number from %ld to 65535, or a service "
		    "name)", port, min);
		usage_exit(synopsis);
	}
}

int
std_fds(struct stat st[3])
{
	int fd, closed = 0;

	for (fd = 0; fd <= 2; fd++)
		if (fstat(fd, &st[fd]) < 0) {
			if (open("/dev/null", O_RDWR) != fd ||
			    fstat(fd, &st[fd]) < 0)
				die(1, "cannot open /dev/null:");
			closed |= 1 << fd;
		}
	return closed;
}

int
writeall(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
parse_num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;	/* no sign, no space, not empty */
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char hexdigits[] = "0123456789abcdef";

void
hex_encode(char *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*out++ = hexdigits[p[i] >> 4];
		*out++ = hexdigits[p[i] & 15];
	}
	*out = '\0';
}

int
hex_decode(unsigned char *out, const char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		/* memchr of 16 bytes: a NUL is no digit */
		const char *a = memchr(hexdigits, in[2 * i], 16),
		    *b = a ? memchr(hexdigits, in[2 * i + 1], 16) : NULL;

		if (b == NULL)
			return -1;
		out[i] = (unsigned char)((a - hexdigits) << 4 | (b - hexdigits));
	}
	return 0;
}
