/* q7 neural-network kernels: the C side of docs/q7_contract.md.
 *
 * Plain C99, no malloc, no floating point, no VLAs. Every function has a portable variant in
 * ref/<function>.c; some have a variant with dual 16-bit MACs in dsp/<function>.c (same names)
 * that the build compiles instead for cores with the DSP extension (firmware_template/
 * sources.json, nnbuild.csources); NN_EMULATE_DSP compiles the dsp/ files on any host with C
 * emulations of the intrinsics. mve/<function>.c (Helium, Cortex-M55; base dsp/) vectorises
 * conv, depthwise, fc, pooling, add, relu and clamp with MVE and has no host emulation: QEMU's
 * mps3-an547 tests it. Every variant gives identical bytes.
 *
 * Activations are HWC int8. Parameters are trusted: the code generator checks them at build time.
 * Assumptions (not re-checked here):
 *   - conv: groups divides in_c and out_c; weight is (out_c, k_h, k_w, in_c/groups);
 *     out_h/out_w follow ir.conv_output_size; every |bias| + 2^14 * k_h*k_w*(in_c/groups)
 *     + 2^(out_shift-1) < 2^31 (the rounding half: the DSP fused-ReLU loop adds it up front);
 *     in, out and scratch do not overlap; scratch holds nn_conv2d_q7_scratch_bytes(p) bytes
 *     (the linked variant's own need, e.g. dsp 8*ceil4(k_h*k_w*(in_c/groups)), ref 0) and is
 *     4-byte aligned (the DSP loop reads it with LDRD, which faults on unaligned addresses).
 *     The DSP path also uses up to ~400 bytes of stack (a 256-byte staging buffer for small
 *     columns).
 *   - fc: weight is (out_n, in_n) in the HWC flatten order; |bias| + 2^14 * in_n < 2^31;
 *     scratch holds nn_fc_q7_scratch_bytes(p) bytes (dsp 2*in_n, others 0); in, out and scratch
 *     do not overlap.
 *   - act_min <= act_max, both in [-128, 127]; shifts are any int16 (s <= 0 means a left shift
 *     that saturates).
 *   - pool: out_h/out_w follow ir.pool_output_size, so every window holds at least one input cell
 *     (pad < kernel); in and out do not overlap. avg: the divisor is Caffe's (padding up to
 *     size + pad counts) or, with exclude_pad, the window's input cells (common/nn_pool_common.h).
 *   - add: a_shift, b_shift in 0..23 (so q << shift fits in int32).
 *   - input stage: |pixel*mul - off| < 2^31 for every pixel 0..255, shift 1..31.
 *   - softmax: n < 32768; exp_table has 256 entries in 0..65536.
 *   - target is little-endian (every Cortex-M build we support); GCC or Clang on ARM (inline asm).
 * Scratch sizes are the kernel's, not a variant's: every variant returns the same number (the
 * largest any of them needs), so one memory plan serves every target.
 * The mve/ conv keeps three int8 columns (3*K bytes) in the same scratch, within the contract.
 * Design notes: ref/ and dsp/nn_conv2d_q7.c (loops; dsp/nn_conv_im2col.h, nn_conv_mat_mult.h),
 * mve/nn_mve_conv.h (the Helium tile),
 * common/nn_dsp.h (int16 column layout), common/nn_simd.h (intrinsics).
 */
#ifndef NN_KERNELS_H
#define NN_KERNELS_H

#include <stdint.h>

typedef struct {
    int16_t in_h, in_w, in_c, out_h, out_w, out_c;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int16_t out_shift, act_min, act_max;
} nn_conv_params;

typedef struct { int32_t in_n, out_n; int16_t out_shift, act_min, act_max; } nn_fc_params;

typedef struct {
    int16_t in_h, in_w, c, out_h, out_w;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int16_t exclude_pad;    /* avg: 1 = divide by the window's input cells, 0 = Caffe's count */
} nn_pool_params;

