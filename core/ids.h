/* ids.h - migration ids: UUIDv7 (RFC 9562) from the kernel's cryptographic random
 * source, so ids sort by creation time and cannot be guessed. */
#ifndef MIG_IDS_H
#define MIG_IDS_H

#include <stdint.h>

#define IDS_UUID_LEN 36 /* text form without the NUL */

/* Writes a new UUIDv7 for Unix time `ms` into `out` (37 bytes, NUL-terminated),
 * lowercase hex with dashes. Returns 0, or MIG_EIO when no random bytes could be had. */
int ids_uuid7(char out[IDS_UUID_LEN + 1], int64_t ms);

#endif
