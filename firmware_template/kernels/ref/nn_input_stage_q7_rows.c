/* Rows [y0, y1) of nn_input_stage_q7's output from a buffer holding some of its input rows (common/nn_rows.h):
 * the linked variant of nn_input_stage_q7 on adjusted parameters, so one file serves every ISA. */
#include "nn_rows.h"

void nn_input_stage_q7_rows(const uint8_t *pixels, int32_t row_bytes, int32_t y0, int32_t y1,
                            int32_t mul, const int32_t *off, int32_t off_len, int16_t shift,
                            int8_t *out)
{
    /* off repeats every off_len values (a channel's, or the whole mean image): start where row
     * y0 starts in it; a band never wraps a per-image table, which ends with the last row */
    const int32_t j0 = (y0 * row_bytes) % off_len;
    nn_input_stage_q7(pixels + y0 * row_bytes, (y1 - y0) * row_bytes, mul, off + j0,
                      off_len - j0, shift, out);
}