typedef struct {
    int16_t h, w, c, size, region;     /* region 0: across channels, 1: within channel */
    int16_t shift, table_len;
} nn_lrn_params;

void nn_input_stage_q7(const uint8_t *pixels, int32_t n, int32_t mul, const int32_t *off,
                       int32_t off_len, int16_t shift, int8_t *out);
/* the same with per-pixel offsets off[i] = off_base + off8[i] * off_mul, add = 2^(shift-1) - off_base */
void nn_input_stage_off8_q7(const uint8_t *pixels, int32_t n, int32_t mul, const uint8_t *off8,
                            int32_t off_mul, int32_t add, int16_t shift, int8_t *out);
/* the same with off8 = base + 4-bit residual, one table row per image row: its c base bytes, then
 * its w*c nibbles (low first); rows whole image rows */
void nn_input_stage_off4_q7(const uint8_t *pixels, int32_t rows, int32_t w, int32_t c,
                            int32_t mul, const uint8_t *tab, int32_t off_mul, int32_t add,
                            int16_t shift, int8_t *out);
/* the same for c == 3 (the generator's choice then) */
void nn_input_stage_off4c3_q7(const uint8_t *pixels, int32_t rows, int32_t w, int32_t mul,
                              const uint8_t *tab, int32_t off_mul, int32_t add, int16_t shift,
                              int8_t *out);
void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch);
void nn_fc_q7(const nn_fc_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *bias, int8_t *out, int16_t *scratch);
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p);               /* bytes of scratch */
/* nn_conv2d_q7 for a general layer (not depthwise) with out_shift in 2..31, act 0..127 (fused
 * ReLU): the generator calls it for those, so the DSP build links only that epilogue; same scratch */
void nn_conv2d_q7_relu(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *bias, int8_t *out, int16_t *scratch);
/* nn_conv2d_q7_relu for a layer whose output quads each lie in one row (out_w % 4 == 0) and are
 * built by kernel rows or taps (kernels/q7_conv2d.py: quad_entry): the DSP build links no other im2col */
void nn_conv2d_q7_relu_quad(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *bias, int8_t *out, int16_t *scratch);
int32_t nn_fc_q7_scratch_bytes(const nn_fc_params *p);
void nn_maxpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out);
void nn_avgpool_q7(const nn_pool_params *p, const int8_t *in, int8_t *out);
void nn_relu_q7(int8_t *data, int32_t n);                                   /* in place */
void nn_leaky_relu_q7(int8_t *data, int32_t n, int16_t slope_q15);          /* in place */
void nn_add_q7(const int8_t *a, int16_t a_shift, const int8_t *b, int16_t b_shift,
               int16_t out_shift, int8_t *out, int32_t n);                  /* out may be a or b */
void nn_concat_q7(const int8_t *in, int32_t pixels, int16_t in_c, int16_t shift,
                  int8_t *out, int16_t out_c, int16_t c_offset);            /* one input's slice */
void nn_lut_q7(const int8_t *in, const int8_t *table, int8_t *out, int32_t n);
void nn_prelu_q7(int8_t *data, int32_t pixels, int16_t channels, const int16_t *slope,
                 int16_t shift);                                            /* in place */
void nn_channel_affine_q7(const int8_t *in, int32_t pixels, int16_t channels, const int16_t *mul,
                          const int32_t *bias, int16_t shift, int8_t *out);  /* out may be in */
void nn_lrn_q7(const nn_lrn_params *p, const int8_t *in, const int16_t *table, int8_t *out);
void nn_softmax_q7(const int8_t *in, int32_t n, const int32_t *exp_table, int8_t *out);

