/* Internal, thumb1/ conv only: the general convolution for ARMv6-M (Cortex-M0/M0+: MULS and
 * ADDS, no MLA, LDRSB with register offsets only, 8 low registers). A multiply-accumulate is at
 * least a fresh operand, MULS and ADD there, so the loop spends the rest as little as it can:
 *   - im2col packs 4 output pixels' windows as unsigned bytes u = x + 128, tap by tap (4 bytes
 *     per tap), so LDRB with an immediate offset fetches every input value;
 *   - each weight is loaded once per tap (LDRSB) and feeds the 4 pixels: 3.4 instructions per
 *     MAC, the accumulators in high registers (ADD reaches them);
 *   - sum(u * w) = sum(x * w) + 128 * sum(w): the channel's initial value subtracts
 *     128 * sum(w), computed once per call for a block of channels.
 * Exact int32 throughout (|acc| stays below the contracts' bounds). Plain C but for the loop. */
#ifndef NN_CONV_LANES_H
#define NN_CONV_LANES_H

#include "nn_conv_common.h"

#define NN_LANES 4
#define NN_LANE_BLOCK 16     /* channels whose initial values live on the stack at once */

/* dst[4j] = src[j] ^ 0x80 (x + 128 as a byte), j < n: one lane of a contiguous run of taps */
static inline void lane_copy(uint8_t *dst, const int8_t *src, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        dst[NN_LANES * j] = (uint8_t)(src[j] ^ 0x80);
}

static inline void lane_fill(uint8_t *dst, uint8_t v, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        dst[NN_LANES * j] = v;
}

/* Pack the windows of output pixels (oy, ox .. ox + 3) of group g into col[4 * K] as x ^ 0x80
 * (= x + 128, unsigned), lane p = pixel ox + p; lanes past the row (n < 4) repeat lane 0;
 * taps outside the input hold pad. A kernel row's valid taps are one run when channels and
 * taps are dense (groups 1, no horizontal dilation): copied as one. */
static void im2col_lanes(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                         int32_t n, int32_t g, int32_t cin_g, int32_t pad, uint8_t *col)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, run = KW * cin_g;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const uint8_t padu = (uint8_t)(pad ^ 0x80);
    const int dense = p->dil_w == 1 && cin_g == C;
    int32_t lane, ky, kx, kx0, kx1;
    for (lane = 0; lane < NN_LANES; lane++) {
        const int32_t ix0 = (ox + (lane < n ? lane : 0)) * p->stride_w - p->pad_w;
        uint8_t *dst = col + lane;
        tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
        for (ky = 0; ky < p->k_h; ky++, dst += NN_LANES * run) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int32_t row = (iy * W + ix0) * C + g * cin_g;   /* tap kx: row + kx*dil*C */
            if (iy < 0 || iy >= p->in_h || kx0 >= kx1) {
                lane_fill(dst, padu, run);
                continue;
            }
            lane_fill(dst, padu, kx0 * cin_g);
            if (dense) {
                lane_copy(dst + NN_LANES * kx0 * C, in + row + kx0 * C, (kx1 - kx0) * C);
            } else {
                for (kx = kx0; kx < kx1; kx++)
                    lane_copy(dst + NN_LANES * kx * cin_g, in + row + kx * p->dil_w * C, cin_g);
            }
            lane_fill(dst + NN_LANES * kx1 * cin_g, padu, (KW - kx1) * cin_g);
        }
    }
}

/* acc[p] += sum over k < n8 of col[4k + p] * w[k], n8 a positive multiple of 8. */
#if defined(__ARM_ARCH_6M__)
static inline void mac_lanes8(const uint8_t *col, const int8_t *w, int32_t n8, int32_t *acc)
{
    const int8_t *w0 = w + n8, *w1 = w0 + 1;
    int32_t idx = -n8, a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], t, x;
#define NN_TAP(wreg, off)                                   \
        "ldrsb  %[x], [%[" wreg "], %[idx]]\n\t"            \
        "ldrb   %[t], [%[col], #" #off "*4+0]\n\t"          \
        "muls   %[t], %[x], %[t]\n\t"                       \
        "add    %[a0], %[t]\n\t"                            \
        "ldrb   %[t], [%[col], #" #off "*4+1]\n\t"          \
        "muls   %[t], %[x], %[t]\n\t"                       \
        "add    %[a1], %[t]\n\t"                            \
        "ldrb   %[t], [%[col], #" #off "*4+2]\n\t"          \
        "muls   %[t], %[x], %[t]\n\t"                       \
        "add    %[a2], %[t]\n\t"                            \
        "ldrb   %[t], [%[col], #" #off "*4+3]\n\t"          \
        "muls   %[t], %[x], %[t]\n\t"                       \
        "add    %[a3], %[t]\n\t"
    __asm volatile(   /* GCC wraps Thumb-1 inline asm in divided syntax: this is unified */
        ".syntax unified\n"
        "1:\n\t"
        NN_TAP("w0", 0) NN_TAP("w1", 1) "adds %[idx], #2\n\t"
        NN_TAP("w0", 2) NN_TAP("w1", 3) "adds %[idx], #2\n\t"
        NN_TAP("w0", 4) NN_TAP("w1", 5) "adds %[idx], #2\n\t"
        NN_TAP("w0", 6) NN_TAP("w1", 7) "adds %[col], #32\n\t"
        "adds   %[idx], #2\n\t"
        "bne    1b\n\t"
        ".syntax divided"
        : [col] "+l"(col), [idx] "+l"(idx), [a0] "+h"(a0), [a1] "+h"(a1), [a2] "+h"(a2),
          [a3] "+h"(a3), [t] "=&l"(t), [x] "=&l"(x)
        : [w0] "l"(w0), [w1] "l"(w1)
        : "cc", "memory");
#undef NN_TAP
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}
#else
static inline void mac_lanes8(const uint8_t *col, const int8_t *w, int32_t n8, int32_t *acc)
{
    int32_t k;
    for (k = 0; k < n8; k++, col += NN_LANES) {
        acc[0] += col[0] * w[k];
        acc[1] += col[1] * w[k];
        acc[2] += col[2] * w[k];
        acc[3] += col[3] * w[k];
    }
}
#endif

/* acc[p] += sum over k < K of col[4k + p] * w[k] */
static NN_NOINLINE void mac_lanes(const uint8_t *col, const int8_t *w, int32_t K, int32_t *acc)
{
    const int32_t n8 = K & ~7;
    int32_t k, a0, a1, a2, a3;
    if (n8 != 0)
        mac_lanes8(col, w, n8, acc);
    a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];   /* locals: col (bytes) may alias acc */
    for (k = n8; k < K; k++) {
        const int32_t wk = w[k];
        const uint8_t *x = col + NN_LANES * k;
        a0 += x[0] * wk;
        a1 += x[1] * wk;
        a2 += x[2] * wk;
        a3 += x[3] * wk;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* init[i] = base[i] - 128 * sum(w of channel o0 + i), i < n: the u = x + 128 correction. */
static void lane_init(const int8_t *weight, int32_t K, int32_t o0, int32_t n,
                      const int32_t *base, int32_t stride, int32_t *init)
{
    int32_t i, k;
    for (i = 0; i < n; i++) {
        const int8_t *w = weight + (o0 + i) * K;
        int32_t s = 0;
        for (k = 0; k < K; k++)
            s += w[k];
        init[i] = base[(o0 + i) * stride] - 128 * s;
    }
}

#endif
