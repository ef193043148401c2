/* Internal, mla/ conv only: the general convolution for cores with a 32x32->64 multiply-add
 * (SMLAL) but no SIMD (Cortex-M3). Two output pixels travel in one int32 word,
 *     P = x0 + x1 * 2^23,
 * so one SMLAL (acc64 += P * w) does two exact MACs: acc64 = sum(x0*w) + 2^23 * sum(x1*w).
 * |x*w| <= 2^14, so a run of at most 252 terms keeps |sum(x0*w)| < 2^22: the low 23 bits, sign
 * extended, are sum(x0*w) and the rest, shifted down, sum(x1*w), both exact. Every int8 value
 * (q7 activations, int8 activations and the in_zp held by padding taps) is in [-128, 127].
 * Per group and pixel pair: im2col packs the window into the scratch (K words: its
 * 4 * K bytes), then 2 output channels per pass walk it (1 LDR + 2 LDRSB + 2 SMLAL per 4 MACs).
 * Plain C: the host builds and tests exactly this code. */
#ifndef NN_CONV_PACKED_H
#define NN_CONV_PACKED_H

#include "nn_conv_common.h"

#define NN_PACK_SHIFT 23
#define NN_PACK_RUN 252      /* terms per 64-bit run (a multiple of 4): 252 * 2^14 < 2^22 */

static inline int32_t pack2(int32_t x0, int32_t x1)
{
    return (int32_t)((uint32_t)x1 << NN_PACK_SHIFT) + x0;
}

static inline void pack_run(int32_t *col, const int8_t *a, const int8_t *b, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        col[j] = pack2(a[j], b[j]);
}

static inline void pack_fill(int32_t *col, int32_t v, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        col[j] = v;
}

/* Pack the windows of output pixels (oy, ox) and (oy, ox + 1) of group g (one == 1: only the
 * first; its lane is duplicated) into col[0..K), tap order (ky, kx, c) as the weights;
 * taps outside the input hold `pad` (0 for q7, in_zp for int8). Where both pixels have the same
 * valid taps in a dense kernel row (groups 1, no horizontal dilation), the row is one run. */
static void im2col_packed(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                          int32_t g, int one, int32_t pad, int32_t *col)
{
    const int32_t C = p->in_c, cin_g = C / p->groups, W = p->in_w, KW = p->k_w, run = KW * cin_g;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t dx = one ? 0 : p->stride_w, pp = pack2(pad, pad);
    const int dense = p->dil_w == 1 && cin_g == C;
    int32_t ky, kx, c, ka0, ka1, kb0, kb1;
    tap_range(ix0, KW, p->dil_w, W, &ka0, &ka1);
    tap_range(ix0 + dx, KW, p->dil_w, W, &kb0, &kb1);
    for (ky = 0; ky < p->k_h; ky++, col += run) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int32_t row = (iy * W + ix0) * C + g * cin_g;   /* tap kx of pixel a: row + kx*dil*C */
        if (iy < 0 || iy >= p->in_h) {
            pack_fill(col, pp, run);
            continue;
        }
        if (dense && ka0 == kb0 && ka1 == kb1 && ka0 < ka1) {
            pack_fill(col, pp, ka0 * C);
            pack_run(col + ka0 * C, in + row + ka0 * C, in + row + (ka0 + dx) * C, (ka1 - ka0) * C);
            pack_fill(col + ka1 * C, pp, (KW - ka1) * C);
            continue;
        }
        for (kx = 0; kx < KW; kx++) {
            const int oka = kx >= ka0 && kx < ka1, okb = kx >= kb0 && kx < kb1;
            const int8_t *a = in + (oka ? row + kx * p->dil_w * C : 0);
            const int8_t *b = in + (okb ? row + (kx * p->dil_w + dx) * C : 0);
            int32_t *dst = col + kx * cin_g;
            for (c = 0; c < cin_g; c++)
                dst[c] = pack2(oka ? a[c] : pad, okb ? b[c] : pad);
        }
    }
}

/* One run's sum(x0*w) into *lo and sum(x1*w) into *hi. */
static inline void split_run(int64_t s, int32_t *lo, int32_t *hi)
{
    const int32_t l = (int32_t)((uint32_t)s << (32 - NN_PACK_SHIFT)) >> (32 - NN_PACK_SHIFT);
    *lo += l;
    *hi += (int32_t)((s - l) >> NN_PACK_SHIFT);
}

/* (sa, sb) += sum over col[0..n) of (col * a, col * b), n a multiple of 4: the ARMv7-M loop is
 * 2 LDRD + 8 LDRSB + 8 SMLAL + 2 per 16 MACs (GCC 12 spends 3 more on pointer increments). */