/* int8 kernels: the C side of docs/int8_contract.md (TFLite Micro's integer arithmetic).
 * The input stage and the table activations (sigmoid, tanh) are the q7 kernels above.
 *   - conv / fc: chan holds 5 int32 per output channel (common/nn_int8.h, NN_S8_CHAN): the
 *     contract's bias minus in_zp * (sum of the channel's weights), folded by the code
 *     generator so that the MAC loop is q7's x * w (padding taps hold in_zp, real 0); the
 *     MultiplyByQuantizedMultiplier multiplier (>= 0) and shift (-31..30, positive = left); a
 *     rounding addend (2^(e-1) + out_zp * 2^e where shift = -e in -22..-1, else 0); the sum of
 *     the channel's weights. The true accumulator stays below 2^30 (checked by the generator).
 *     Scratch and layout as q7's.
 *   - pools: the q7 windows; avg adds in_zp for each padding cell Caffe counts (none with
 *     exclude_pad: TFLM's AVERAGE_POOL_2D), rounds as TFLM.
 *   - add / concat: TFLM's ADD and QUANTIZE (requantize) arithmetic; |mult| < 2^31, shifts as
 *     the quantizer gives them (left_shift <= 20 for add).
 *   - softmax: TFLM's, over the channels of each pixel, from the generator's exp table. */
typedef struct {
    int16_t in_h, in_w, in_c, out_h, out_w, out_c;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
    int16_t in_zp, out_zp, act_min, act_max;
} nn_conv_s8_params;

typedef struct { int32_t in_n, out_n; int16_t out_zp, act_min, act_max; } nn_fc_s8_params;

typedef struct {
    int16_t in_h, in_w, c, out_h, out_w;
    int16_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int16_t in_zp, act_min, act_max;
    int16_t exclude_pad;    /* as nn_pool_params' */
} nn_pool_s8_params;

typedef struct {
    int16_t in_h, in_w, c, in_zp, out_zp, act_min, act_max;
    int32_t mult, shift;
} nn_mean_s8_params;

typedef struct {
    int32_t n;
    int16_t a_zp, b_zp, left_shift, out_zp, act_min, act_max;
    int32_t a_mult, a_shift, b_mult, b_shift, out_mult, out_shift;
} nn_add_s8_params;

typedef struct {            /* MUL by a constant of k_len (1 or channels) values */
    int32_t pixels;
    int16_t channels, k_len, in_zp, k_zp, out_zp, act_min, act_max;
    int32_t out_mult, out_shift;
} nn_mul_const_s8_params;

typedef struct {            /* ADD of a constant of k_len (1 or channels) values */
    int32_t pixels;
    int16_t channels, k_len, in_zp, k_zp, out_zp, act_min, act_max, left_shift;
    int32_t in_mult, in_shift, k_mult, k_shift, out_mult, out_shift;
} nn_add_const_s8_params;

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch);
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p);
/* nn_conv2d_s8 for a general layer (not depthwise) with act_min = out_zp, act_max = 127 (fused
 * ReLU) and every channel's shift in -22..-1: the generator calls it for those; same scratch */
void nn_conv2d_s8_relu(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                       const int32_t *chan, int8_t *out, int16_t *scratch);
void nn_conv2d_s8_relu_quad(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *chan, int8_t *out, int16_t *scratch);   /* as q7's _quad */
void nn_fc_s8(const nn_fc_s8_params *p, const int8_t *in, const int8_t *weight,
              const int32_t *chan, int8_t *out, int16_t *scratch);
int32_t nn_fc_s8_scratch_bytes(const nn_fc_s8_params *p);
void nn_maxpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out);
void nn_avgpool_s8(const nn_pool_s8_params *p, const int8_t *in, int8_t *out);
void nn_mean_s8(const nn_mean_s8_params *p, const int8_t *in, int8_t *out);   /* MEAN over H, W */
void nn_clamp_s8(int8_t *data, int32_t n, int16_t act_min, int16_t act_max);  /* in place */
void nn_add_s8(const nn_add_s8_params *p, const int8_t *a, const int8_t *b,
               int8_t *out);                                                /* out may be a or b */
