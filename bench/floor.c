/* SPDX-License-Identifier: ISC */
/* The protocol's floor: greeting, "ok N" per line, "bye N" at EOF, and
 * nothing else (no records, no options, no timeouts).  What msgd-handler
 * is measured against under the same launcher (bench/floor.sh). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int
out(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(1, p, n);

		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int
main(void)
{
	static char in[65536], rep[sizeof in * 24 + 64];
	unsigned long long count = 0;
	int open_line = 0;
	ssize_t n;
	size_t len;

	if (out("hello\n", 6) < 0)
		return 1;
	while ((n = read(0, in, sizeof in)) > 0) {
		len = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (in[i] != '\n') {
				open_line = 1;
				continue;
			}
			open_line = 0;
			len += (size_t)snprintf(rep + len, sizeof rep - len,
			    "ok %llu\n", ++count);
		}
		if (len && out(rep, len) < 0)
			return 1;
	}
	if (open_line)
		len = (size_t)snprintf(rep, sizeof rep, "ok %llu\n", ++count);
	else
		len = 0;
	len += (size_t)snprintf(rep + len, sizeof rep - len, "bye %llu\n",
	    count);
	return out(rep, len) < 0 || n < 0;
}
