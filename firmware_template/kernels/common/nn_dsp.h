/* Internal, DSP variants only (kernels/dsp/): the int8 -> int16 column expansion used by conv
 * (im2col) and fc. Compiled only where the intrinsics exist (or are emulated): a dsp/ file built
 * for a core without the DSP extension is a build-system error, not a silent fallback. */
#ifndef NN_DSP_H
#define NN_DSP_H

#include "nn_internal.h"

#ifndef NN_USE_DSP
/* the build picks dsp/ from targets.Target.dsp (nnbuild.csources.isa_for) */
#error "kernels/dsp/ needs the DSP extension (__ARM_FEATURE_DSP) or -DNN_EMULATE_DSP"
#endif

/* Column layout for the dual-MAC loops. A column of K int8 values is widened to int16 in blocks
 * of four: block (x0, x1, x2, x3) is stored as the word (x0, x2) and the word (x1, x3). One SXTB16
 * of a weight word then lines up with the first word and SXTB16-ROR8 with the second, so weights
 * need no reordering.
 *
 * fc uses one column: nn_widen writes the block words back to back, then the last K % 4 values
 * (the tail) in natural order. conv uses four columns (four output pixels) interleaved word by
 * word: the even words of columns 0..3, then their odd words (16 int16 per block), so the 1x4
 * mat-mult loads a block's four even (odd) words with one LDM and feeds each widened weight
 * word to four SMLADs; a conv column has ceil(K / 4) blocks, the first one starting with
 * (-K) & 3 zeros, so the MAC loops need no
 * tail loop (they read each weight row from that many bytes before its start). */
static inline void nn_widen(int16_t *col, const int8_t *src, int32_t n)
{
    int32_t i;
    for (i = n >> 2; i > 0; i--, src += 4, col += 4) {
        const uint32_t x = nn_read32(src);
        nn_write32(col, nn_sxtb16(x));
        nn_write32(col + 2, nn_sxtb16_ror8(x));
    }
    for (i = 0; i < (n & 3); i++)
        col[i] = src[i];
}

/* Writes one interleaved conv column as a byte stream (runs of input and of zero padding, any
 * length and alignment): up to three pending bytes wait in `acc` until a block is complete, and
 * whole source words are merged with them by shifts, so unaligned runs cost about as much as
 * aligned ones. nn_colw_end writes a last, zero-padded partial block, if any. */
typedef struct {
    int16_t *dst;    /* even word of the next block (column p: block start + 2 p) */
    uint32_t acc;    /* pending bytes, first in the low byte, zeros above */
    int32_t nacc;    /* number of pending bytes, 0..3 */
} nn_colw;

#define NN_COLW_STEP 16 /* int16 per interleaved block (4 columns x 4 values) */
#define NN_COLW_ODD 8   /* int16 from a column's even word to its odd word */
#define NN_COLW_PX 4    /* columns (output pixels) per interleaved block */

static inline void nn_colw_init(nn_colw *w, int16_t *dst)
{
    w->dst = dst;
    w->acc = 0;
    w->nacc = 0;
}

static inline void nn_colw_block(int16_t *dst, uint32_t x)
{
    nn_write32(dst, nn_sxtb16(x));
    nn_write32(dst + NN_COLW_ODD, nn_sxtb16_ror8(x));
}

/* Append src[0 .. n-1]. The state lives in locals: stores go through char-typed memcpy, which
 * may alias the struct, and would otherwise force a reload after every store. */
static inline void nn_colw_put(nn_colw *w, const int8_t *src, int32_t n)
{
    int16_t *dst = w->dst;
    int32_t nacc = w->nacc, m = n >> 2;
    uint32_t acc = w->acc;
    n &= 3;
    if (nacc == 0) {
        for (; m > 0; m--, src += 4, dst += NN_COLW_STEP)
            nn_colw_block(dst, nn_read32(src));
    } else {
        const int32_t sh = 8 * nacc;
        for (; m > 0; m--, src += 4, dst += NN_COLW_STEP) {
            const uint32_t x = nn_read32(src);
            nn_colw_block(dst, acc | (x << sh));
            acc = x >> (32 - sh);
        }
    }
    for (; n > 0; n--) {
        acc |= (uint32_t)(uint8_t)*src++ << (8 * nacc);
        if (++nacc == 4) {
            nn_colw_block(dst, acc);
            dst += NN_COLW_STEP;
            acc = 0;
            nacc = 0;
        }
    }
    w->dst = dst;
    w->acc = acc;
    w->nacc = nacc;
}

/* Append n zeros. */
static inline void nn_colw_zero(nn_colw *w, int32_t n)
{
    int16_t *dst = w->dst;
    int32_t nacc = w->nacc;
    if (nacc != 0 && nacc + n >= 4) {   /* complete the pending block */
        n -= 4 - nacc;
        nn_colw_block(dst, w->acc);
        dst += NN_COLW_STEP;
        w->acc = 0;
        nacc = 0;
    }
    for (; n >= 4; n -= 4, dst += NN_COLW_STEP) {
        nn_write32(dst, 0);
        nn_write32(dst + NN_COLW_ODD, 0);
    }
    nacc += n;   /* fewer than 4 - nacc zeros: pending (acc already holds zero bytes) */
    w->dst = dst;
    w->nacc = nacc;
}

/* Append n copies of the byte in pad4 (all four bytes equal). */
static inline void nn_colw_fill(nn_colw *w, int32_t n, uint32_t pad4)
{
    int16_t *dst = w->dst;
    int32_t nacc = w->nacc;
    uint32_t acc = w->acc;
    const uint32_t even = nn_sxtb16(pad4), odd = nn_sxtb16_ror8(pad4);
    for (; nacc != 0 && n > 0; n--) {      /* complete the pending block first */
        acc |= (pad4 & 0xffu) << (8 * nacc);
        if (++nacc == 4) {
            nn_colw_block(dst, acc);
            dst += NN_COLW_STEP;
            acc = 0;
            nacc = 0;
        }
    }
    for (; n >= 4; n -= 4, dst += NN_COLW_STEP) {
        nn_write32(dst, even);
        nn_write32(dst + NN_COLW_ODD, odd);
    }
    for (; n > 0; n--, nacc++)             /* fewer than 4: pending */
        acc |= (pad4 & 0xffu) << (8 * nacc);
    w->dst = dst;
    w->acc = acc;
    w->nacc = nacc;
}

/* Write the pending bytes, if any, as a zero-padded last block. */
static inline void nn_colw_end(nn_colw *w)
{
    if (w->nacc != 0)
        nn_colw_block(w->dst, w->acc);
}
#endif
