/* format.h - migratectl's human output, built from the API's JSON: money, the list
 * table, one-line summaries, a record's key: value lines, the stats, one line per event.
 * Pure: text in, text out, so every shape is unit-tested (tests/unit/test_cli.c).
 *
 * Every string value is printed with its control characters replaced by '?': a note or
 * an error message is operator or node text, and must not drive the terminal. */
#ifndef MIG_CLI_FORMAT_H
#define MIG_CLI_FORMAT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Hours in a month, as the API counts savings_eur_month (DESIGN.md section 2). */
#define FORMAT_HOURS_PER_MONTH 730.0

/* Writes savings as "€0.15/h (€109.50/mo)" into `out` (`cap` bytes, cut to fit);
 * `per_month` may be NULL or null, then it is `per_hour` × 730; "-" when `per_hour`
 * is not a number. Returns `out`. */
char *format_money(char *out, size_t cap, const cJSON *per_hour, const cJSON *per_month);

/* Writes an RFC 3339 time "2026-11-28T13:25:42.628Z" as "2026-11-28 13:25:42" (UTC),
 * "-" when `t` is not a string. Returns `out`. */
char *format_time(char *out, size_t cap, const cJSON *t);

/* Columns on a terminal of a UTF-8 string: its code points ("€" is one). */
size_t format_width(const char *s);

/* One line for a migration: "<id>  <server>  <from> → <to>  <status>  <money>".
 * Returns a string the caller frees with free(), or NULL when out of memory. */
char *format_summary(const cJSON *m);

/* The table of a list answer {"items":[...],"total":N,"limit":L,"offset":O}: a header,
 * one row per migration (ID, SERVER, FROM → TO, STATUS, SAVINGS, CREATED (UTC)), and a
 * footer line with the count ("showing 1-2 of 7"). Caller frees with free(); NULL when
 * out of memory. */
char *format_table(const cJSON *list);

/* A record as "key: value" lines, in the API's order, keys aligned; null is "-".
 * Caller frees with free(); NULL when out of memory. */
char *format_record(const cJSON *m);

/* The stats answer as a few lines for people. Caller frees; NULL when out of memory. */
char *format_stats(const cJSON *s);

/* One line (no newline) for a message of GET /api/ws (docs/EVENTS.md: the envelope, or a
 * flat event): its time, type and what
 * happened; an unknown type prints its fields as key=value. Caller frees with free();
 * NULL when out of memory. */
char *format_event(const cJSON *ev);

#endif
