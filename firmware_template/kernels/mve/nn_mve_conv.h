/* Internal to mve/nn_conv2d_q7.c and nn_conv2d_s8.c: int8 im2col and the 2 x 3 VMLADAVA tile.
 *
 * The general conv runs per group on tiles of 3 output pixels: im2col copies each pixel's window
 * as one int8 column of K = k_h*k_w*cin_g bytes in (ky, kx, c) order, the order of a weight row,
 * the three columns back to back in the scratch (3K bytes: its nn_conv2d_*_scratch_bytes); then
 * each pass computes 2 output channels x 3 pixels: per 16 values of K one load per weight row
 * and per column (5) feed 6 VMLADAVA (96 MACs), with DLSTP/LETP tail predication for K % 16;
 * the 6 results are requantised as two vectors (a0 b0 a1 b1, a2 b2 a2 b2: pixel j's two
 * channels are adjacent bytes) and written by two byte scatter stores. The asm fills vectors
 * with the two-register VMOV only where both registers hold the same value (a2 a2, b2 b2;
 * s8's multipliers and shifts), the one use on which QEMU 7.2 and the architecture agree
 * (mve_pack).
 * Static functions in a header included once by each of those files. */
#ifndef NN_MVE_CONV_H
#define NN_MVE_CONV_H

#include "nn_mve.h"
#include <stddef.h>
#include "nn_conv_common.h"

#define NN_MVE_TILE 3   /* output pixels per tile */

/* What a full tile's asm loop over the channel pairs reads (through one register) and
 * updates: the epilogue's vectors, then scalars at the offsets the asm names. */
typedef struct {
    int32x4_t lo, hi;          /* 0, 16: the activation range in every lane */
    uint32x4_t off0, off1;     /* 32, 48: tile_offsets */
    const int8_t *cols;        /* 64: the 3 columns, back to back */
    const int32_t *bias;       /* 68: q7: bias[o]; s8: the record of channel o */
    int8_t *y;                 /* 72: output of channel o, pixel 0 */
    int32_t pairs;             /* 76: channel pairs left, >= 1 */
    int32_t arg;               /* 80: q7: VQRSHL's shift; s8: out_zp */
    const int8_t *w;           /* 84: weight row o */
    int32_t k;                 /* 88: K */
} nn_mve_tile;

/* the offsets the asm uses (a negative array size stops the build if the layout moves) */
typedef char nn_mve_tile_layout[offsetof(nn_mve_tile, cols) == 64 && offsetof(nn_mve_tile, w) == 84
                                && offsetof(nn_mve_tile, k) == 88 ? 1 : -1];

/* The MAC loop of a tile pass, in the registers the tile asm loops use: accumulators r0 r2 r4
 * (channel o, pixels 0..2) and r6 r8 r10 (channel o + 1), columns r1 r3 r5, weight rows r9 r11;
 * t in r12. */
#define MVE_TILE_MAC                                                                           \
    "ldr     lr, [r12, #88]\n\t"                                                               \
    "dlstp.8 lr, lr\n"                                                                         \
    "2:\n\t"                                                                                   \
    "vldrb.8 q0, [r1], #16\n\t"                                                                \
    "vldrb.8 q1, [r3], #16\n\t"                                                                \
    "vldrb.8 q2, [r5], #16\n\t"                                                                \
    "vldrb.8 q3, [r9], #16\n\t"                                                                \
    "vmladava.s8 r0, q3, q0\n\t"                                                               \
    "vmladava.s8 r2, q3, q1\n\t"                                                               \
    "vmladava.s8 r4, q3, q2\n\t"                                                               \
    "vldrb.8 q3, [r11], #16\n\t"                                                               \
    "vmladava.s8 r6, q3, q0\n\t"                                                               \
    "vmladava.s8 r8, q3, q1\n\t"                                                               \
    "vmladava.s8 r10, q3, q2\n\t"                                                              \
    "letp    lr, 2b\n\t"

/* Before a pass: the columns from t->cols (r1, r3 = r1 + K, r5 = r3 + K) and the weight rows
 * from t->w (r9, r11 = r9 + K; t->w moves on to row o + 2). Pointers are set afresh for every
 * pass: a tail-predicated loop's post-increments add 16 even in its partial last iteration. */
