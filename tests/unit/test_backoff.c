/* Unit tests for backoff: the reconnect schedule. */
#include <criterion/criterion.h>

#include "backoff.h"

static const struct backoff_policy pg = {.base_ms = 2000, .max_ms = 10000, .attempts = 5};

Test(backoff, first_attempt_is_immediate)
{
	struct backoff b;
	backoff_init(&b, &pg);
	cr_assert(backoff_ready(&b, 0));
}

Test(backoff, doubles_to_the_cap_then_stays)
{
	struct backoff b;
	const int64_t expect[] = {2000, 4000, 8000, 10000, 10000, 10000, 10000};
	int64_t now = 1000000;

	backoff_init(&b, &pg);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		backoff_failed(&b, now);
		cr_assert_eq(b.next_ms - now, expect[i], "failure %zu waits %lld", i + 1,
			     (long long)(b.next_ms - now));
		cr_assert_not(backoff_ready(&b, now + expect[i] - 1));
		cr_assert(backoff_ready(&b, now + expect[i]));
		now += expect[i];
	}
}

Test(backoff, success_resets)
{
	struct backoff b;
	backoff_init(&b, &pg);
	backoff_failed(&b, 0);
	backoff_failed(&b, 2000);
	backoff_reset(&b);
	cr_assert(backoff_ready(&b, 2001));
	backoff_failed(&b, 5000);
	cr_assert_eq(b.next_ms, 7000);
}

Test(backoff, retry_after_rounds_up_to_whole_seconds)
{
	struct backoff b;
	backoff_init(&b, &pg);
	backoff_failed(&b, 0);
	cr_assert_eq(backoff_retry_after(&b, 0), 2);
	cr_assert_eq(backoff_retry_after(&b, 1500), 1);
	cr_assert_eq(backoff_retry_after(&b, 5000), 1, "never 0");
}
