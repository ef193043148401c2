/* 2-D convolution, q7, portable variant (docs/q7_contract.md: conv2d).
 *
 * Two loops (nn_conv2d_q7 picks one, like CMSIS-NN's arm_convolve_wrapper_s8):
 *   - depthwise (one input channel per group, any channel multiplier): direct, window clipped
 *     once per output pixel so the tap loop has no bounds tests (common/nn_conv_common.h);
 *   - general: direct (no scratch), window clipped once per pixel, a kernel row's contiguous
 *     (kx, channel) run as one inner loop, 2 channels x 2 neighbouring pixels per pass.
 * Exact int32 accumulation and the contract's requantisation: the same bytes as every variant.
 */
#include "nn_kernels.h"
#include "nn_conv_common.h"

/* acc[0..3] += (x0.a, x1.a, x0.b, x1.b) over n values: 4 loads feed 4 MACs. */
static inline void dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *a, const int8_t *b,
                           int32_t n, int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3], c;
    for (c = 0; c < n; c++) {
        const int32_t u = x0[c], v = x1[c], wa = a[c], wb = b[c];
        s00 += u * wa;
        s01 += v * wa;
        s10 += u * wb;
        s11 += v * wb;
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

/* All output channels of one or two output pixels that share the clipped window [ky0, ky1) x
 * [kx0, kx1): the second pixel's input is dx bytes after the first's (two == 0: one pixel; its
 * second lane is computed on the same data and dropped). Channels go in pairs of one group. */
static NN_NOINLINE void conv_pixels(const nn_conv_params *p, const int8_t *in,
                                    const int8_t *weight, const int32_t *bias, int32_t iy0,
                                    int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0,
                                    int32_t kx1, int two, int8_t *out0, int8_t *out1)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, OC = p->out_c;
    const int32_t cin_g = C / p->groups, cout_g = OC / p->groups, K = p->k_h * KW * cin_g;
    const int32_t dx = two ? p->stride_w * C : 0, s = p->out_shift, lo = p->act_min, hi = p->act_max;
    /* a kernel row's valid taps are one contiguous run when channels and taps are dense */
    const int32_t dense = p->dil_w == 1 && cin_g == C;
    int32_t o, ky, kx;
    for (o = 0; o < OC; o += 2) {
        /* two output channels of the same group per pass share the input loads */
        const int32_t pair = o + 1 < OC && (o + 1) % cout_g != 0;
        const int32_t g = o / cout_g;
        const int8_t *w0 = weight + o * K, *w1 = pair ? w0 + K : w0;
        int32_t acc[4];
        acc[0] = acc[1] = bias[o];
        acc[2] = acc[3] = pair ? bias[o + 1] : 0;
        for (ky = ky0; ky < ky1; ky++) {
            const int8_t *xrow = in + (iy0 + ky * p->dil_h) * W * C + g * cin_g;
            const int32_t wrow = ky * KW * cin_g;
            if (dense) {
                const int8_t *x = xrow + (ix0 + kx0) * C;
                dot_2x2(x, x + dx, w0 + wrow + kx0 * C, w1 + wrow + kx0 * C, (kx1 - kx0) * C, acc);
                continue;
            }
            for (kx = kx0; kx < kx1; kx++) {
                const int8_t *x = xrow + (ix0 + kx * p->dil_w) * C;
                dot_2x2(x, x + dx, w0 + wrow + kx * cin_g, w1 + wrow + kx * cin_g, cin_g, acc);
            }
        }
        out0[o] = (int8_t)nn_requant(acc[0], s, lo, hi);
        if (two)
            out1[o] = (int8_t)nn_requant(acc[1], s, lo, hi);
        if (pair) {
            out0[o + 1] = (int8_t)nn_requant(acc[2], s, lo, hi);
            if (two)
                out1[o + 1] = (int8_t)nn_requant(acc[3], s, lo, hi);
        } else {
            o--;  /* odd channel at a group end: the next pass starts right after it */
        }
    }
}

/* Portable path: direct convolution (no scratch), 2 output channels x 2 neighbouring output
 * pixels per pass wherever both pixels have the same clipped window (all but the borders). */
static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t OC = p->out_c;
    int32_t oy, ox;
    (void)scratch;
    for (oy = 0; oy < p->out_h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky0, ky1;
        tap_range(iy0, p->k_h, p->dil_h, p->in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w;) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int32_t kx0, kx1, nx0 = 0, nx1 = -1;
            tap_range(ix0, p->k_w, p->dil_w, p->in_w, &kx0, &kx1);
            if (ox + 1 < p->out_w)
                tap_range(ix0 + p->stride_w, p->k_w, p->dil_w, p->in_w, &nx0, &nx1);
            if (nx0 == kx0 && nx1 == kx1) {
                conv_pixels(p, in, weight, bias, iy0, ix0, ky0, ky1, kx0, kx1, 1, out, out + OC);
                out += 2 * OC;
                ox += 2;
            } else {
                conv_pixels(p, in, weight, bias, iy0, ix0, ky0, ky1, kx0, kx1, 0, out, out);
                out += OC;
                ox++;
            }
        }
    }
}

void nn_conv2d_q7(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *bias, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise(p, in, weight, bias, out);
    else
        conv_general(p, in, weight, bias, out, scratch);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    (void)p;
    return 0;   /* direct convolution */
}
