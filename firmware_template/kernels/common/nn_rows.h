/* Internal: the band geometry of the row-range entry points (ref/nn_*_rows.c), which run a
 * layer's own kernel (any ISA variant) on rows [y0, y1) of its output, from a buffer that holds
 * only input rows [in_first, in_first + in_rows) (streamed, fused execution: nnbuild.schedule).
 *
 * ISA-independent on purpose: each function builds an adjusted copy of the parameters on the
 * stack and calls the layer's own kernel (ref, dsp, mla, thumb1 or a later variant, whichever
 * the firmware links), so no kernel is copied per schedule or per ISA. Every kernel computes
 * rows 0..out_h-1 of an input whose rows 0..in_h-1 exist, with pad_h rows of padding on top and
 * rows outside [0, in_h) treated as padding; shifting pad_h by the rows skipped (it may become
 * negative) and setting in_h to the rows present gives exactly the full layer's rows [y0, y1),
 * as long as the buffer holds every row of [0, in_h) their windows touch (nnbuild.schedule
 * guarantees it).
 *
 * Pools also clip a window's divisor extent at in_h + pad_h (Caffe), so their in_h is chosen to
 * keep that clip where the full layer has it: in_h + pad_h - in_first rows below the buffer's
 * first row at the bottom of the tensor, and no clip above. This is exact for pad_h = 0 (the
 * schedule streams only those pools); reads never pass the rows present. */
#ifndef NN_ROWS_H
#define NN_ROWS_H

#include "nn_kernels.h"

/* pad and in_h (window geometry only) of a conv band */
static inline void conv_band(int32_t pad_h, int32_t stride_h, int32_t y0, int32_t in_first,
                             int32_t in_rows, int16_t *pad_out, int16_t *in_h_out)
{
    *pad_out = (int16_t)(pad_h - y0 * stride_h + in_first);
    *in_h_out = (int16_t)in_rows;
}

/* pad and in_h of a pool band (pad_h = 0 layers; see above) */
static inline void pool_band(int32_t in_h, int32_t pad_h, int32_t stride_h, int32_t y0,
                             int32_t in_first, int32_t in_rows, int16_t *pad_out,
                             int16_t *in_h_out)
{
    const int32_t pad = pad_h - y0 * stride_h + in_first;
    *pad_out = (int16_t)pad;
    if (in_first + in_rows >= in_h)     /* the tensor's last row is present: Caffe's bottom clip */
        *in_h_out = (int16_t)(in_h + pad_h - in_first - pad);
    else                                /* no window reaches past the rows present */
        *in_h_out = (int16_t)(in_rows - (pad < 0 ? pad : 0));
}
#endif
