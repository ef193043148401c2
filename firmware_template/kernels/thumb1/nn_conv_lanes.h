/* Internal, thumb1/ conv only: the general convolution for ARMv6-M (Cortex-M0/M0+: MULS and
 * ADDS, no MLA, 8 low registers, LDRSB with register offsets only). A multiply-accumulate there
 * is at least MULS + ADD, and MULS overwrites one operand, so every MAC also needs a fresh copy
 * of one factor. The loop gets those copies four at a time:
 *   - im2col writes the windows of 4 output pixels ("lanes") of one row as int32 words, tap by
 *     tap (col[4k + p] = x of lane p at tap k), so one LDM fetches a tap's 4 activations;
 *   - the tap's weight is loaded once (LDRSB) and multiplies the 4 words in place, the products
 *     go into 4 accumulators in high registers: 11 instructions per 4 MACs;
 *   - taps are walked in chunks of at most NN_CONV_LANE_TAPS (the scratch holds 4 words per
 *     tap of one chunk: nn_conv2d_q7_scratch_bytes); the accumulators of a block of up to
 *     NN_LANE_BLOCK output channels live on the stack across chunks.
 * Values are the exact int8 x int8 products summed in int32 (the contracts bound |acc|), so the
 * loop is exact for q7 and int8 alike (int8's padding taps hold in_zp, which its folded bias
 * expects). Plain C but for the loop, which the host builds and tests as C. */
#ifndef NN_CONV_LANES_H
#define NN_CONV_LANES_H

#include "nn_conv_common.h"

#define NN_LANES 4
#define NN_LANE_BLOCK 16     /* output channels whose accumulators live on the stack at once */

/* Taps per chunk: the fewest chunks of at most NN_CONV_LANE_TAPS, split evenly (so the last one
 * is not a short, overhead-bound pass). 4 * 4 * chunk bytes fit its scratch. */
static inline int32_t lane_chunk(int32_t K)
{
    int32_t n = 1, c = K;
    while (c > NN_CONV_LANE_TAPS) {
        n++;
        c = (K + n - 1) / n;
    }
    return c;
}

/* dst[4j] = src[j], j < n: one lane of a run of taps */
static inline void lane_copy(int32_t *dst, const int8_t *src, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        dst[NN_LANES * j] = src[j];
}

static inline void lane_fill(int32_t *dst, int32_t v, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
        dst[NN_LANES * j] = v;
}

/* Lane `lane` of taps [t0, t1) (tap numbers of the whole window) into the chunk [k0, k1):
 * copied from src (src[0] is tap t0) or, when src is NULL, the pad value. */
static void lane_put(int32_t *col, int32_t lane, int32_t k0, int32_t k1, int32_t t0, int32_t t1,
                     const int8_t *src, int32_t pad)
{
    int32_t *dst;
    int32_t n;
    if (t0 < k0) {
        if (src)
            src += k0 - t0;
        t0 = k0;
    }
    if (t1 > k1)
        t1 = k1;
    n = t1 - t0;
    dst = col + NN_LANES * (t0 - k0) + lane;
    if (n <= 0)
        return;
    if (src)
        lane_copy(dst, src, n);
    else
        lane_fill(dst, pad, n);
}

/* Taps [k0, k1) of the windows of output pixels (oy, ox .. ox + 3) of group g into
 * col[4 * (k1 - k0)], tap order (ky, kx, c) as the weights; lanes past the row (n < 4) repeat
 * lane 0; taps outside the input hold pad. A kernel row's valid taps are one run when channels
 * and taps are dense (groups 1, no horizontal dilation). */
static void im2col_words(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                         int32_t n, int32_t g, int32_t cin_g, int32_t pad, int32_t k0, int32_t k1,
                         int32_t *col)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, run = KW * cin_g;
    const int32_t iy0 = oy * p->stride_h - p->pad_h;
    const int dense = p->dil_w == 1 && cin_g == C;
    int32_t lane, ky, kx, kx0, kx1, r0;
    for (lane = 0; lane < NN_LANES; lane++) {
        const int32_t ix0 = (ox + (lane < n ? lane : 0)) * p->stride_w - p->pad_w;
        tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
        for (ky = 0, r0 = 0; ky < p->k_h; ky++, r0 += run) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int8_t *row = in + (iy * W + ix0) * C + g * cin_g;   /* tap kx: row + kx*dil*C */
            if (r0 + run <= k0 || r0 >= k1)
                continue;
            if (iy < 0 || iy >= p->in_h || kx0 >= kx1) {
                lane_put(col, lane, k0, k1, r0, r0 + run, 0, pad);
                continue;
            }
            lane_put(col, lane, k0, k1, r0, r0 + kx0 * cin_g, 0, pad);
            if (dense) {
                lane_put(col, lane, k0, k1, r0 + kx0 * C, r0 + kx1 * C, row + kx0 * C, pad);
            } else {
                for (kx = kx0; kx < kx1; kx++)
                    lane_put(col, lane, k0, k1, r0 + kx * cin_g, r0 + (kx + 1) * cin_g,
                             row + kx * p->dil_w * C, pad);
            }
            lane_put(col, lane, k0, k1, r0 + kx1 * cin_g, r0 + run, 0, pad);
        }
    }
}

