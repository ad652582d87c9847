/* SPDX-License-Identifier: ISC */
/* The record escaper (escape.c): a record is one line, and the bytes can
 * be recovered from it. */
#ifndef HANDLER_ESCAPE_H
#define HANDLER_ESCAPE_H

#include <stddef.h>

/* escaping makes at most this many bytes of one ("\xNN") */
#define ESCAPE_GROWTH 4

/* escape n bytes of s into d, which has room for ESCAPE_GROWTH * n;
 * returns the end */
char *escape(char *d, const unsigned char *s, size_t n);
/* the same for a word of a record's head (a certificate's CN, an SNI):
 * also the space, ( and ), and the bytes of Unicode's other spaces and
 * invisible characters (U+00A0, U+1680, U+2000-U+200F, U+202F, U+205F,
 * U+2060, U+3000, U+FEFF) as \xNN, so that the word ends at the first
 * raw space and a "(verified)" after it can only be ours */
char *escape_word(char *d, const unsigned char *s, size_t n);

#endif
