/* 2-D convolution, int8, portable variant (docs/int8_contract.md: conv2d). Same bytes as dsp/.
 *
 * The loops of ref/nn_conv2d_q7.c (depthwise: common/nn_conv_s8_common.h; general: direct, the
 * window clipped once per pixel, 2 channels x 2 neighbouring pixels per pass) with the folded
 * bias (nn_kernels.h; a window clipped by the padding restores the contract's bias and takes
 * x - in_zp) and the per-channel MultiplyByQuantizedMultiplier epilogue.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"

/* acc[0..3] += ((x0 - z).a, (x1 - z).a, (x0 - z).b, (x1 - z).b) over n values: 4 loads feed 4
 * MACs (z: 0 inside the input, in_zp for a window clipped by the padding). */
static inline void dot_2x2(const int8_t *x0, const int8_t *x1, const int8_t *a, const int8_t *b,
                           int32_t n, int32_t z, int32_t *acc)
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3], c;
    for (c = 0; c < n; c++) {
        const int32_t u = x0[c] - z, v = x1[c] - z, wa = a[c], wb = b[c];
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

/* dot_2x2 with the subtraction only where it is needed (z is 0 for every interior window) */
static inline void dot_2x2_z(const int8_t *x0, const int8_t *x1, const int8_t *a,
                             const int8_t *b, int32_t n, int32_t z, int32_t *acc)
{
    if (z == 0)
        dot_2x2(x0, x1, a, b, n, 0, acc);
    else
        dot_2x2(x0, x1, a, b, n, z, acc);
}

/* All output channels of one or two output pixels that share the clipped window [ky0, ky1) x
 * [kx0, kx1) (two == 0: one pixel; its second lane is computed and dropped), as in q7. */
static NN_NOINLINE void conv_pixels(const nn_conv_s8_params *p, const int8_t *in,
                                    const int8_t *weight, const int32_t *chan, int32_t iy0,
                                    int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0,
                                    int32_t kx1, int two, int8_t *out0, int8_t *out1)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, KH = p->k_h, OC = p->out_c;
    const int32_t cin_g = C / p->groups, cout_g = OC / p->groups, K = KH * KW * cin_g;
    const int32_t dx = two ? p->stride_w * C : 0, zp = p->in_zp;
    const int32_t ozp = p->out_zp, lo = p->act_min, hi = p->act_max;
    const int32_t dense = p->dil_w == 1 && cin_g == C;
    /* a window clipped by the padding: the contract's bias and (x - in_zp) * w (see
     * nn_conv_s8_common.h); inside the input the folded bias and x * w */
    const int32_t z = ky0 > 0 || ky1 < KH || kx0 > 0 || kx1 < KW ? zp : 0;
    int32_t o, ky, kx;
    for (o = 0; o < OC; o += 2) {
        const int32_t pair = o + 1 < OC && (o + 1) % cout_g != 0;
        const int32_t g = o / cout_g;
        const int8_t *w0 = weight + o * K, *w1 = pair ? w0 + K : w0;
        const int32_t *c0 = chan + NN_S8_CHAN * o, *c1 = c0 + NN_S8_CHAN;
        int32_t acc[4];
        acc[0] = acc[1] = c0[0] + z * c0[4];
        acc[2] = acc[3] = pair ? c1[0] + z * c1[4] : 0;
        for (ky = ky0; ky < ky1; ky++) {
            const int8_t *xrow = in + (iy0 + ky * p->dil_h) * W * C + g * cin_g;
            const int32_t wrow = ky * KW * cin_g;
            if (dense) {
                const int8_t *x = xrow + (ix0 + kx0) * C;
                dot_2x2_z(x, x + dx, w0 + wrow + kx0 * C, w1 + wrow + kx0 * C, (kx1 - kx0) * C, z,
                          acc);
                continue;
            }
            for (kx = kx0; kx < kx1; kx++) {
                const int8_t *x = xrow + (ix0 + kx * p->dil_w) * C;
                dot_2x2_z(x, x + dx, w0 + wrow + kx * cin_g, w1 + wrow + kx * cin_g, cin_g, z, acc);
            }
        }
        out0[o] = nn_requant_s8(acc[0], c0[1], c0[2], ozp, lo, hi);
        if (two)
            out1[o] = nn_requant_s8(acc[1], c0[1], c0[2], ozp, lo, hi);
        if (pair) {
            out0[o + 1] = nn_requant_s8(acc[2], c1[1], c1[2], ozp, lo, hi);
            if (two)
                out1[o + 1] = nn_requant_s8(acc[3], c1[1], c1[2], ozp, lo, hi);
        } else {
            o--;  /* odd channel at a group end: the next pass starts right after it */
        }
    }
}

static void conv_general(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out)
{
    const int32_t OC = p->out_c;
    int32_t oy, ox;
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
                conv_pixels(p, in, weight, chan, iy0, ix0, ky0, ky1, kx0, kx1, 1, out, out + OC);
                out += 2 * OC;
                ox += 2;
            } else {
                conv_pixels(p, in, weight, chan, iy0, ix0, ky0, ky1, kx0, kx1, 0, out, out);
                out += OC;
                ox++;
            }
        }
    }
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    (void)scratch;
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_s8(p, in, weight, chan, out);
    else
        conv_general(p, in, weight, chan, out);
}

/* This variant's own scratch (per ISA, as CMSIS-NN's *_get_buffer_size; common/nn_internal.h). */
int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    (void)p;
    return 0;   /* direct convolution */
}
