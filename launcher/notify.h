/* SPDX-License-Identifier: ISC */
/* Telling a service manager how we are: the sd_notify(3) protocol, one
 * datagram a message to the socket named by NOTIFY_SOCKET. */
#ifndef NOTIFY_H
#define NOTIFY_H

/* take NOTIFY_SOCKET (a path, or @ for an abstract name) out of the
 * environment, so no child sees it, and open a socket to it.  1 when
 * there is one to tell, 0 when not (unset, or said why it is unusable) */
int notify_init(void);
/* send "NAME=VALUE\n..." (READY=1, STATUS=..., STOPPING=1); nothing without
 * NOTIFY_SOCKET.  A manager that is not listening is not our failure; one
 * whose queue is full gets a state change again for a few seconds, and
 * its loss is logged */
void notify(const char *msg);
/* whether notify() sends anything */
int notify_on(void);

#endif
