/* n elements (one row of a fused group: nnbuild.schedule) of nn_add_s8: the linked variant of
 * nn_add_s8 on a copy of its parameters with that count, so one file serves every ISA. */
#include "nn_rows.h"

void nn_add_s8_rows(const nn_add_s8_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out)
{
    nn_add_s8_params q = *p;
    q.n = n;
    nn_add_s8(&q, a, b, out);
}
