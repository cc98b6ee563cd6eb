/*
 * clock: monotonic and wall-clock time in the units the rest of the code uses.
 */
#ifndef PIXELCRAFT_CLOCK_H
#define PIXELCRAFT_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic time in milliseconds; only differences are meaningful. */
int64_t clock_mono_ms(void);

/* Monotonic time in microseconds; only differences are meaningful. */
int64_t clock_mono_us(void);

/* Wall-clock time in milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);

/*
 * Writes the wall-clock time `ms` (epoch milliseconds) as ISO 8601 UTC with
 * millisecond precision and zone, e.g. "2026-11-28T19:30:00.123Z", into buf
 * (at least 25 bytes). Returns buf.
 */
char *clock_iso8601(int64_t ms, char *buf, size_t len);

#endif
