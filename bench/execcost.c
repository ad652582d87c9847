/* SPDX-License-Identifier: ISC */
/* execcost: what one run of a program costs, from exec to exit.
 *
 *   execcost RUNS INPUT PROGRAM [ARG...]
 *
 * Runs PROGRAM (an absolute path) RUNS times, one after the other, each
 * started with posix_spawn (so no copy of this process is paid for) with
 * stdin from INPUT and stdout and stderr on /dev/null, and reaped with
 * wait4, whose rusage gives the child's own CPU time, exec included.
 * Prints the medians per run: "cpu_us=N wall_us=N".  Exits 1 when a run
 * fails (cannot start, or exits non-zero), 2 on bad usage. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, long n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(int argc, char **argv)
{
	long runs, i;
	double *cpu, *wall;

	if (argc < 4 || (runs = strtol(argv[1], NULL, 10)) < 1 ||
	    argv[3][0] != '/') {
		fputs("usage: execcost RUNS INPUT /PATH/TO/PROGRAM [ARG...]\n",
		    stderr);
		return 2;
	}
	cpu = calloc((size_t)runs, sizeof *cpu);
	wall = calloc((size_t)runs, sizeof *wall);
	if (cpu == NULL || wall == NULL)
		return 1;
	for (i = 0; i < runs; i++) {
		posix_spawn_file_actions_t fa;
		struct timespec t0, t1;
		struct rusage ru;
		pid_t pid;
		int st, err;

		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, argv[2], O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		err = posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ);
		posix_spawn_file_actions_destroy(&fa);
		if (err) {
			fprintf(stderr, "execcost: cannot run %s: %s\n", argv[3],
			    strerror(err));
			return 1;
		}
		if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0) {
			fprintf(stderr, "execcost: %s failed\n", argv[3]);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
		    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
		wall[i] = (t1.tv_sec - t0.tv_sec) * 1e6 +
		    (t1.tv_nsec - t0.tv_nsec) / 1e3;
	}
	printf("cpu_us=%.0f wall_us=%.0f\n", median(cpu, runs),
	    median(wall, runs));
	return 0;
}
