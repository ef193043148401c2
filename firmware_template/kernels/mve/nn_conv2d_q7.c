/* 2-D convolution, q7, Helium (MVE) variant (docs/q7_contract.md: conv2d). Same bytes as ref/.
 *
 *   - depthwise (one input channel per group): direct, common/nn_conv_common.h;
 *   - general: per group, tiles of 3 output pixels: im2col into int8 columns, then 2 output
 *     channels x 3 pixels per VMLADAVA pass (nn_mve_conv.h), the contract's requantisation
 *     (VQRSHL: round half up, exact in any width; left shifts saturate, which the 8-bit clamp
 *     after them cannot tell from the contract's clamp-then-shift).
 * Both accumulate exactly in int32: only the order of the additions differs from ref/.
 */
#include "nn_kernels.h"
#include "nn_mve_conv.h"

/* A full tile (3 pixels, columns back to back at cols) through npairs channel pairs. */
static NN_NOINLINE void tile_pairs(const int8_t *w, const int32_t *bias, int32_t npairs,
                                   int32_t K, const int8_t *cols, int8_t *y, int32_t sh,
                                   int32x4_t vlo, int32x4_t vhi, uint32x4_t off0,
                                   uint32x4_t off1)
{
    for (; npairs > 0; npairs--, y += 2, bias += 2, w += 2 * K) {
        register int32_t a0 __asm__("r0") = bias[0], a1 __asm__("r2") = a0, a2 __asm__("r4") = a0;
        register int32_t b0 __asm__("r6") = bias[1], b1 __asm__("r8") = b0, b2 __asm__("r10") = b0;
        register const int8_t *x0 __asm__("r1") = cols, *x1 __asm__("r3") = cols + K;
        register const int8_t *x2 __asm__("r5") = cols + 2 * K;
        register const int8_t *v0 __asm__("r9") = w, *v1 __asm__("r11") = w + K;
        register int32_t n __asm__("r12") = K;
        int32x4_t r0, r1;
        MVE_MAC_2X3(a0, a1, a2, b0, b1, b2, v0, v1, x0, x1, x2, n);
        r0 = vminq_s32(vmaxq_s32(vqrshlq_n_s32(mve_pack(a0, b0, a1, b1), sh), vlo), vhi);
        r1 = vminq_s32(vmaxq_s32(vqrshlq_n_s32(mve_pack(a2, b2, a2, b2), sh), vlo), vhi);
        vstrbq_scatter_offset_s32(y, off0, r0);
        vstrbq_scatter_offset_s32(y, off1, r1);
    }
}

static void conv_general(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *bias, int8_t *out, int16_t *scratch)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    const int32_t s = p->out_shift, lo = p->act_min, hi = p->act_max;
    /* VQRSHL's shift: negative = rounding right shift; |s| beyond 31 gives what 31/40 give */
    const int32_t sh = s > 40 ? -40 : (s < -31 ? 31 : -s);
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    int8_t *cbuf = (int8_t *)scratch;
    uint32x4_t off0, off1;
    int32_t g, q, o, j;

    tile_offsets(OC, &off0, &off1);

    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *bg = bias + g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q < npix; q += NN_MVE_TILE) {
            const int32_t n = npix - q < NN_MVE_TILE ? npix - q : NN_MVE_TILE;
            int8_t *y = out + q * OC + g * cout_g;
            const int8_t *cols[NN_MVE_TILE];
            im2col_tile(p, in, &oy, &ox, g, cin_g, cbuf, n, 0, cols);
            o = 0;
            if (n == NN_MVE_TILE) {
                o = cout_g & ~1;
                tile_pairs(wg, bg, cout_g >> 1, K, cbuf, y, sh, vlo, vhi, off0, off1);
                y += o;
            }
            for (; o < cout_g; o += 2, y += 2) {
                const int32_t pair = o + 1 < cout_g;
                const int8_t *w0 = wg + o * K, *w1 = pair ? w0 + K : w0;
                int32_t acc[6];
                acc[0] = acc[1] = acc[2] = bg[o];
                acc[3] = acc[4] = acc[5] = pair ? bg[o + 1] : 0;
                mve_mac_2x3(w0, w1, cols[0], cols[1], cols[2], K, acc);
                for (j = 0; j < n; j++) {
                    y[j * OC] = (int8_t)nn_requant(acc[j], s, lo, hi);
                    if (pair)
                        y[j * OC + 1] = (int8_t)nn_requant(acc[3 + j], s, lo, hi);
                }
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

int32_t nn_conv2d_q7_scratch_bytes(const nn_conv_params *p)
{
    return nn_conv_scratch_contract(p);
}
