/* 2-D convolution, int8, Helium (MVE) variant (docs/int8_contract.md: conv2d). Same bytes as ref/.
 *
 * mve/nn_conv2d_q7.c's loops (depthwise direct, common/nn_conv_s8_common.h; general: int8
 * im2col with in_zp in the padding taps, which the folded bias expects, and the 2 x 3 VMLADAVA
 * tile) with TFLite's per-channel MultiplyByQuantizedMultiplier as vectors of 4 results
 * (nn_mve.h: mve_mbqm_right) for layers whose shifts are all <= 0 (multipliers below 1);
 * others take the scalar epilogue of nn_int8.h.
 */
#include "nn_kernels.h"
#include "nn_conv_s8_common.h"
#include "nn_mve_conv.h"

/* clamp(mbqm(acc, mult, shift) + zp, lo, hi) per lane, for shift <= 0 in every lane; the zero
 * point is added saturating, so the clamp after it sees the exact order */
static inline int32x4_t requant_s8x4(int32x4_t acc, int32x4_t mult, int32x4_t shift, int32_t zp,
                                     int32x4_t vlo, int32x4_t vhi)
{
    const int32x4_t r = vqaddq_n_s32(mve_mbqm_right(acc, mult, shift), zp);
    return vminq_s32(vmaxq_s32(r, vlo), vhi);
}

/* A full tile (3 pixels, columns back to back at cols) through npairs channel pairs. */
static NN_NOINLINE void tile_pairs(const int8_t *w, const int32_t *chan, int32_t npairs,
                                   int32_t K, const int8_t *cols, int8_t *y, int32_t zp,
                                   int32x4_t vlo, int32x4_t vhi, uint32x4_t off0,
                                   uint32x4_t off1)
{
    for (; npairs > 0; npairs--, y += 2, chan += 2 * NN_S8_CHAN, w += 2 * K) {
        register int32_t a0 __asm__("r0") = chan[0], a1 __asm__("r2") = a0, a2 __asm__("r4") = a0;
        register int32_t b0 __asm__("r6") = chan[NN_S8_CHAN], b1 __asm__("r8") = b0;
        register int32_t b2 __asm__("r10") = b0;
        register const int8_t *x0 __asm__("r1") = cols, *x1 __asm__("r3") = cols + K;
        register const int8_t *x2 __asm__("r5") = cols + 2 * K;
        register const int8_t *v0 __asm__("r9") = w, *v1 __asm__("r11") = w + K;
        register int32_t n __asm__("r12") = K;
        int32x4_t mult, shift;
        MVE_MAC_2X3(a0, a1, a2, b0, b1, b2, v0, v1, x0, x1, x2, n);
        mult = mve_pack(chan[1], chan[NN_S8_CHAN + 1], chan[1], chan[NN_S8_CHAN + 1]);
        shift = mve_pack(chan[2], chan[NN_S8_CHAN + 2], chan[2], chan[NN_S8_CHAN + 2]);
        vstrbq_scatter_offset_s32(y, off0, requant_s8x4(mve_pack(a0, b0, a1, b1), mult, shift, zp,
                                                        vlo, vhi));
        vstrbq_scatter_offset_s32(y, off1, requant_s8x4(mve_pack(a2, b2, a2, b2), mult, shift, zp,
                                                        vlo, vhi));
    }
}

static void conv_general(const nn_conv_s8_params *ps, const int8_t *in, const int8_t *weight,
                         const int32_t *chan, int8_t *out, int16_t *scratch)
{
    const nn_conv_params geo = nn_conv_geometry(ps);
    const nn_conv_params *p = &geo;
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    const int32_t zp = ps->out_zp, lo = ps->act_min, hi = ps->act_max;
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    int8_t *cbuf = (int8_t *)scratch;
    uint32x4_t off0, off1;
    int32_t g, q, o, j, fast = 1;

    for (o = 0; o < p->out_c; o++)   /* the vector epilogue takes right shifts only */
        fast &= chan[NN_S8_CHAN * o + 2] <= 0;
    tile_offsets(OC, &off0, &off1);

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *cg = chan + NN_S8_CHAN * g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q < npix; q += NN_MVE_TILE) {
            const int32_t n = npix - q < NN_MVE_TILE ? npix - q : NN_MVE_TILE;
            int8_t *y = out + q * OC + g * cout_g;
            const int8_t *cols[NN_MVE_TILE];
            im2col_tile(p, in, &oy, &ox, g, cin_g, cbuf, n, ps->in_zp, cols);
            o = 0;
            if (n == NN_MVE_TILE && fast) {
                o = cout_g & ~1;
                tile_pairs(wg, cg, cout_g >> 1, K, cbuf, y, zp, vlo, vhi, off0, off1);
                y += o;
            }
            for (; o < cout_g; o += 2, y += 2) {
                const int32_t pair = o + 1 < cout_g;
                const int8_t *w0 = wg + o * K, *w1 = pair ? w0 + K : w0;
                const int32_t *c0 = cg + NN_S8_CHAN * o, *c1 = pair ? c0 + NN_S8_CHAN : c0;
                int32_t acc[6];
                acc[0] = acc[1] = acc[2] = c0[0];
                acc[3] = acc[4] = acc[5] = c1[0];
                mve_mac_2x3(w0, w1, cols[0], cols[1], cols[2], K, acc);
                for (j = 0; j < n; j++) {
                    y[j * OC] = nn_requant_s8(acc[j], c0[1], c0[2], zp, lo, hi);
                    if (pair)
                        y[j * OC + 1] = nn_requant_s8(acc[3 + j], c1[1], c1[2], zp, lo, hi);
                }
            }
        }
    }
}

void nn_conv2d_s8(const nn_conv_s8_params *p, const int8_t *in, const int8_t *weight,
                  const int32_t *chan, int8_t *out, int16_t *scratch)
{
    if (NN_CONV_IS_DEPTHWISE(p))
        conv_depthwise_s8(p, in, weight, chan, out);
    else
        conv_general(p, in, weight, chan, out, scratch);
}

int32_t nn_conv2d_s8_scratch_bytes(const nn_conv_s8_params *p)
{
    const nn_conv_params g = nn_conv_geometry(p);
    return nn_conv_scratch_contract(&g);
}
