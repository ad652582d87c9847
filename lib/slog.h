/* SPDX-License-Identifier: ISC */
/* A syslog client that reports failure (slog.c). */
#ifndef SLOG_H
#define SLOG_H

#include <stddef.h>

/* A syslog client on /dev/log (facility daemon) that says when a record
 * could not be delivered, which syslog(3) never does. */
#define SLOG_ERR 3
#define SLOG_INFO 6
void slog_open(const char *ident);
int slog_send(int severity, const char *msg, size_t len);
/* whether /dev/log takes records now: 0, or -1 with errno set */
int slog_check(void);

#endif
