/* SPDX-License-Identifier: ISC */
/* What every msgd program needs (util.c): diagnostics and usage, option
 * numbers, the standard descriptors, full writes. */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <sys/stat.h>

/* For what a short run never touches (and the handler's input, of which
 * it touches the start): on x86-64 the large-data section, after all
 * other data, so that it does not spread the small variables every run
 * touches over more pages, each of which costs a fault when first touched.
 * Zero-initialized statics only. */
#if defined(__x86_64__) && defined(__ELF__)
#define LARGE_BSS __attribute__((section(".lbss")))
#else
#define LARGE_BSS
#endif

/* Diagnostics: "prog: message" on stderr, or syslog after diag_syslog().
 * A format ending in ':' gets ": strerror(errno)" appended. */
extern const char *progname;
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* the same for events, not errors: syslog severity info instead of err */
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void diag_syslog(int on);
/* a stderr that is a regular file may hold records: then each line goes
 * through append_write (append.h), as records do; and a regular file
 * handed on fd 1 or 2 is made O_APPEND for all who share it (see
 * append_handed).  For msgd-handler and msgd-launcher, before anything is
 * written; anyone else's stderr gets a plain write. */
void diag_shared(const struct stat st[3]);
/* "usage: SYNOPSIS" the same way, then exit usage_status (default 2) */
extern int usage_status;
void usage_exit(const char *synopsis) __attribute__((noreturn));
/* -h or --help: "usage: SYNOPSIS", then options (a line each, the last
 * naming the man page) on stdout, exit 0.  getopt(3) cannot see long
 * options: opt_help(), called before it, does --help and --version when
 * argv[1] is one, and remembers argv for opt_fail(); -h is each program's
 * own case */
void usage_help(const char *synopsis, const char *options)
	__attribute__((noreturn));
void opt_help(int argc, char **argv, const char *synopsis,
    const char *options);
/* -V or --version: "PROG VERSION" on stdout, exit 0; VERSION is
 * debian/changelog's upstream version, which the Makefile passes */
void version_exit(void) __attribute__((noreturn));
/* getopt(3) returned ':' (missing value) or '?' (unknown option): say which,
 * a long one as given ("unknown option --verbose"; --help and --version
 * anywhere among the options do their job), then usage_exit; getopt's own
 * messages are off (optstring starts ':') */
void opt_fail(int ch, const char *synopsis) __attribute__((noreturn));
/* the value of option -opt as a number in [min, max], or a message naming
 * the bad value and usage_exit */
long opt_num(int opt, const char *arg, long min, long max,
    const char *synopsis);
/* a PORT operand: a service name, or a number from min to 65535; else a
 * message naming it and usage_exit */
void port_check(const char *port, long min, const char *synopsis);

/* Open /dev/null on any of fds 0, 1 and 2 that is closed, so that no file
 * or socket opened later takes its number, and say what each is: st[fd],
 * one fstat(2) each, which callers share rather than ask again.  Returns
 * a mask of those that were closed (1 << fd); exits 1 if /dev/null cannot
 * be opened. */
int std_fds(struct stat st[3]);

/* Write all of buf, retrying short writes and EINTR: 0, or -1 with errno. */
int writeall(int fd, const void *buf, size_t len);

/* Parse a decimal number in [min, max]: 0, or -1 when it is not one. */
int parse_num(const char *s, long min, long max, long *out);
/* the value of the hex digit c (either case), or -1 */
int hex_digit(int c);
/* the n bytes of p as 2n lowercase hex digits at out, then a NUL */
void hex_encode(char *out, const unsigned char *p, size_t n);
/* the 2n lowercase hex digits at in as n bytes at out: 0, or -1 when one
 * of them is not such a digit */
int hex_decode(unsigned char *out, const char *in, size_t n);

#endif