void nn_mul_const_s8(const nn_mul_const_s8_params *p, const int8_t *in, const int8_t *k,
                     int8_t *out);                                            /* out may be in */
void nn_add_const_s8(const nn_add_const_s8_params *p, const int8_t *in, const int8_t *k,
                     int8_t *out);                                            /* out may be in */
void nn_concat_s8(const int8_t *in, int32_t pixels, int16_t in_c, int16_t in_zp,
                  int32_t mult, int16_t shift, int16_t out_zp, int8_t *out, int16_t out_c,
                  int16_t c_offset);                          /* one requantised input's slice */
void nn_softmax_s8(const int8_t *in, int32_t pixels, int16_t depth, const int32_t *exp_table,
                   int8_t *out);                                 /* over channels, depth <= 511 */

/* Row-range entry points (ref/nn_*_rows.c, common/nn_rows.h) for streamed, fused execution
 * (nnbuild.schedule):
 * rows [y0, y1) of the layer's output (written from `out`) from a buffer holding only its input
 * rows [in_first, in_first + in_rows) (row in_first at `in`), which must include every input row
 * those outputs read. They call the kernels above with adjusted parameters (any ISA variant).
 * Pools: max any pad_h, avg pad_h = 0 or no window into the bottom padding. Input stage: rows of row_bytes pixels values, from pixel row y0. */
void nn_conv2d_q7_rows(const nn_conv_params *p, int32_t y0, int32_t y1, int32_t in_first,
                       int32_t in_rows, const int8_t *in, const int8_t *weight,
                       const int32_t *bias, int8_t *out, int16_t *scratch);
void nn_conv2d_s8_rows(const nn_conv_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                       int32_t in_rows, const int8_t *in, const int8_t *weight,
                       const int32_t *chan, int8_t *out, int16_t *scratch);
void nn_conv2d_q7_relu_rows(const nn_conv_params *p, int32_t y0, int32_t y1, int32_t in_first,
                            int32_t in_rows, const int8_t *in, const int8_t *weight,
                            const int32_t *bias, int8_t *out, int16_t *scratch);
void nn_conv2d_s8_relu_rows(const nn_conv_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                            int32_t in_rows, const int8_t *in, const int8_t *weight,
                            const int32_t *chan, int8_t *out, int16_t *scratch);
void nn_conv2d_q7_relu_quad_rows(const nn_conv_params *p, int32_t y0, int32_t y1, int32_t in_first,
                                 int32_t in_rows, const int8_t *in, const int8_t *weight,
                                 const int32_t *bias, int8_t *out, int16_t *scratch);
void nn_conv2d_s8_relu_quad_rows(const nn_conv_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                                 int32_t in_rows, const int8_t *in, const int8_t *weight,
                                 const int32_t *chan, int8_t *out, int16_t *scratch);
/* nn_conv2d_q7_relu_quad / _s8_relu_quad with the layer's weights widened to int16 once per call
 * in the scratch, before the columns (issue 13: fewer instructions for RAM): the DSP variant's
 * loop (dsp/nn_conv_wide.h), which the plan picks where the arena affords it, for layers with
 * K = k_h*k_w*(in_c/groups) >= 5; other variants run their _quad entry. Same bytes; scratch
 * *_relu_quad_wide_scratch_bytes(p) (dsp: 2*out_c*ceil4(K) more). */
void nn_conv2d_q7_relu_quad_wide(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                                 const int32_t *bias, int8_t *out, int16_t *scratch);
int32_t nn_conv2d_q7_relu_quad_wide_scratch_bytes(const nn_conv_params *p);
void nn_conv2d_s8_relu_quad_wide(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                                 const int32_t *chan, int8_t *out, int16_t *scratch);
int32_t nn_conv2d_s8_relu_quad_wide_scratch_bytes(const nn_conv_s8_params *p);
/* nn_conv2d_q7 / _s8 with each quad's im2col in `chunks` chunks of kernel rows (issue 14): the DSP
 * variant's loop (dsp/nn_conv_chunked.h, general layers), which the streamed plan picks when the
 * smaller scratch lowers the arena; other variants ignore `chunks` (ref/: their own conv and
 * scratch). Same bytes; scratch *_chunked_scratch_bytes(p, chunks). */
