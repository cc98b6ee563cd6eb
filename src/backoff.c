/*
 * backoff: exponential reconnect schedule shared by the Postgres and Redis
 * wrappers, so both follow exactly the same rules.
 */
#include "backoff.h"

void backoff_init(struct backoff *b, const struct backoff_policy *p)
{
	b->policy = *p;
	b->failures = 0;
	b->next_ms = 0;
}

bool backoff_ready(const struct backoff *b, int64_t now_ms)
{
	return now_ms >= b->next_ms;
}

void backoff_failed(struct backoff *b, int64_t now_ms)
{
	int64_t wait = b->policy.base_ms;

	/* the n-th consecutive failure waits base * 2^(n-1); past `attempts`, the cap */
	for (int i = 0; i < b->failures && wait < b->policy.max_ms; i++)
		wait *= 2;
	if (b->failures >= b->policy.attempts || wait > b->policy.max_ms)
		wait = b->policy.max_ms;
	b->failures++;
	b->next_ms = now_ms + wait;
}

void backoff_reset(struct backoff *b)
{
	b->failures = 0;
	b->next_ms = 0;
}

int backoff_retry_after(const struct backoff *b, int64_t now_ms)
{
	int64_t left = b->next_ms - now_ms;

	if (left <= 1000)
		return 1;
	return (int)((left + 999) / 1000);
}
