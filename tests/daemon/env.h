/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's machinery for a unit test: the loop, one worker, a cache in
 * a fresh temporary directory, the fetch engine; and a way to run the loop
 * until a condition holds.
 */
#ifndef NYDUSFSD_TEST_ENV_H
#define NYDUSFSD_TEST_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nydusfsd.h"

static char env_dir[] = "/tmp/nydusfsd-test.XXXXXX";
static struct timer env_timer;
static bool (*env_cond)(void);
static uint64_t env_deadline;

static void env_tick(struct timer *t)
{
	if ((env_cond && env_cond()) || now_ms() > env_deadline) {
		loop_stop();
		return;
	}
	timer_arm(t, 2);
}

/* Run the loop until @cond() holds (checked every 2 ms), at most 5 s. */
static inline bool env_run_until(bool (*cond)(void))
{
	env_cond = cond;
	env_deadline = now_ms() + 5000;
	env_timer.fn = env_tick;
	timer_arm(&env_timer, 0);
	loop_run();
	timer_cancel(&env_timer);
	return cond();
}

static inline void env_init(void)
{
	config_defaults(&cfg);
	nfd_log_level = getenv("V") ? LOG_DBG_ : LOG_ERR_;
	if (!mkdtemp(env_dir) || loop_init(64) || work_init(1) ||
	    cache_init(env_dir) || fetch_init()) {
		fprintf(stderr, "cannot set up the test environment\n");
		exit(2);
	}
}

static inline void env_exit(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", env_dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", env_dir);
}

#endif