/* col[4j + p] = s[j + p*d], j < n, n >= 1: a run of taps of the 4 lanes, d bytes apart in the
 * input. ARMv6-M: two LDRSB and one STM of two words per half tap, lanes 0/1 and 2/3 from the
 * same two end pointers at indexes j - n and j - n + 2d (9 instructions per tap, GCC's 14). */
#if defined(__ARM_ARCH_6M__)
static void quad_copy(int32_t *col, const int8_t *s, int32_t d, int32_t n)
{
    register int32_t v0 __asm("r0"), v1 __asm("r1");   /* STM's register list */
    const int8_t *e0 = s + n, *e1 = e0 + d;
    int32_t i = -n, i2 = 2 * d - n;
    __asm volatile(
        ".syntax unified\n"
        "1:\n\t"
        "ldrsb  r0, [%[e0], %[i]]\n\t"
        "ldrsb  r1, [%[e1], %[i]]\n\t"
        "stmia  %[col]!, {r0, r1}\n\t"
        "ldrsb  r0, [%[e0], %[i2]]\n\t"
        "ldrsb  r1, [%[e1], %[i2]]\n\t"
        "stmia  %[col]!, {r0, r1}\n\t"
        "adds   %[i2], #1\n\t"
        "adds   %[i], #1\n\t"
        "bne    1b\n\t"
        ".syntax divided"
        : [col] "+l"(col), [i] "+l"(i), [i2] "+l"(i2), [v0] "=&l"(v0), [v1] "=&l"(v1)
        : [e0] "l"(e0), [e1] "l"(e1)
        : "cc", "memory");
}
#else
static void quad_copy(int32_t *col, const int8_t *s, int32_t d, int32_t n)
{
    const int8_t *s1 = s + d, *s2 = s1 + d, *s3 = s2 + d;
    int32_t j;
    for (j = 0; j < n; j++, col += NN_LANES) {
        col[0] = s[j];
        col[1] = s1[j];
        col[2] = s2[j];
        col[3] = s3[j];
    }
}
#endif

/* The kernel columns [kx0, kx1) of each of 4 lanes that lie inside the input (dense rows),
 * and [ca, cb) the ones all four have: the same for every output row, so computed once per
 * run of 4 output pixels. */
typedef struct {
    int32_t kx0[NN_LANES], kx1[NN_LANES], ca, cb;
} lanes_cols;

static void lanes_cols_of(const nn_conv_params *p, int32_t ox, lanes_cols *h)
{
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    int32_t lane;
    h->ca = 0;
    h->cb = p->k_w;
    for (lane = 0; lane < NN_LANES; lane++) {
        int32_t a, b;
        tap_range(ix0 + lane * p->stride_w, p->k_w, 1, p->in_w, &a, &b);
        if (a >= b)   /* no valid tap (tap_range may then return a > k_w) */
            a = b = 0;
        h->kx0[lane] = a;
        h->kx1[lane] = b;
        h->ca = a > h->ca ? a : h->ca;
        h->cb = b < h->cb ? b : h->cb;
    }
}

/* Kernel column kx of the 4 lanes (C words each, col: its first word) where some lane lies
 * outside the input: lane p reads row + p * d when h says kx is inside, else holds pad. One
 * column for all lanes, so a border costs its columns, not four copy and fill loops per lane. */
static void quad_edge(int32_t *col, const int8_t *row, int32_t d, int32_t C, const lanes_cols *h,
                      int32_t kx, int32_t pad)
{
    int32_t lane, c;
    if (C == 1) {   /* first layers of grey images: one word per lane, no loop set-up */
        col[0] = kx >= h->kx0[0] && kx < h->kx1[0] ? row[0] : pad;
        col[1] = kx >= h->kx0[1] && kx < h->kx1[1] ? row[d] : pad;
        col[2] = kx >= h->kx0[2] && kx < h->kx1[2] ? row[2 * d] : pad;
        col[3] = kx >= h->kx0[3] && kx < h->kx1[3] ? row[3 * d] : pad;
        return;
    }
    for (lane = 0; lane < NN_LANES; lane++, row += d, col++) {
        if (kx >= h->kx0[lane] && kx < h->kx1[lane]) {
            for (c = 0; c < C; c++)
                col[NN_LANES * c] = row[c];
        } else {
            for (c = 0; c < C; c++)
                col[NN_LANES * c] = pad;
        }
    }
}

