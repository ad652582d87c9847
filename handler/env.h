/* SPDX-License-Identifier: ISC */
/* The environment's words on the client (env.c): what UCSPI servers,
 * stunnel, systemd and msgd-launcher pass, found in one pass. */
#ifndef HANDLER_ENV_H
#define HANDLER_ENV_H

/* getenv(3) for the variables that say who the client is (PROTO, TCP*,
 * IPC*, REMOTE_*, PROXY*, SSL_CLIENT_DN, MSGD*): the same answer, the
 * first NAME= of the environment, without reading every variable on each
 * call; any other name is getenv's */
const char *env_get(const char *name);

#endif
