/* model_private.h - helpers shared by model.c and players.c, not part of the model's
 * contract. */
#ifndef SIM_MODEL_PRIVATE_H
#define SIM_MODEL_PRIVATE_H

#include <stddef.h>

#include "sim/model.h"

/* Makes room for `need` elements of `size` bytes in *v of *cap. Returns 0 or MIG_ENOMEM. */
int model_grow(void **v, size_t *cap, size_t need, size_t size);

/* Records a failure on the model (wire code and sentence) and returns `code`. */
int model_fail(model_t *m, int code, const char *wire, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* True when `s` is a usable id or name: 1 to cap-1 bytes, no control characters. */
int model_text_ok(const char *s, size_t cap);

#endif
