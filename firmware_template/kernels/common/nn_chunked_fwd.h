/* Internal to ref/nn_conv2d_{q7,s8}_chunked.c and _chunked_rows.c: the chunked entries (issue 14)
 * of every variant without a chunked loop. Only the DSP variant splits its im2col columns
 * (dsp/nn_conv_chunked.h); the others ignore the chunk count and run their own conv with its own
 * scratch, so the entries exist in every variant (the generator asks for them on dsp only). Each
 * macro defines one scheme's entry from the names it is made of, written out at the use (the
 * CMake export finds a kernel's callees by name). */
#ifndef NN_CHUNKED_FWD_H
#define NN_CHUNKED_FWD_H

#include "nn_rows.h"

/* `chunked` (and chunked_scratch_bytes) as `conv` (and conv_scratch_bytes) on `params` */
#define NN_CHUNKED_FORWARD(chunked, conv, params)                                               \
    void chunked(const params *p, const int8_t *in, const int8_t *weight, const int32_t *bias,  \
                 int8_t *out, int16_t *scratch, int32_t chunks)                                 \
    {                                                                                          \
        (void)chunks;                                                                          \
        conv(p, in, weight, bias, out, scratch);                                               \
    }                                                                                          \
                                                                                               \
    int32_t chunked##_scratch_bytes(const params *p, int32_t chunks)                           \
    {                                                                                          \
        (void)chunks;                                                                          \
        return conv##_scratch_bytes(p);                                                        \
    }

/* `rows`: rows [y0, y1) of `chunked`'s output from a buffer holding some of its input rows
 * (nn_rows.h), whichever variant of `chunked` is linked */
#define NN_CHUNKED_ROWS(rows, chunked, params)                                                  \
    void rows(const params *p, int32_t y0, int32_t y1, int32_t in_first, int32_t in_rows,      \
              const int8_t *in, const int8_t *weight, const int32_t *bias, int8_t *out,         \
              int16_t *scratch, int32_t chunks)                                                 \
    {                                                                                          \
        params q;                                                                              \
        NN_BAND(q, p, 0, y0, y1, in_first, in_rows);                                           \
        chunked(&q, in, weight, bias, out, scratch, chunks);                                   \
    }
#endif
