/* timefmt.c - clocks, the sleep, and RFC 3339 text for Unix millisecond times, by calendar
 * arithmetic. */
#include "timefmt.h"

#include <stdbool.h>
#include <time.h>

#include "err.h"

#define MS_PER_DAY 86400000LL
/* The range a four-digit year can show: 0000-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z.
 * Times outside it are clamped so the text always fits its 24 bytes. */
#define MS_MIN (-62167219200000LL)
#define MS_MAX (253402300799999LL)

/* ---- clocks --------------------------------------------------------------------------- */

/* clock_gettime() fails only for an unknown clock or a bad pointer, neither possible here. */
static int64_t clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t timefmt_now_ms(void) {
    return clock_ms(CLOCK_REALTIME);
}

int64_t timefmt_mono_ms(void) {
    return clock_ms(CLOCK_MONOTONIC);
}

/* One nanosleep, not a loop over EINTR: an interrupted sleep is the caller's cue. */
void timefmt_sleep_ms(int64_t ms) {
    if (ms <= 0) return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- calendar ------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date; H. Hinnant's days_from_civil, the
 * same algorithm lua-scripts/common.lua uses in reverse, so both print the same text. */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: the date of a day count since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : days[m - 1];
}

/* Writes `v` as exactly `n` decimal digits; the callers' ranges guarantee it fits. */
static char *put_digits(char *p, int64_t v, int n) {
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

void timefmt_rfc3339(int64_t ms, char out[TIMEFMT_RFC3339_LEN + 1]) {
    if (ms < MS_MIN) ms = MS_MIN;
    if (ms > MS_MAX) ms = MS_MAX;
    /* floor division, so times before 1970 count back from the day's start */
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t sod = rem / 1000;
    char *p = out;
    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, sod / 3600, 2);
    *p++ = ':';
    p = put_digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, sod % 60, 2);
    *p++ = '.';
    p = put_digits(p, rem % 1000, 3);
    *p++ = 'Z';
    *p = '\0';
}

/* ---- parsing -------------------------------------------------------------------------- */

/* Reads exactly `n` decimal digits at *p into *out and advances *p; false when any of
 * them is not a digit (which also stops at the NUL). */
static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* RFC 3339 section 5.6: date-time = full-date "T" time-hour ":" time-minute ":" time-second
 * [time-secfrac] time-offset. "t" and "z" are allowed in lower case as the RFC permits. A
 * leap second (:60) is refused: Unix time has no place for it, and nothing we store was
 * written with one. The fraction keeps milliseconds and truncates the rest. */
int timefmt_parse_rfc3339(const char *s, int64_t *ms) {
    const char *p = s;
    int y, mo, d, h, mi, sec, frac = 0;
    if (s == NULL) return MIG_EINVALID;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
        return MIG_EINVALID;
    if (*p != 'T' && *p != 't') return MIG_EINVALID;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
        return MIG_EINVALID;
    if (*p == '.') {
        int n = 0;
        p++;
        for (; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 9) return MIG_EINVALID;
            if (n < 3) frac = frac * 10 + (*p - '0');
        }
        if (n == 0) return MIG_EINVALID;
        for (; n < 3; n++) frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om)) return MIG_EINVALID;
        if (oh > 23 || om > 59) return MIG_EINVALID;
        offset_min = sign * (oh * 60 + om);
    } else {
        return MIG_EINVALID;
    }
    if (*p != '\0') return MIG_EINVALID;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
        return MIG_EINVALID;
    int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms = t * 1000 + frac;
    return 0;
}
