/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The CLI's side of nydusfsd's control socket (cmd_daemon.c), shared by
 * the commands that talk to the daemon (cmd_daemon.c, cmd_profile.c).
 */
#ifndef NYDUSFS_CLIENT_H
#define NYDUSFS_CLIENT_H

#include <jansson.h>

#define DEFAULT_SOCKET	"/run/nydusfs/nydusfsd.sock"

struct client {
	const char *socket;	/* NULL: $NYDUSFS_SOCKET, the config, default */
	const char *config;	/* NULL: $NYDUSFS_CONFIG, the default */
	int fd;
};

/* "nydusfs CMD: message" on stderr */
void cli_err(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The daemon's config file: --config, $NYDUSFS_CONFIG or the default. */
const char *client_config_path(const struct client *c);
/*
 * "@key = VALUE" of [@section], or [@section "@arg"], of the daemon's
 * config at @path (the CLI reads only what it needs); NULL if not there.
 */
char *config_setting(const char *path, const char *section, const char *arg,
		     const char *key);
/* Find the socket (client.socket); c->fd -1. */
void client_setup(struct client *c);
/* 0 or -errno, no message. */
int client_connect(struct client *c);
/* Send @req (with @fds) and return the answer, or NULL after a message. */
json_t *client_call(struct client *c, const char *cmd, json_t *req,
		    const int *fds, unsigned int nfds);
/* 0 if @ans says ok, else print its error and return 1 */
int answer_ok(const char *cmd, json_t *ans);

#endif
