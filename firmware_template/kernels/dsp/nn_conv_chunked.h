/* Internal to dsp/nn_conv2d_q7_chunked.c and nn_conv2d_s8_chunked.c: the general DSP conv with
 * its window split into chunks of kernel rows (issue 14: streamed cifar10_m4 in 12 KiB on m4).
 *
 * nn_conv_general.h im2cols a quad's four whole columns: 8 * ceil4(K) bytes, 6,400 B for K = 800.
 * Here each quad's columns are built one chunk at a time (kernel rows [c * r, c * r + r): the
 * same conv with k_h = r and pad_h shifted by c * r * dil_h, so the quad builders of
 * nn_conv_quads.h serve unchanged), and the four int32 sums of every output channel are carried
 * in the scratch between chunks: the first chunk starts from the bias, the last requantises with
 * the layer's epilogue mode (nn_conv_mat_mult.h: rq_store4). Exact int32 sums as the one-pass
 * loop (only the order of the additions differs), so the same bytes. Scratch: the columns of r
 * kernel rows, then 16 bytes of sums per output channel of a group. Static, in a header included
 * once by each of those files. */
#ifndef NN_CONV_CHUNKED_H
#define NN_CONV_CHUNKED_H

#include "nn_dsp.h"
#include "nn_conv_common.h"
#include "nn_conv_im2col.h"
#include "nn_conv_mat_mult.h"
#include "nn_conv_quads.h"

#define NN_CHUNKS_MAX 8   /* chunks per window (the generator asks for at most k_h) */

/* kernel rows per chunk for `chunks` requested (clamped to 1..NN_CHUNKS_MAX); the chunks in use
 * are ceil(k_h / rows) <= chunks. Mirrored by kernels/q7_conv2d.py (chunk_rows). */
static inline int32_t nn_chunk_rows(int32_t k_h, int32_t chunks)
{
    chunks = chunks < 1 ? 1 : chunks > NN_CHUNKS_MAX ? NN_CHUNKS_MAX : chunks;
    return (k_h + chunks - 1) / chunks;
}

static inline int32_t nn_conv_chunked_scratch(const nn_conv_params *p, int32_t chunks)
{
    const int32_t cin_g = p->in_c / p->groups, r = nn_chunk_rows(p->k_h, chunks);
    return 8 * nn_ceil4(r * p->k_w * cin_g) + 16 * (p->out_c / p->groups);
}

#if defined(MAC_1X4_BLOCK_ASM)
/* The sums of channels part[0..3], part[4..7], ... up to part_end += each weight row (from w, a
 * row every nb * 4 + wskip bytes, word-aligned: LDRD) x the four columns at cols, over nb blocks:
 * mac_1x4_aligned's loop with the channel loop around it in the same asm, so a channel costs its
 * blocks plus 11 instructions (LDM / STM of its sums, reloads; +7 for the n % 8 dispatch when nb
 * is not a multiple of 8) instead of a call (~40). Registers: sums r4-r7 (LDM / STM), w r0, columns r1 and r8-r11, n r2, weights r3 and
 * r12, widened lr; cols, nb and the channel's sums pointer on the stack. */
/* one int16 pair of weights (`w`: sxtb16 of `src`) x the next word of each of the four columns
 * (r8-r11, from r1) into the sums r4-r7 */
#define NN_CHUNK_MAC4(w, src)                                                                  \
    "ldmia  r1!, {r8, r9, r10, r11}\n\t"                                                       \
    "sxtb16 " w ", " src "\n\t"                                                                \
    "smlad  r4, " w ", r8, r4\n\t"                                                             \
    "smlad  r5, " w ", r9, r5\n\t"                                                             \
    "smlad  r6, " w ", r10, r6\n\t"                                                            \
    "smlad  r7, " w ", r11, r7\n\t"
#define NN_CHUNK_BLOCK                                                                         \
    "ldr    r3, [r0], #4\n\t"                                                                  \
    NN_CHUNK_MAC4("lr", "r3")                                                                  \
    NN_CHUNK_MAC4("lr", "r3, ror #8")
#define NN_CHUNK_PAIR                                                                          \
    "ldrd   r3, r12, [r0], #8\n\t"                                                             \
    NN_CHUNK_MAC4("lr", "r3")                                                                  \
    NN_CHUNK_MAC4("r3", "r3, ror #8")                                                          \
    NN_CHUNK_MAC4("lr", "r12")                                                                 \
    NN_CHUNK_MAC4("r12", "r12, ror #8")
