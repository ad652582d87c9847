/* SPDX-License-Identifier: ISC */
/* What the libFuzzer harnesses share: a check that stops the run with the
 * reason, and a reference escaper written byte by byte from the rules of
 * doc/protocol.md (Records), with its inverse.  Plain and slow on purpose:
 * it is the meaning that the handler's fast escaper is compared with. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a failed check is a finding: say which, then abort so libFuzzer keeps it */
#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* the valid UTF-8 sequence at s: its length and code point, or 0 (Unicode
 * 3.9: no overlong forms, no surrogates, nothing above U+10FFFF) */
static inline size_t
ref_utf8(const unsigned char *s, size_t n, unsigned long *cp)
{
	size_t len, i;
	unsigned long v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if (s[0] < 0xc0) {
		return 0;	/* a continuation byte cannot start one */
	} else if (s[0] < 0xe0) {
		len = 2, v = s[0] & 0x1f, min = 0x80;
	} else if (s[0] < 0xf0) {
		len = 3, v = s[0] & 0x0f, min = 0x800;
	} else if (s[0] < 0xf8) {
		len = 4, v = s[0] & 0x07, min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

/* the characters doc/protocol.md says are escaped although they are valid UTF-8:
 * C1 controls, line and paragraph separators, direction marks */
static inline int
ref_forbidden(unsigned long cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* escape n bytes of s into d (room for 4 * n); returns the length */
static inline size_t
ref_escape(char *d, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0, k, j;
	unsigned long cp;

	while (i < n) {
		if (s[i] == '\\') {
			d[o++] = '\\';
			d[o++] = '\\';
			i++;
			continue;
		}
		k = ref_utf8(s + i, n - i, &cp);
		if (k == 0) {
			k = 1;	/* a byte that is not part of valid UTF-8 */
		} else if (cp >= 0x20 && cp != 0x7f && !ref_forbidden(cp)) {
			memcpy(d + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		/* every byte of a control or a forbidden character */
		for (j = 0; j < k; j++, i++) {
			d[o++] = '\\';
			d[o++] = 'x';
			d[o++] = hex[s[i] >> 4];
			d[o++] = hex[s[i] & 15];
		}
	}
	return o;
}

/* undo the escaping (\\ and \xNN) of n bytes of e into d (room for n);
 * returns the length, or -1 for a backslash that starts neither */
static inline long
ref_unescape(unsigned char *d, const char *e, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0;
	const char *hi, *lo;

	while (i < n) {
		if (e[i] != '\\') {
			d[o++] = (unsigned char)e[i++];
		} else if (i + 1 < n && e[i + 1] == '\\') {
			d[o++] = '\\';
			i += 2;
		} else if (i + 3 < n && e[i + 1] == 'x' && e[i + 2] != '\0' &&
		    e[i + 3] != '\0' && (hi = strchr(hex, e[i + 2])) != NULL &&
		    (lo = strchr(hex, e[i + 3])) != NULL) {
			d[o++] = (unsigned char)((hi - hex) << 4 | (lo - hex));
			i += 4;
		} else
			return -1;
	}
	return (long)o;
}

/* the properties of any escaped text e of the bytes s, whoever made it:
 * one line, valid UTF-8 with no forbidden character, and it decodes back */
static inline void
check_escaped(const char *e, size_t en, const unsigned char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)e;
	unsigned char *back = malloc(en + 1);
	unsigned long cp;
	size_t i, k;
	long bn;

	CHECK(back != NULL, "out of memory");
	for (i = 0; i < en; i += k) {
		CHECK(u[i] >= 0x20 && u[i] != 0x7f,
		    "control byte 0x%02x at %zu of the escaped text", u[i], i);
		k = ref_utf8(u + i, en - i, &cp);
		CHECK(k > 0, "invalid UTF-8 at %zu of the escaped text", i);
		CHECK(!ref_forbidden(cp), "U+%04lX passed raw at %zu", cp, i);
	}
	bn = ref_unescape(back, e, en);
	CHECK(bn >= 0, "a backslash that is neither \\\\ nor \\xNN");
	CHECK((size_t)bn == n && memcmp(back, s, n) == 0,
	    "the escaped text does not decode to the input");
	free(back);
}

#endif
