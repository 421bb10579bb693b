/* timefmt.h - the clocks, the one sleep, and RFC 3339 text for Unix millisecond times. */
#ifndef MIG_TIMEFMT_H
#define MIG_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define TIMEFMT_RFC3339_LEN 24 /* "2026-11-28T13:12:11.123Z" without the NUL */

/* Wall clock, Unix ms. */
int64_t timefmt_now_ms(void);

/* Monotonic clock in ms, for timeouts and durations measured by one process. */
int64_t timefmt_mono_ms(void);

/* Sleeps `ms` milliseconds (none when ms <= 0). Returns early when a signal arrives, so a
 * loop that sleeps between looks at a stop flag sees it at once. */
void timefmt_sleep_ms(int64_t ms);

/* Writes `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" into `out` (at least 25 bytes). */
void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_RFC3339_LEN + 1]);

/* Parses an RFC 3339 time with optional fraction and a "Z" or +hh:mm offset. Returns 0
 * and sets *ms, or MIG_EINVALID. */
int timefmt_parse_rfc3339(const char *s, int64_t *ms);

#endif