/* the channel's sums stored (from the pointer at [sp, #8]), w moved on by wskip to the next
 * row, and back to `loop` for the next channel until part_end */
#define NN_CHUNK_NEXT(loop)                                                                    \
    "ldr    r3, [sp, #8]\n\t"                                                                  \
    "stmia  r3!, {r4, r5, r6, r7}\n\t"                                                         \
    "ldr    r2, [sp, #56]\n\t"                                                                 \
    "add    r0, r0, r2\n\t"                                                                    \
    "ldr    r2, [sp, #52]\n\t"                                                                 \
    "cmp    r3, r2\n\t"                                                                        \
    "bne    " loop "\n\t"
static NN_NOINLINE __attribute__((__naked__)) void
mac_rows_1x4(const int8_t *w NN_MAYBE_UNUSED, const int16_t *cols NN_MAYBE_UNUSED, int32_t nb NN_MAYBE_UNUSED,
             int32_t *part NN_MAYBE_UNUSED, const int32_t *part_end NN_MAYBE_UNUSED,
             int32_t wskip NN_MAYBE_UNUSED)
{   /* the arguments arrive in r0-r3 and on the stack (AAPCS): the asm reads them there */
    __asm__ volatile(
        "push   {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "sub    sp, sp, #16\n\t"           /* part_end at [sp, #52], wskip at [sp, #56] */
        "str    r1, [sp, #0]\n\t"
        "tst    r2, #7\n\t"
        "bne    7f\n\t"
        /* nb % 8 == 0 (cifar10_m4's conv2: 80 and 120 blocks): no dispatch per channel */
        "lsrs   r2, r2, #3\n\t"
        "str    r2, [sp, #4]\n\t"
        "8:\n\t"
        "str    r3, [sp, #8]\n\t"
        "ldm    r3, {r4, r5, r6, r7}\n\t"
        "ldr    r1, [sp, #0]\n\t"
        "ldr    r2, [sp, #4]\n\t"
        "9:\n\t"
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        "subs   r2, r2, #1\n\t"
        "bne    9b\n\t"
        NN_CHUNK_NEXT("8b")
        "b      10f\n\t"
        "7:\n\t"                          /* any nb: mac_1x4_aligned's dispatch per channel */
        "str    r2, [sp, #4]\n\t"
        "1:\n\t"
        "str    r3, [sp, #8]\n\t"
        "ldm    r3, {r4, r5, r6, r7}\n\t"
        "ldr    r1, [sp, #0]\n\t"
        "ldr    r2, [sp, #4]\n\t"
        "tst    r2, #1\n\t"
        "beq    2f\n\t"
        NN_CHUNK_BLOCK
        "2:\n\t"
        "lsls   lr, r2, #30\n\t"           /* N: bit 1 (one pair), C: bit 2 (two pairs) */
        "bpl    3f\n\t"
        NN_CHUNK_PAIR
        "3:\n\t"
        "bcc    4f\n\t"
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        "4:\n\t"
        "lsrs   r2, r2, #3\n\t"
        "beq    6f\n\t"
        "5:\n\t"
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        NN_CHUNK_PAIR
        "subs   r2, r2, #1\n\t"
        "bne    5b\n\t"
        "6:\n\t"
        NN_CHUNK_NEXT("1b")
        "10:\n\t"
        "add    sp, sp, #16\n\t"
        "pop    {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t");
}
#define NN_CHUNK_ASM 1
#endif

/* The sums of n_oc channels (part[4 * o ..]) += weight rows (a row every K bytes, Kc values
 * from w) x the chunk's columns; fast: whole blocks in word-aligned rows. */
static void chunk_mac(const int8_t *w, int32_t K, const int16_t *cols, int32_t Kc, int32_t *part,
                      int32_t n_oc, int fast)
{
#ifdef NN_CHUNK_ASM
    if (fast && n_oc > 0) {
        mac_rows_1x4(w, cols, Kc >> 2, part, part + 4 * n_oc, K - Kc);
        return;
    }
#else
    (void)fast;
#endif
    /* the rest (and the host): a chunk whose first block starts with (-Kc) & 3 zeros takes its
     * first weights from first_word (no read before the row), as mac_row does for built columns;
     * not mac_row itself, whose aligned path would link a second copy of the LDRD loop */
    for (; n_oc > 0; n_oc--, w += K, part += 4) {
        const int32_t pre = (-Kc) & 3;
        if (pre) {
            MAC_1X4_WORD(first_word(w, pre, Kc), cols, part[0], part[1], part[2], part[3]);
            mac_1x4_call(w + 4 - pre, cols + NN_COLW_STEP, (Kc >> 2), part);
        } else {
            mac_1x4_call(w, cols, Kc >> 2, part);
        }
    }
}

