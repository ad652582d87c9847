/* SPDX-License-Identifier: ISC */
/* Fuzz the option number parsers of lib/util.c: parse_num, opt_num and
 * port_check accept exactly decimal digits (no sign, no space, not empty)
 * whose value is in [min, max], and give that value.
 * Input: "MIN MAX\nTEXT"; without a newline all of it is TEXT, in [0, LONG_MAX]. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* util.c with its exit(3) turned into a jump back here and its diagnostics
 * dropped, so a rejected value costs no process and prints nothing */
static jmp_buf rejected;

static void fuzz_exit(int status) __attribute__((noreturn));
static void
fuzz_exit(int status)
{
	longjmp(rejected, status + 1);
}

static ssize_t
fuzz_write(int fd, const void *p, size_t n)
{
	return fd == 2 ? (ssize_t)n : write(fd, p, n);
}

#define exit fuzz_exit
#define write fuzz_write
#include "../../lib/util.c"
#undef exit
#undef write

/* the rule, digit by digit: 0 and the value, or -1 */
static int
ref_num(const char *s, long min, long max, long *out)
{
	unsigned long long v = 0;
	int big = 0;
	size_t i;

	if (s[0] == '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (ULLONG_MAX - 9) / 10)
			big = 1;
		else
			v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (big || v > (unsigned long long)LONG_MAX || (long)v < min ||
	    (long)v > max)
		return -1;
	*out = (long)v;
	return 0;
}

/* opt_num's verdict without leaving the process: 0 and the value, or -1 */
static int
try_opt_num(const char *s, long min, long max, long *out)
{
	volatile long v = 0;

	if (setjmp(rejected) != 0)
		return -1;
	v = opt_num('m', s, min, max, "fuzz");
	*out = v;
	return 0;
}

static int
try_port_check(const char *s, long min)
{
	if (setjmp(rejected) != 0)
		return -1;
	port_check(s, min, "fuzz");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *text = in, *nl, *end;
	long min = 0, max = LONG_MAX, got = -1, want = -1, opt = -1, ignored;
	int g, w, o, p;

	CHECK(in != NULL, "out of memory");
	memcpy(in, data, size);
	in[size] = '\0';
	if ((nl = memchr(in, '\n', size)) != NULL) {
		*nl = '\0';
		min = strtol(in, &end, 10);
		max = strtol(end, NULL, 10);
		text = nl + 1;
	}
	g = parse_num(text, min, max, &got);
	w = ref_num(text, min, max, &want);
	CHECK(g == w, "parse_num('%s', %ld, %ld) gives %d, want %d", text,
	    min, max, g, w);
	CHECK(g < 0 || got == want, "parse_num('%s') = %ld, want %ld", text,
	    got, want);
	o = try_opt_num(text, min, max, &opt);
	CHECK(o == w && (o < 0 || opt == want),
	    "opt_num('%s', %ld, %ld) gives %d (%ld), want %d (%ld)", text,
	    min, max, o, opt, w, want);
	/* a PORT starting with a digit is a number, anything else a name */
	p = try_port_check(text, min);
	w = text[0] >= '0' && text[0] <= '9' ?
	    ref_num(text, min, 65535, &ignored) : 0;
	CHECK(p == w, "port_check('%s', %ld) gives %d, want %d", text, min, p,
	    w);
	free(in);
	return 0;
}