/* im2col_words for the whole window of 4 valid lanes, dense (groups 1, no horizontal
 * dilation), h = lanes_cols_of(ox), kernel rows ky0 and below: per kernel row, the kernel
 * columns every lane has inside the input are one quad_copy; the few others (the left and
 * right borders) quad_edge. */
static void im2col_whole(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                         int32_t pad, const lanes_cols *h, int32_t ky0, int32_t *col)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, run = KW * C, d = p->stride_w * C;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t ca = h->ca, cb = h->cb, inner = ca == 0 && cb == KW;
    int32_t ky, kx, j;
    col += NN_LANES * run * ky0;
    for (ky = ky0; ky < p->k_h; ky++, col += NN_LANES * run) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *row = in + (iy * W + ix0) * C;   /* lane 0's kernel column 0 */
        if (iy < 0 || iy >= p->in_h) {
            for (j = 0; j < NN_LANES * run; j++)
                col[j] = pad;
            continue;
        }
        if (ca < cb)
            quad_copy(col + NN_LANES * ca * C, row + ca * C, d, (cb - ca) * C);
        if (inner)
            continue;
        for (kx = 0; kx < KW; kx++) {   /* the columns not every lane has */
            if (kx == ca && ca < cb)
                kx = cb;
            if (kx < KW)
                quad_edge(col + NN_LANES * kx * C, row + kx * C, d, C, h, kx, pad);
        }
    }
}

/* The next output row's window (stride and dilation 1 vertically) is this one's kernel rows 1
 * and below moved up one row, and one new row: the move is 1 instruction per word (LDM/STM of
 * 4), a row's im2col 2.25 or more. dst < src; n4 >= 1 groups of 4 words. */
#if defined(__ARM_ARCH_6M__)
static NN_MAYBE_UNUSED void words_move4(int32_t *dst, const int32_t *src, int32_t n4)
{
    __asm volatile(
        ".syntax unified\n"
        "1:\n\t"
        "ldmia  %[src]!, {r4, r5, r6, r7}\n\t"
        "stmia  %[dst]!, {r4, r5, r6, r7}\n\t"
        "subs   %[n4], #1\n\t"
        "bne    1b\n\t"
        ".syntax divided"
        : [dst] "+l"(dst), [src] "+l"(src), [n4] "+l"(n4)
        :
        : "r4", "r5", "r6", "r7", "cc", "memory");
}
#else
static NN_MAYBE_UNUSED void words_move4(int32_t *dst, const int32_t *src, int32_t n4)
{
    int32_t j;
    for (j = 0; j < NN_LANES * n4; j++)
        dst[j] = src[j];
}
#endif

/* acc[p] += sum over k < n4 of col[4k + p] * w[k], n4 a positive multiple of 4. */
#if defined(__ARM_ARCH_6M__)
static inline void mac_words4(const int32_t *col, const int8_t *w, int32_t n4, int32_t *acc)
{
    /* LDM's register list is fixed: the four words are r0-r3 (local register variables).
     * The asm loads and stores the accumulators itself (LDM/STM through r0-r3); acc's pointer
     * waits in a high register while its low register holds the weights. */
    register int32_t x0 __asm("r0"), x1 __asm("r1"), x2 __asm("r2"), x3 __asm("r3");
    const int8_t *wend = w + n4;
    int32_t idx = -n4, a0, a1, a2, a3;
    int32_t *wk = acc, *keep;
#define NN_TAP                                              \
        "ldmia  %[col]!, {r0, r1, r2, r3}\n\t"              \
        "ldrsb  %[wk], [%[wend], %[idx]]\n\t"               \
        "muls   %[x0], %[wk], %[x0]\n\t"                    \
        "add    %[a0], %[x0]\n\t"                           \
        "muls   %[x1], %[wk], %[x1]\n\t"                    \
        "add    %[a1], %[x1]\n\t"                           \
        "muls   %[x2], %[wk], %[x2]\n\t"                    \
        "add    %[a2], %[x2]\n\t"                           \
        "muls   %[x3], %[wk], %[x3]\n\t"                    \
        "add    %[a3], %[x3]\n\t"                           \
        "adds   %[idx], #1\n\t"
    __asm volatile(   /* GCC wraps Thumb-1 inline asm in divided syntax: this is unified */
        ".syntax unified\n\t"
        "ldmia  %[wk]!, {r0, r1, r2, r3}\n\t"
        "mov    %[keep], %[wk]\n\t"
        "mov    %[a0], r0\n\t"
        "mov    %[a1], r1\n\t"
        "mov    %[a2], r2\n\t"
        "mov    %[a3], r3\n"
        "1:\n\t"
        NN_TAP NN_TAP NN_TAP NN_TAP
        "bne    1b\n\t"
        "mov    %[wk], %[keep]\n\t"
        "subs   %[wk], #16\n\t"
        "mov    r0, %[a0]\n\t"
        "mov    r1, %[a1]\n\t"
        "mov    r2, %[a2]\n\t"
        "mov    r3, %[a3]\n\t"
        "stmia  %[wk]!, {r0, r1, r2, r3}\n\t"
        ".syntax divided"
        : [col] "+l"(col), [idx] "+l"(idx), [wk] "+l"(wk), [keep] "=&h"(keep),
          [a0] "=&h"(a0), [a1] "=&h"(a1), [a2] "=&h"(a2), [a3] "=&h"(a3),
          [x0] "=&l"(x0), [x1] "=&l"(x1), [x2] "=&l"(x2), [x3] "=&l"(x3)
        : [wend] "l"(wend)
        : "cc", "memory");
#undef NN_TAP
}
#else
static inline void mac_words4(const int32_t *col, const int8_t *w, int32_t n4, int32_t *acc)
{
    int32_t k;
    for (k = 0; k < n4; k++, col += NN_LANES) {
        acc[0] += col[0] * w[k];
        acc[1] += col[1] * w[k];
        acc[2] += col[2] * w[k];
        acc[3] += col[3] * w[k];
    }
}
#endif