void nn_conv2d_q7_chunked(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                          const int32_t *bias, int8_t *out, int16_t *scratch, int32_t chunks);
int32_t nn_conv2d_q7_chunked_scratch_bytes(const nn_conv_params *p, int32_t chunks);
void nn_conv2d_s8_chunked(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                          const int32_t *chan, int8_t *out, int16_t *scratch, int32_t chunks);
int32_t nn_conv2d_s8_chunked_scratch_bytes(const nn_conv_s8_params *p, int32_t chunks);
void nn_conv2d_q7_chunked_rows(const nn_conv_params *p, int32_t y0, int32_t y1, int32_t in_first,
                               int32_t in_rows, const int8_t *in, const int8_t *weight,
                               const int32_t *bias, int8_t *out, int16_t *scratch, int32_t chunks);
void nn_conv2d_s8_chunked_rows(const nn_conv_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                               int32_t in_rows, const int8_t *in, const int8_t *weight,
                               const int32_t *chan, int8_t *out, int16_t *scratch, int32_t chunks);
void nn_maxpool_q7_rows(const nn_pool_params *p, int32_t y0, int32_t y1, int32_t in_first,
                        int32_t in_rows, const int8_t *in, int8_t *out);
void nn_avgpool_q7_rows(const nn_pool_params *p, int32_t y0, int32_t y1, int32_t in_first,
                        int32_t in_rows, const int8_t *in, int8_t *out);
void nn_maxpool_s8_rows(const nn_pool_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                        int32_t in_rows, const int8_t *in, int8_t *out);
void nn_avgpool_s8_rows(const nn_pool_s8_params *p, int32_t y0, int32_t y1, int32_t in_first,
                        int32_t in_rows, const int8_t *in, int8_t *out);
/* n elements of nn_add_s8 (a row of a fused group; element-wise kernels need no other band) */
void nn_add_s8_rows(const nn_add_s8_params *p, int32_t n, const int8_t *a, const int8_t *b, int8_t *out);
/* A max pool split by rows (max is separable): the horizontal windows of one input row, and
 * acc = max(acc, x) over n values. */
void nn_maxpool_q7_hrow(const nn_pool_params *p, const int8_t *in, int8_t *out);
void nn_maxpool_s8_hrow(const nn_pool_s8_params *p, const int8_t *in, int8_t *out);
void nn_max_q7(int8_t *acc, const int8_t *x, int32_t n);
void nn_input_stage_q7_rows(const uint8_t *pixels, int32_t row_bytes, int32_t y0, int32_t y1,
                            int32_t mul, const int32_t *off, int32_t off_len, int16_t shift,
                            int8_t *out);

/* Weight layout link markers (nn_weight_layout.c of each variant; kernels.WEIGHT_LAYOUTS in
 * site_scons/nnbuild/kernels). A variant defines the marker of the layout its kernels read:
 * nn_weight_layout_plain (ref, mla, thumb1, mve: conv weight rows of K bytes) or
 * nn_weight_layout_ceil4 (dsp: rows of ceil4(K)). A generated model whose weights depend on the
 * layout names its own in its run function with NN_WEIGHT_LAYOUT, a relocation of no bytes that
 * the linker must resolve: linked with a variant of another layout, it fails to link
 * ("undefined reference to nn_weight_layout_<name>") instead of computing wrong outputs. */
extern const uint8_t nn_weight_layout_plain;
extern const uint8_t nn_weight_layout_ceil4;
#define NN_WEIGHT_LAYOUT(name) __asm__(".reloc ., BFD_RELOC_NONE, nn_weight_layout_" #name)

#endif
