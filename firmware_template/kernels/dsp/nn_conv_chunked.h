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

/* the four sums of each of n_oc channels (part[4 * o ..]) += weight rows (stride K, Kc values
 * from w) x the chunk's columns; first: they start from the bias word / record's first word */
static inline __attribute__((__always_inline__)) void
chunk_mac(const int8_t *w, const int32_t *b, const int16_t *cols, int32_t Kc, int32_t *part,
          int first, int fast)
{
    if (first)
        part[0] = part[1] = part[2] = part[3] = b[0];
    if (fast)   /* whole aligned blocks: the LDRD loop */
        mac_1x4_aligned(w, cols, (Kc + 3) >> 2, part);
    else
        mac_row(w, Kc, ((-Kc) & 3) != 0, cols, part);
}

/* a chunk before the last: the sums stay in the scratch */
static NN_NOINLINE NN_MAYBE_UNUSED void chunk_acc(const int8_t *w, int32_t K, const int32_t *b, int32_t bw,
                                                  int32_t n_oc, const int16_t *cols, int32_t Kc,
                                                  int32_t *part, int first, int fast)
{
    for (; n_oc > 0; n_oc--, w += K, b += bw, part += 4)
        chunk_mac(w, b, cols, Kc, part, first, fast);
}

/* the last chunk: sums complete, requantised in `mode` to npx (1..4) pixels at out + p * ps */
static inline __attribute__((__always_inline__)) void
chunk_last_body(const int8_t *w, int32_t K, const int32_t *b, int32_t bw, int32_t n_oc,
                const int16_t *cols, int32_t Kc, int32_t *part, int first, int fast, int8_t *out,
                int32_t ps, int32_t npx, int32_t s, int32_t lo, int32_t hi, const int mode)
{
    int32_t p;
    for (; n_oc > 0; n_oc--, w += K, b += bw, part += 4, out++) {
        chunk_mac(w, b, cols, Kc, part, first, fast);
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

typedef void (*nn_chunk_last_fn)(const int8_t *, int32_t, const int32_t *, int32_t, int32_t,
                                 const int16_t *, int32_t, int32_t *, int, int, int8_t *, int32_t,
                                 int32_t, int32_t, int32_t, int32_t);

/* per epilogue mode (nn_conv_mat_mult.h: q7 0-2, s8 3-5), so no mode test per channel */
#define NN_CHUNK_LAST(name, mode_)                                                             \
    static NN_NOINLINE NN_MAYBE_UNUSED void                                                    \
    name(const int8_t *w, int32_t K, const int32_t *b, int32_t bw, int32_t n_oc,               \
         const int16_t *cols, int32_t Kc, int32_t *part, int first, int fast, int8_t *out,     \
         int32_t ps, int32_t npx, int32_t s, int32_t lo, int32_t hi)                           \
    {                                                                                          \
        chunk_last_body(w, K, b, bw, n_oc, cols, Kc, part, first, fast, out, ps, npx, s, lo,   \
                        hi, mode_);                                                            \
    }

/* per group, output pixels in quads; per quad, each chunk's columns then its pass over the
 * group's channels. b: bias words (bw 1) or s8 records (bw NN_S8_CHAN); pad4: the padding byte
 * x 4; s: q7's out_shift or s8's out_zp (as the mat-mult instances take them). */
static void conv_chunked(const nn_conv_params *p, const int8_t *in, const int8_t *weight,
                         const int32_t *b, int32_t bw, int8_t *out, int16_t *scratch,
                         int32_t chunks, uint32_t pad4, nn_chunk_last_fn last, int32_t s,
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
            int8_t *o = out + q[0].pix * p->out_c + g * cout_g;
            for (c = 0; c < n; c++) {
                const int8_t *wc = wg + c * row_k;
                const int32_t Kc = q[c].K;
                const int fast = (Kc & 3) == 0 && (K & 3) == 0 && ((uintptr_t)wc & 3) == 0;
                if (c > 0)
                    nn_conv_quads_next(&q[c], scratch);
                if (c < n - 1)
                    chunk_acc(wc, K, bg, bw, cout_g, scratch, Kc, part, c == 0, fast);
                else
                    last(wc, K, bg, bw, cout_g, scratch, Kc, part, c == 0, fast, o, p->out_c,
                         q[0].npx, s, lo, hi);
            }
        }
    }
}

#endif
