/* SPDX-License-Identifier: ISC */
/* The record escaper: any bytes become one line of printable UTF-8 from
 * which they can be recovered (doc/protocol.md, Records).  Apart because it
 * knows nothing of connections, and the fuzz harness links it alone. */
#include <stddef.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "escape.h"

/* copied as it is: printable ASCII but the backslash */
static int
plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '\\';
}

/* length of the valid UTF-8 sequence at s (first byte >= 0x80), or 0 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/* valid UTF-8 that a Unicode-aware reader takes for a line break, a control
 * or a direction change (C1, U+061C, U+200E/F, U+2028/9, U+202A-E,
 * U+2066-9): escaped byte by byte like invalid UTF-8 */
static int
utf8_forged(const unsigned char *s, size_t k)
{
	if (k == 2)
		return (s[0] == 0xc2 && s[1] <= 0x9f) ||
		    (s[0] == 0xd8 && s[1] == 0x9c);
	if (k != 3 || s[0] != 0xe2)
		return 0;
	if (s[1] == 0x80)
		return s[2] == 0x8e || s[2] == 0x8f ||
		    (s[2] >= 0xa8 && s[2] <= 0xae);
	return s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9;
}

#ifndef __SSE2__
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* does any of these 8 bytes need escaping? (bit tricks, one word at once) */
static int
word_escapes(unsigned long long w)
{
	if (w & HIGHS)
		return 1;	/* not ASCII: needs a UTF-8 check */
	/* some byte below 0x20, equal to 0x7f, or a backslash */
	return ((((w - 0x20 * ONES) & ~w) | ((w + ONES) & HIGHS) |
	    (((w ^ 0x5c * ONES) - ONES) & ~(w ^ 0x5c * ONES))) & HIGHS) != 0;
}

#else
/* sixteen bytes of s, and which of them need escaping, a bit each: each
 * plus one, signed, the controls (1 to 0x20), DEL and the bytes from 0x80
 * (all negative but 0xff, which is 0) are those below 0x21 */
static __m128i
block_at(const unsigned char *s)
{
	return _mm_loadu_si128((const __m128i *)(const void *)s);
}

static unsigned
block_escapes(__m128i v)
{
	__m128i m = _mm_or_si128(_mm_cmplt_epi8(_mm_add_epi8(v,
	    _mm_set1_epi8(1)), _mm_set1_epi8(0x21)),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

	return (unsigned)_mm_movemask_epi8(m);
}
#endif

static const char hex[] = "0123456789abcdef";

/* a backslash doubled, any other byte as \xNN */
static char *
escape_ascii(char *d, unsigned char c)
{
	if (c == '\\') {
		d[0] = '\\';
		d[1] = '\\';
		return d + 2;
	}
	d[0] = '\\';
	d[1] = 'x';
	d[2] = hex[c >> 4];
	d[3] = hex[c & 15];
	return d + 4;
}

char *
escape(char *d, const unsigned char *s, size_t n)
{
	size_t i = 0, k;
#ifdef __SSE2__
	size_t from = 0;	/* s[from..i) went to d as it is */
#endif

	while (i < n) {
#ifdef __SSE2__
		/* sixteen bytes at a time (d has room for four times n): all
		 * copied, and d moved on past the clean ones */
		unsigned m = 0;
		__m128i v;

		while (i + 16 <= n) {
			v = block_at(s + i);
			_mm_storeu_si128((__m128i *)(void *)d, v);
			if ((m = block_escapes(v)) == 0) {
				i += 16;
				d += 16;
				continue;
			}
			k = (size_t)__builtin_ctz(m);
			if (s[i + k] >= 0x80)
				break;	/* perhaps UTF-8: below */
			/* a backslash or a control: escaped here, and the next
			 * sixteen start after it */
			d = escape_ascii(d + k, s[i + k]);
			i += k + 1;
			from = i;
			m = 0;
		}
		if (m == 0 && i < n && n >= 16) {
			/* the rest, seen as the end of the last sixteen bytes:
			 * these laid over output that is their input as it is,
			 * or else its clean start copied */
			v = block_at(s + n - 16);
			m = block_escapes(v) >> (16 - (n - i));
			k = m ? (size_t)__builtin_ctz(m) : n - i;
			if (n - from >= 16)
				_mm_storeu_si128((__m128i *)(void *)
				    (d + (n - i) - 16), v);
			else
				put(d, (const char *)s + i, k);
			i += k;
			d += k;
		} else if (m != 0) {
			k = (size_t)__builtin_ctz(m);
			i += k;
			d += k;
		}
#else
		/* clean text eight bytes at a time */
		unsigned long long w;

		for (; i + 8 <= n; i += 8, d += 8) {
			memcpy(&w, s + i, 8);
			if (word_escapes(w))
				break;
			memcpy(d, &w, 8);
		}
#endif
		if (i == n)
			break;
		if (plain(s[i])) {
			*d++ = (char)s[i++];	/* a short rest, byte by byte */
			continue;
		}
		if (s[i] >= 0x80 && (k = utf8_seq(s + i, n - i)) &&
		    !utf8_forged(s + i, k)) {
			d = put(d, (const char *)s + i, k);
			i += k;
			continue;	/* it went as it is */
		}
		d = escape_ascii(d, s[i++]);
#ifdef __SSE2__
		from = i;
#endif
	}
	return d;
}

/* the length of a Unicode space or invisible character at s, else 0 */
static size_t
wide_space(const unsigned char *s, size_t n)
{
	if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0)
		return 2;	/* U+00A0 */
	if (n < 3)
		return 0;
	if (s[0] == 0xe2)
		return (s[1] == 0x80 && (s[2] <= 0x8f || s[2] == 0xaf)) ||
		    (s[1] == 0x81 && (s[2] == 0x9f || s[2] == 0xa0)) ? 3 : 0;
	return (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||
	    (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) ||
	    (s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) ? 3 : 0;
}

char *
escape_word(char *d, const unsigned char *s, size_t n)
{
	size_t i = 0, start = 0, k;

	while (i < n) {
		if (s[i] == ' ' || s[i] == '(' || s[i] == ')')
			k = 1;
		else if ((k = wide_space(s + i, n - i)) == 0) {
			i++;
			continue;
		}
		d = escape(d, s + start, i - start);
		for (; k > 0; k--, i++)
			d = escape_ascii(d, s[i]);	/* never a backslash */
		start = i;
	}
	return escape(d, s + start, n - start);
}
