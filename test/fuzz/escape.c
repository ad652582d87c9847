/* SPDX-License-Identifier: ISC */
/* Fuzz the handler's record escaper: for any bytes, the escaped text is one
 * line of valid UTF-8 with none of the characters doc/protocol.md (Records)
 * escapes, it decodes back to the bytes, and it is what the reference
 * escaper makes. */
#include <stddef.h>
#include <stdint.h>

#include "escape.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly the room escape() asks for, so ASan sees any overrun */
	char *got = malloc(4 * size), *want = malloc(4 * size);
	size_t gn, wn;

	CHECK(got != NULL && want != NULL, "out of memory");
	gn = (size_t)(escape(got, data, size) - got);
	CHECK(gn <= 4 * size, "%zu bytes escaped into %zu", size, gn);
	check_escaped(got, gn, data, size);
	wn = ref_escape(want, data, size);
	CHECK(gn == wn && memcmp(got, want, gn) == 0,
	    "differs from the reference: got '%.*s', want '%.*s'",
	    (int)gn, got, (int)wn, want);
	free(got);
	free(want);
	return 0;
}