/* the complete sums of n_oc channels requantised in `mode` to npx (1..4) pixels at out + p * ps */
static inline __attribute__((__always_inline__)) void
chunk_out_body(const int32_t *b, int32_t bw, int32_t n_oc, const int32_t *part, int8_t *out,
               int32_t ps, int32_t npx, int32_t s, int32_t lo, int32_t hi, const int mode)
{
    int32_t p;
    for (; n_oc > 0; n_oc--, b += bw, part += 4, out++) {
        if (npx == 4) {
            rq_store4(out, ps, part[0], part[1], part[2], part[3], b, s, lo, hi, mode);
        } else {   /* a last quad of fewer pixels: the repeated columns' outputs are dropped */
            int8_t t[4];
            rq_store4(t, 1, part[0], part[1], part[2], part[3], b, s, lo, hi, mode);
            for (p = 0; p < npx; p++)
                out[p * ps] = t[p];
        }
    }
}

typedef void (*nn_chunk_out_fn)(const int32_t *, int32_t, int32_t, const int32_t *, int8_t *,
                                int32_t, int32_t, int32_t, int32_t, int32_t);

/* per epilogue mode (nn_conv_mat_mult.h: q7 0-2, s8 3-5), so no mode test per channel */
#define NN_CHUNK_OUT(name, mode_)                                                              \
    static NN_NOINLINE NN_MAYBE_UNUSED void                                                    \
    name(const int32_t *b, int32_t bw, int32_t n_oc, const int32_t *part, int8_t *out,         \
         int32_t ps, int32_t npx, int32_t s, int32_t lo, int32_t hi)                           \
    {                                                                                          \
        chunk_out_body(b, bw, n_oc, part, out, ps, npx, s, lo, hi, mode_);                     \
    }

/* per group, output pixels in quads; per quad, each chunk's columns then its pass over the
 * group's channels. b: bias words (bw 1) or s8 records (bw NN_S8_CHAN); pad4: the padding byte
 * x 4; s: q7's out_shift or s8's out_zp (as the mat-mult instances take them). */
static void conv_chunked(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *b, int32_t bw, int8_t *out, int16_t *scratch,
                         int32_t chunks, uint32_t pad4, nn_chunk_out_fn out_fn, int32_t s,
                         int32_t lo, int32_t hi)
{
    const int32_t G = p->groups, cin_g = p->in_c / G, cout_g = p->out_c / G, K = nn_conv_taps(p);
    const int32_t r = nn_chunk_rows(p->k_h, chunks), n = (p->k_h + r - 1) / r;
    const int32_t row_k = r * p->k_w * cin_g;   /* a full chunk's share of a weight row */
    int32_t *const part = (int32_t *)(void *)((int8_t *)scratch + 8 * nn_ceil4(row_k));
    nn_conv_params sub[NN_CHUNKS_MAX];
    nn_conv_quads q[NN_CHUNKS_MAX];
    int32_t c, g;
    for (c = 0; c < n; c++) {
        sub[c] = *p;
        sub[c].k_h = (int16_t)(p->k_h - c * r < r ? p->k_h - c * r : r);
        sub[c].pad_h = (int16_t)(p->pad_h - c * r * p->dil_h);
    }
    for (g = 0; g < G; g++) {
        const int8_t *const wg = weight + g * cout_g * K;
        const int32_t *const bg = b + g * cout_g * bw;
        for (c = 0; c < n; c++)
            nn_conv_quads_init(&q[c], &sub[c], in, g, cin_g, pad4);
        while (nn_conv_quads_next(&q[0], scratch)) {
            int32_t o;
            for (o = 0; o < cout_g; o++)     /* the sums start from the bias */
                part[4 * o] = part[4 * o + 1] = part[4 * o + 2] = part[4 * o + 3] = bg[o * bw];
            for (c = 0; c < n; c++) {
                const int8_t *wc = wg + c * row_k;
                const int32_t Kc = q[c].K;
                if (c > 0)
                    nn_conv_quads_next(&q[c], scratch);
                chunk_mac(wc, K, scratch, Kc, part, cout_g,
                          (Kc & 3) == 0 && (K & 3) == 0 && ((uintptr_t)wc & 3) == 0);
            }
            out_fn(bg, bw, cout_g, part, out + q[0].pix * p->out_c + g * cout_g, p->out_c, q[0].npx,
                   s, lo, hi);
        }
    }
}

#endif
