/* Internal: the band geometry of the row-range entry points (ref/nn_*_rows.c), which run a
 * layer's own kernel (any ISA variant) on rows [y0, y1) of its output, from a buffer that holds
 * only input rows [in_first, in_first + in_rows) (streamed, fused execution: nnbuild.schedule).
 *
 * ISA-independent on purpose: each function builds an adjusted copy of the parameters on the
 * stack (NN_BAND) and calls the layer's own kernel (ref, dsp, mla, thumb1 or a later variant,
 * whichever the firmware links), so no kernel is copied per schedule or per ISA. Every kernel
 * computes rows 0..out_h-1 of an input whose rows 0..in_h-1 exist, with pad_h rows of padding on
 * top and rows outside [0, in_h) treated as padding; shifting pad_h by the rows skipped (it may
 * become negative) and setting in_h to the rows present gives exactly the full layer's rows
 * [y0, y1), as long as the buffer holds every row of [0, in_h) their windows touch
 * (nnbuild.schedule guarantees it).
 *
 * Pools also clip a window's end at in_h + pad_h (Caffe; the average's divisor counts up to
 * there). Above the tensor's bottom, in_h is raised by a negative pad so that this clip never
 * cuts a window short of the rows present. At the bottom of a pad_h = 0 pool, in_h is chosen to
 * keep the clip where the full layer has it (in_h + pad_h - in_first rows below the buffer's
 * first row). With pad_h > 0 both clips cannot be kept at once, so the bottom keeps the data
 * clip: exact for max pools (no divisor) and for average pools none of whose windows reaches
 * into the bottom padding (nnbuild.schedule streams only those). Reads never pass the rows
 * present. */
#ifndef NN_ROWS_H
#define NN_ROWS_H

#include "nn_kernels.h"

/* pad and in_h of a band: pool != 0 for the pools' window end clip (see above) */
static inline void nn_band(int pool, int32_t in_h, int32_t pad_h, int32_t stride_h, int32_t y0,
                           int32_t in_first, int32_t in_rows, int16_t *pad_out, int16_t *in_h_out)
{
    const int32_t pad = pad_h - y0 * stride_h + in_first;
    *pad_out = (int16_t)pad;
    if (!pool)
        *in_h_out = (int16_t)in_rows;
    else if (pad_h == 0 && in_first + in_rows >= in_h)   /* the last row present: Caffe's bottom clip */
        *in_h_out = (int16_t)(in_h + pad_h - in_first - pad);
    else                                /* no window reaches past the rows present */
        *in_h_out = (int16_t)(in_rows - (pad < 0 ? pad : 0));
}

/* q = *p for rows [y0, y1) of the output from rows [in_first, in_first + in_rows) of the input:
 * the one preamble of every row entry point (any parameter struct with these field names) */
#define NN_BAND(q, p, pool, y0, y1, in_first, in_rows)                                       \
    do {                                                                                     \
        (q) = *(p);                                                                          \
        (q).out_h = (int16_t)((y1) - (y0));                                                  \
        nn_band((pool), (p)->in_h, (p)->pad_h, (p)->stride_h, (y0), (in_first), (in_rows),   \
                &(q).pad_h, &(q).in_h);                                                      \
    } while (0)
#endif
