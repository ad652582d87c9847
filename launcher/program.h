/* SPDX-License-Identifier: ISC */
/* PROGRAM, found once at start (program.c). */
#ifndef PROGRAM_H
#define PROGRAM_H

/*
 * PROGRAM (argv[0]) is checked once at start, as the user the children
 * run as, so that a typo is not a silent EOF for every client: a path must
 * be an executable file; a name is looked up in PATH, once, not per
 * connection, and argv[0] becomes the path found.  detached: a relative
 * path must survive the daemon's move to /.  0, or -1 said.
 */
int find_program(char **argv, int detached);

#endif