#define MVE_TILE_COLS                                                                          \
    "ldr     lr, [r12, #88]\n\t"                                                               \
    "ldr     r1, [r12, #64]\n\t"                                                               \
    "add     r3, r1, lr\n\t"                                                                   \
    "add     r5, r3, lr\n\t"                                                                   \
    "ldr     r9, [r12, #84]\n\t"                                                               \
    "add     r11, r9, lr\n\t"                                                                  \
    "add     r0, r11, lr\n\t"                                                                  \
    "str     r0, [r12, #84]\n\t"

/* After a pass (r1 = t->y): y += 2, and loop to 1: while pairs remain. */
#define MVE_TILE_NEXT                                                                          \
    "adds    r1, r1, #2\n\t"                                                                   \
    "str     r1, [r12, #72]\n\t"                                                               \
    "ldr     r1, [r12, #76]\n\t"                                                               \
    "subs    r1, r1, #1\n\t"                                                                   \
    "str     r1, [r12, #76]\n\t"                                                               \
    "bne     1b\n\t"

/* Runs `body` (asm text using the macros above) with t in r12; every other general register
 * but r7 (the frame pointer of unoptimised builds), sp and pc, and q0-q7, are the body's. */
#define MVE_TILE_ASM(body, t)                                                                  \
    do {                                                                                       \
        register nn_mve_tile *t_ __asm__("r12") = (t);                                         \
        __asm__ volatile(                                                                      \
            "vldrw.32 q4, [r12]\n\t"                                                           \
            "vldrw.32 q5, [r12, #16]\n\t"                                                      \
            "vldrw.32 q6, [r12, #32]\n\t"                                                      \
            "vldrw.32 q7, [r12, #48]\n"                                                        \
            "1:\n\t" body                                                                      \
            :                                                                                  \
            : "r"(t_)                                                                          \
            : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "r11", "lr",        \
              "q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "cc", "memory");                 \
    } while (0)

/* acc[0..2] += w0 . (c0, c1, c2), acc[3..5] += w1 . (c0, c1, c2) over k >= 1 values (the
 * tiles' slow path: the last tile of a group, an odd channel). The accumulators are bound to
 * even registers (VMLADAVA's must be even), everything else too: left to choose, GCC runs out. */
static void mve_mac_2x3(const int8_t *w0, const int8_t *w1, const int8_t *c0, const int8_t *c1,
                        const int8_t *c2, int32_t k, int32_t *acc)
{
    register int32_t a0 __asm__("r0") = acc[0], a1 __asm__("r2") = acc[1];
    register int32_t a2 __asm__("r4") = acc[2], b0 __asm__("r6") = acc[3];
    register int32_t b1 __asm__("r8") = acc[4], b2 __asm__("r10") = acc[5];
    register const int8_t *x0 __asm__("r1") = c0, *x1 __asm__("r3") = c1, *x2 __asm__("r5") = c2;
    register const int8_t *v0 __asm__("r9") = w0, *v1 __asm__("r11") = w1;
    register int32_t n __asm__("r12") = k;
    __asm__ volatile(
        "dlstp.8 lr, %[n]\n"
        "1:\n\t"
        "vldrb.8 q0, [%[x0]], #16\n\t"
        "vldrb.8 q1, [%[x1]], #16\n\t"
        "vldrb.8 q2, [%[x2]], #16\n\t"
        "vldrb.8 q3, [%[v0]], #16\n\t"
        "vmladava.s8 %[a0], q3, q0\n\t"
        "vmladava.s8 %[a1], q3, q1\n\t"
        "vmladava.s8 %[a2], q3, q2\n\t"
        "vldrb.8 q3, [%[v1]], #16\n\t"
        "vmladava.s8 %[b0], q3, q0\n\t"
        "vmladava.s8 %[b1], q3, q1\n\t"
        "vmladava.s8 %[b2], q3, q2\n\t"
        "letp    lr, 1b\n"
        : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [b0] "+r"(b0), [b1] "+r"(b1),
          [b2] "+r"(b2), [v0] "+r"(v0), [v1] "+r"(v1), [x0] "+r"(x0), [x1] "+r"(x1),
          [x2] "+r"(x2)
        : [n] "r"(n)
        : "lr", "q0", "q1", "q2", "q3", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = b0;
    acc[4] = b1;
    acc[5] = b2;
}

/* The vector (l0, l1, l2, l3): four single-lane VMOVs. Not the two-register form
 * (VMOV Qd[2], Qd[0], Rt, Rt2): QEMU 7.2 puts Rt in lane 0 where GCC (vcreateq) and the
 * architecture put it in lane 2, so code using it would pass in QEMU and fail on silicon or
 * the other way round. */
static inline int32x4_t mve_pack(int32_t l0, int32_t l1, int32_t l2, int32_t l3)
{
    int32x4_t v;
    __asm__("vmov.32 %q[v][0], %[l0]\n\t"
            "vmov.32 %q[v][1], %[l1]\n\t"
            "vmov.32 %q[v][2], %[l2]\n\t"
            "vmov.32 %q[v][3], %[l3]"
            : [v] "=&w"(v)
            : [l0] "r"(l0), [l1] "r"(l1), [l2] "r"(l2), [l3] "r"(l3));
    return v;
}

/* Byte offsets of a tile's 6 outputs in the two result vectors: pixel j of the tile starts
 * j * OC bytes after pixel 0 (the second vector repeats pixel 2: the same byte stored twice). */
static inline void tile_offsets(int32_t OC, uint32x4_t *off0, uint32x4_t *off1)
{
    *off0 = vreinterpretq_u32_s32(mve_pack(0, 1, OC, OC + 1));
    *off1 = vreinterpretq_u32_s32(mve_pack(2 * OC, 2 * OC + 1, 2 * OC, 2 * OC + 1));
}

/* The column of output pixel (oy, ox), group g: K = k_h*k_w*cin_g bytes in (ky, kx, c) order at
 * dst; padding taps hold `pad` (q7: 0; s8: in_zp, which the folded bias expects). A dense layer
 * (groups 1, no horizontal dilation) copies one run per kernel row. */
static void im2col_s8(const nn_conv_params *p, const int8_t *in, int32_t oy, int32_t ox,
                      int32_t g, int32_t cin_g, int8_t *dst, int32_t pad)
{
    const int32_t C = p->in_c, W = p->in_w, KW = p->k_w, row_len = KW * cin_g;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t dense = p->dil_w == 1 && cin_g == C;
    int32_t kx0, kx1, ky;
    tap_range(ix0, KW, p->dil_w, W, &kx0, &kx1);
    if (dense && kx0 == 0 && kx1 == KW && iy0 >= 0 && iy0 + (p->k_h - 1) * p->dil_h < p->in_h) {
        /* inside the input (the common case): every kernel row is one input run */
        mve_copy_rows(dst, in + (iy0 * W + ix0) * C, row_len, p->k_h, p->dil_h * W * C);
        return;
    }
    /* a window clipped by the padding: pad everything, then copy the valid runs */
    mve_fill(dst, pad, p->k_h * row_len);
    if (kx0 >= kx1)
        return;
    for (ky = 0; ky < p->k_h; ky++, dst += row_len) {
        const int32_t iy = iy0 + ky * p->dil_h;
        const int8_t *src;
        int32_t kx;
        if (iy < 0 || iy >= p->in_h)
            continue;
        src = in + (iy * W + ix0 + kx0 * p->dil_w) * C + g * cin_g;   /* first valid tap */
        if (dense) {
            mve_copy(dst + kx0 * C, src, (kx1 - kx0) * C);
        } else {
            for (kx = kx0; kx < kx1; kx++, src += p->dil_w * C)
                mve_copy(dst + kx * cin_g, src, cin_g);
        }
    }
}

/* Next output pixel in row-major order. */
static inline void next_pixel(const nn_conv_params *p, int32_t *oy, int32_t *ox)
{
    if (++*ox == p->out_w) {
        *ox = 0;
        ++*oy;
    }
}

/* The columns of up to NN_MVE_TILE pixels from (oy, ox) on, n of them real: cols[j] for j >= n
 * repeat column 0 (their results are dropped). Advances (oy, ox) past the tile. Three pixels
 * of one output row whose windows lie inside the input (most tiles of a dense layer) take one
 * row-copy loop each, without the per-pixel window clipping. */
static void im2col_tile(const nn_conv_params *p, const int8_t *in, int32_t *oy, int32_t *ox,
                        int32_t g, int32_t cin_g, int8_t *scratch, int32_t n, int32_t pad,
                        const int8_t **cols)
{
    const int32_t C = p->in_c, KH = p->k_h, KW = p->k_w, K = KH * KW * cin_g;
    const int32_t iy0 = *oy * p->stride_h - p->pad_h, ix0 = *ox * p->stride_w - p->pad_w;
    const int32_t dx = p->stride_w * C;
    int32_t j;
    if (n == NN_MVE_TILE && cin_g == C && p->dil_w == 1 && *ox + 2 < p->out_w && iy0 >= 0
        && iy0 + (KH - 1) * p->dil_h < p->in_h && ix0 >= 0
        && ix0 + 2 * p->stride_w + KW <= p->in_w) {
        const int8_t *src = in + (iy0 * p->in_w + ix0) * C;
        const int32_t row_step = p->dil_h * p->in_w * C;
        for (j = 0; j < NN_MVE_TILE; j++, src += dx) {
            cols[j] = scratch + j * K;
            mve_copy_rows(scratch + j * K, src, KW * C, KH, row_step);
        }
        *ox += NN_MVE_TILE;
        if (*ox == p->out_w) {
            *ox = 0;
            ++*oy;
        }
        return;
    }
    for (j = 0; j < NN_MVE_TILE; j++) {
        cols[j] = scratch + (j < n ? j : 0) * K;
        if (j < n) {
            im2col_s8(p, in, *oy, *ox, g, cin_g, scratch + j * K, pad);
            next_pixel(p, oy, ox);
        }
    }
}

/* A scalar pass's results (the tiles the asm does not take): acc[j] channel o, acc[3 + j]
 * channel o + 1 (when pair), pixels j < n, at y[j * OC] and y[j * OC + 1]. The scheme's part. */
typedef void (*mve_scalar_epilogue)(const void *ctx, const int32_t *acc, int32_t o, int32_t pair,
                                    int32_t n, int8_t *y, int32_t OC);

/* The general convolution of both schemes: per group, tiles of 3 output pixels im2col'd into
 * int8 columns (padding taps `pad`), then all channel pairs of a full tile through the scheme's
 * tile asm `tiles` (NULL: none), the rest 2 channels x 3 pixels per mve_mac_2x3 from their
 * biases (channel o's at bias[o * bias_words]) and `epi`. t: lo, hi and arg set by the caller.
 * Inlined into each scheme's entry with its epilogue. */
static inline void mve_conv(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                            const int32_t *bias, int32_t bias_words, int32_t pad, int8_t *out,
                            int16_t *scratch, nn_mve_tile *t, void (*tiles)(nn_mve_tile *),
                            mve_scalar_epilogue epi, const void *ctx)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, OC = p->out_c;
    const int32_t K = p->k_h * p->k_w * cin_g, npix = p->out_h * p->out_w;
    int8_t *cbuf = (int8_t *)scratch;
    int32_t g, q, o;

    tile_offsets(OC, &t->off0, &t->off1);
    t->cols = cbuf;
    t->k = K;
    for (g = 0; g < G; g++) {
        const int8_t *wg = weight + g * cout_g * K;
        const int32_t *bg = bias + bias_words * g * cout_g;
        int32_t oy = 0, ox = 0;
        for (q = 0; q < npix; q += NN_MVE_TILE) {
            const int32_t n = npix - q < NN_MVE_TILE ? npix - q : NN_MVE_TILE;
            int8_t *y = out + q * OC + g * cout_g;
            const int8_t *cols[NN_MVE_TILE];
            im2col_tile(p, in, &oy, &ox, g, cin_g, cbuf, n, pad, cols);
            o = 0;
            if (n == NN_MVE_TILE && tiles && cout_g >= 2) {
                o = cout_g & ~1;
                t->bias = bg;
                t->y = y;
                t->pairs = cout_g >> 1;
                t->w = wg;
                tiles(t);
                y += o;
            }
            for (; o < cout_g; o += 2, y += 2) {
                const int32_t pair = o + 1 < cout_g;
                const int8_t *w0 = wg + o * K, *w1 = pair ? w0 + K : w0;
                int32_t acc[6];
                acc[0] = acc[1] = acc[2] = bg[bias_words * o];
                acc[3] = acc[4] = acc[5] = bg[bias_words * (pair ? o + 1 : o)];
                mve_mac_2x3(w0, w1, cols[0], cols[1], cols[2], K, acc);
                epi(ctx, acc, g * cout_g + o, pair, n, y, OC);
            }
        }
    }
}

#endif
