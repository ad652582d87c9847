/* SPDX-License-Identifier: ISC */
/* The escaper's harness again on its portable path: the escaper built as
 * for a machine without SSE2 (eight bytes at a time), so that make fuzz
 * compiles that path with the warnings as errors and checks it the same
 * way against the reference. */
#undef __SSE2__
#include "../../handler/escape.c"
#include "escape.c"