/* acc[4i + p] += sum over k < n of col[4k + p] * w[iK + k], i < nb: the chunk's MACs of nb
 * output channels whose weight rows are K apart. The loop runs whole 4-tap blocks: the taps
 * past n hold 0 in col (lanes_block), so whatever the weights have there (the next channel's)
 * adds nothing; only the block's last channel, when `more` says that nothing follows its
 * weights, stops at n & ~3 and finishes in C. */
static NN_NOINLINE void mac_block(const int32_t *col, const int8_t *w, int32_t K, int32_t n,
                                  int32_t nb, int more, int32_t *acc)
{
    const int32_t up = (n + 3) & ~3, n4 = n & ~3;
    const int32_t whole = more ? nb : nb - 1;
    int32_t i, k;
    for (i = 0; i < whole; i++, w += K, acc += NN_LANES)
        mac_words4(col, w, up, acc);
    if (whole < nb) {
        const int32_t *x = col + NN_LANES * n4;
        if (n4 != 0)
            mac_words4(col, w, n4, acc);
        for (k = n4; k < n; k++, x += NN_LANES) {
            const int32_t wk = w[k];
            acc[0] += x[0] * wk;
            acc[1] += x[1] * wk;
            acc[2] += x[2] * wk;
            acc[3] += x[3] * wk;
        }
    }
}

/* The MAC part of a block of nb output channels (o0 ..) of group g for the 4 output pixels
 * (oy, ox ..): acc[4i + p] starts at the caller's value and gets every tap, chunk by chunk
 * (kc = lane_chunk(K), computed once per call: ARMv6-M divides in software). h: the lanes'
 * columns when the whole window is one chunk of 4 valid dense lanes (lanes_whole), else NULL. */
static void lanes_block(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                        int32_t o0, int32_t nb, int32_t oy, int32_t ox, int32_t n, int32_t g,
                        int32_t cin_g, int32_t K, int32_t kc, int32_t pad, const lanes_cols *h,
                        int32_t *col, int32_t *acc)
{
    int32_t k0, k1, j;
    for (k0 = 0; k0 < K; k0 = k1) {
        k1 = K - k0 < kc ? K : k0 + kc;
        if (h)
            im2col_whole(p, in, oy, ox, pad, h, 0, col);
        else
            im2col_words(p, in, oy, ox, n, g, cin_g, pad, k0, k1, col);
        for (j = NN_LANES * (k1 - k0); j & 15; j++)   /* the 4-tap block's taps past k1 */
            col[j] = 0;
        mac_block(col, weight + o0 * K + k0, K, k1 - k0, nb, o0 + nb < p->out_c || k1 < K, acc);
    }
}

/* Whether a run of n output pixels takes im2col_whole (then lanes_cols_of gives its h). */
static inline int lanes_whole(const nn_conv_params *p, int32_t n, int32_t cin_g, int32_t K,
                              int32_t kc)
{
    return n == NN_LANES && kc == K && p->dil_w == 1 && cin_g == p->in_c;
}

#endif
