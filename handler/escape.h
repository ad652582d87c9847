/* SPDX-License-Identifier: ISC */
/* The record escaper (escape.c): a record is one line, and the bytes can
 * be recovered from it. */
#ifndef HANDLER_ESCAPE_H
#define HANDLER_ESCAPE_H

#include <stddef.h>

/* escaping makes at most this many bytes of one ("\xNN") */
#define ESCAPE_GROWTH 4

/* once, before the first escape() */
void escape_init(void);
/* escape n bytes of s into d, which has room for ESCAPE_GROWTH * n;
 * returns the end */
char *escape(char *d, const unsigned char *s, size_t n);

#endif
