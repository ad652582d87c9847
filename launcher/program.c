/* SPDX-License-Identifier: ISC */
/* PROGRAM, looked up once at start (a path, or a name in PATH) and checked
 * runnable by the user the children run as; apart from the spawner, which
 * is given the path found. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "program.h"

/* an executable regular file, for the user we now are: 0, or -1 with
 * errno as exec would set it (EISDIR for a directory, being clearer) */
static int
runnable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
		return -1;
	}
	return access(path, X_OK);
}

int
find_program(char **argv, int detached)
{
	static char path[PATH_MAX];
	const char *name = argv[0], *p = getenv("PATH");
	int err = ENOENT;

	if (strchr(name, '/')) {
		if (runnable(name) < 0) {
			warn("cannot run %s:", name);
			return -1;
		}
		if (detached && name[0] != '/' && realpath(name, path))
			argv[0] = path;
		return 0;
	}
	if (p == NULL)
		p = "/usr/local/bin:/bin:/usr/bin";
	while (*p) {
		size_t n = strcspn(p, ":");

		/* an empty entry is the current directory, as for execvp */
		if (snprintf(path, sizeof path, "%.*s/%s", n ? (int)n : 1,
		    n ? p : ".", name) < (int)sizeof path) {
			if (runnable(path) == 0) {
				static char full[PATH_MAX];

				argv[0] = detached && path[0] != '/' &&
				    realpath(path, full) ? full : path;
				return 0;
			}
			if (errno == EACCES)
				err = EACCES;
		}
		p += n + (p[n] == ':');
	}
	errno = err;
	warn("cannot run %s:", name);
	return -1;
}