#if defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_7EM__)
static inline void mac_run4(const int32_t *col, const int8_t *a, const int8_t *b, int32_t n,
                            int64_t *sa, int64_t *sb)
{
    const int32_t *end = col + n;
    uint32_t alo = 0, blo = 0;
    int32_t ahi = 0, bhi = 0, p0, p1, w;
    __asm volatile(
        "1:\n\t"
        "ldrd   %[p0], %[p1], [%[col]], #8\n\t"
        "ldrsb  %[w], [%[a]], #1\n\t"
        "smlal  %[alo], %[ahi], %[p0], %[w]\n\t"
        "ldrsb  %[w], [%[b]], #1\n\t"
        "smlal  %[blo], %[bhi], %[p0], %[w]\n\t"
        "ldrsb  %[w], [%[a]], #1\n\t"
        "smlal  %[alo], %[ahi], %[p1], %[w]\n\t"
        "ldrsb  %[w], [%[b]], #1\n\t"
        "smlal  %[blo], %[bhi], %[p1], %[w]\n\t"
        "ldrd   %[p0], %[p1], [%[col]], #8\n\t"
        "ldrsb  %[w], [%[a]], #1\n\t"
        "smlal  %[alo], %[ahi], %[p0], %[w]\n\t"
        "ldrsb  %[w], [%[b]], #1\n\t"
        "smlal  %[blo], %[bhi], %[p0], %[w]\n\t"
        "ldrsb  %[w], [%[a]], #1\n\t"
        "smlal  %[alo], %[ahi], %[p1], %[w]\n\t"
        "ldrsb  %[w], [%[b]], #1\n\t"
        "smlal  %[blo], %[bhi], %[p1], %[w]\n\t"
        "cmp    %[col], %[end]\n\t"
        "bne    1b"
        : [col] "+r"(col), [a] "+r"(a), [b] "+r"(b), [alo] "+r"(alo), [ahi] "+r"(ahi),
          [blo] "+r"(blo), [bhi] "+r"(bhi), [p0] "=&r"(p0), [p1] "=&r"(p1), [w] "=&r"(w)
        : [end] "r"(end)
        : "cc", "memory");
    *sa = (int64_t)(((uint64_t)(uint32_t)ahi << 32) | alo);
    *sb = (int64_t)(((uint64_t)(uint32_t)bhi << 32) | blo);
}
#else
static inline void mac_run4(const int32_t *col, const int8_t *a, const int8_t *b, int32_t n,
                            int64_t *sa, int64_t *sb)
{
    int64_t x = 0, y = 0;
    int32_t k;
    for (k = 0; k < n; k++) {
        x += (int64_t)col[k] * a[k];
        y += (int64_t)col[k] * b[k];
    }
    *sa = x;
    *sb = y;
}
#endif

/* acc[0..3] += (x0.a, x1.a, x0.b, x1.b) over col[0..K) for weight rows a and b. */
static NN_NOINLINE void mac_packed_2ch(const int32_t *col, const int8_t *a, const int8_t *b,
                                       int32_t K, int32_t *acc)
{
    while (K > 0) {
        const int32_t n = K < NN_PACK_RUN ? K : NN_PACK_RUN, n4 = n & ~3;
        int64_t sa = 0, sb = 0;
        int32_t k;
        if (n4 != 0)
            mac_run4(col, a, b, n4, &sa, &sb);
        for (k = n4; k < n; k++) {
            sa += (int64_t)col[k] * a[k];
            sb += (int64_t)col[k] * b[k];
        }
        split_run(sa, &acc[0], &acc[1]);
        split_run(sb, &acc[2], &acc[3]);
        col += n;
        a += n;
        b += n;
        K -= n;
    }
}

/* A channel pair's results from acc[0..3] (x0.a, x1.a, x0.b, x1.b): channel o at y0[o] (and
 * y1[o] unless `one`), channel o + 1 likewise when `pair`. The scheme's (q7, int8) part. */
typedef void (*packed_epilogue)(const void *ctx, const int32_t *acc, int32_t o, int pair, int one,
                                int8_t *y0, int8_t *y1);

/* The general convolution of both schemes: per group and pair of output pixels of one row,
 * im2col_packed (padding taps `pad`), then 2 output channels per pass starting at their biases
 * (channel o's at bias[o * bias_words]), and `epi`. Inlined into each scheme's entry with its
 * epilogue. */
static inline void packed_conv(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                               const int32_t *bias, int32_t bias_words, int32_t pad, int8_t *out,
                               int32_t *col, packed_epilogue epi, const void *ctx)
{
    const int32_t G = p->groups, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * (p->in_c / G);
    int32_t g, oy, ox, o;
    for (g = 0; g < G; g++) {
        for (oy = 0; oy < p->out_h; oy++) {
            for (ox = 0; ox < p->out_w; ox += 2) {
                const int one = ox + 1 == p->out_w;
                int8_t *y0 = out + (oy * p->out_w + ox) * OC, *y1 = y0 + OC;
                im2col_packed(p, in, oy, ox, g, one, pad, col);
                for (o = g * cout_g; o < (g + 1) * cout_g; o += 2) {
                    const int pair = o + 1 < (g + 1) * cout_g;
                    const int8_t *wa = weight + o * K, *wb = pair ? wa + K : wa;
                    int32_t acc[4];
                    acc[0] = acc[1] = bias[o * bias_words];
                    acc[2] = acc[3] = pair ? bias[(o + 1) * bias_words] : 0;
                    mac_packed_2ch(col, wa, wb, K, acc);
                    epi(ctx, acc, o, pair, one, y0, y1);
                }
            }
        }
    }
}

#endif
