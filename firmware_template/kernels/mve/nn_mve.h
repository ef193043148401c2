/* Internal, Helium (MVE) variants only (kernels/mve/): the few vector loops every mve/ kernel
 * shares, as inline asm. GCC 12's arm_mve.h intrinsics compile a tail-predicated loop into
 * VCTP + VMRS/VMSR + VPST per iteration and never into DLSTP/LETP; these loops are the
 * architecture's low-overhead tail-predicated form: the last iteration's inactive lanes are
 * neither loaded (they read as zero), stored nor summed, so nothing outside a buffer is touched
 * and no loop needs a scalar tail. Compiled only for MVE cores: the build picks mve/ from
 * targets.Target.mve (nnbuild.csources.isa_for); there is no host emulation. */
#ifndef NN_MVE_H
#define NN_MVE_H

#include "nn_internal.h"

#if !defined(__ARM_FEATURE_MVE) || !defined(__GNUC__)
#error "kernels/mve/ needs Helium (MVE, -mcpu=cortex-m55) and GCC-style inline asm"
#endif

#include <arm_mve.h>

/* TFLite's MultiplyByQuantizedMultiplier(x, mult, shift) per lane for mult >= 0 and shift <= 0
 * (multipliers below 1):
 *   srdhm(x, mult) = VQRDMULH (its one saturating case, both INT32_MIN, cannot occur: mult >= 0),
 *   rdbpot(r, e)   = VRSHL by -e of r - (r < 0 && e > 0): VRSHL rounds half up in unbounded
 *                    precision, and the -1 makes that half away from zero for negative r
 *                    ((r & shift) >> 31 is -1 exactly then, as in CMSIS-NN; r > INT32_MIN). */
static inline int32x4_t mve_mbqm_right(int32x4_t x, int32x4_t mult, int32x4_t shift)
{
    int32x4_t r = vqrdmulhq_s32(x, mult);
    r = vaddq_s32(r, vshrq_n_s32(vandq_s32(r, shift), 31));
    return vrshlq_s32(r, shift);
}

/* dst[0 .. n) = src[0 .. n), n >= 0 (buffers may not overlap) */
static inline void mve_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    __asm__ volatile(
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n\t"
        "vldrb.8 q0, [%[s]], #16\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp    lr, 1b\n"
        "2:\n"
        : [d] "+r"(dst), [s] "+r"(src)
        : [n] "r"(n)
        : "lr", "q0", "memory");
}

/* rows >= 1 runs of len >= 1 bytes, src_step apart, copied back to back to dst (an interior
 * im2col window: one outer iteration per kernel row, no C in between) */
static inline void mve_copy_rows(int8_t *dst, const int8_t *src, int32_t len, int32_t rows,
                                 int32_t src_step)
{
    const int8_t *s;
    int8_t *d;   /* post-increments step 16 even in a tail-predicated last iteration */
    __asm__ volatile(
        "1:\n\t"
        "mov     %[s], %[src]\n\t"
        "mov     %[d], %[dst]\n\t"
        "dlstp.8 lr, %[len]\n"
        "2:\n\t"
        "vldrb.8 q0, [%[s]], #16\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp    lr, 2b\n\t"
        "add     %[src], %[src], %[step]\n\t"
        "add     %[dst], %[dst], %[len]\n\t"
        "subs    %[rows], %[rows], #1\n\t"
        "bne     1b\n"
        : [dst] "+r"(dst), [src] "+r"(src), [rows] "+r"(rows), [s] "=&r"(s), [d] "=&r"(d)
        : [len] "r"(len), [step] "r"(src_step)
        : "lr", "q0", "cc", "memory");
}

/* dst[0 .. n) = v, n >= 0 */
static inline void mve_fill(int8_t *dst, int32_t v, int32_t n)
{
    __asm__ volatile(
        "vdup.8  q0, %[v]\n\t"
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp    lr, 1b\n"
        "2:\n"
        : [d] "+r"(dst)
        : [n] "r"(n), [v] "r"(v)
        : "lr", "q0", "memory");
}

/* data[i] = clamp(data[i], lo, hi) in place for i < n, n >= 0, -128 <= lo <= hi <= 127 */
static inline void mve_clamp(int8_t *data, int32_t n, int32_t lo, int32_t hi)
{
    const int8_t *src = data;
    __asm__ volatile(
        "vdup.8  q1, %[lo]\n\t"
        "vdup.8  q2, %[hi]\n\t"
        "wlstp.8 lr, %[n], 2f\n"
        "1:\n\t"
        "vldrb.8 q0, [%[s]], #16\n\t"
        "vmax.s8 q0, q0, q1\n\t"
        "vmin.s8 q0, q0, q2\n\t"
        "vstrb.8 q0, [%[d]], #16\n\t"
        "letp    lr, 1b\n"
        "2:\n"
        : [d] "+r"(data), [s] "+r"(src)
        : [n] "r"(n), [lo] "r"(lo), [hi] "r"(hi)
        : "lr", "q0", "q1", "q2", "memory");
}

/* acc + sum a[i] * b[i] over i < n, n >= 1 (VMLADAVA over 16 int8 lanes per iteration) */
static inline int32_t mve_dot(const int8_t *a, const int8_t *b, int32_t n, int32_t acc)
{
    register int32_t s __asm__("r0") = acc;  /* VMLADAVA accumulates into an even register */
    __asm__ volatile(
        "dlstp.8 lr, %[n]\n"
        "1:\n\t"
        "vldrb.8 q0, [%[a]], #16\n\t"
        "vldrb.8 q1, [%[b]], #16\n\t"
        "vmladava.s8 %[s], q0, q1\n\t"
        "letp    lr, 1b\n"
        : [s] "+r"(s), [a] "+r"(a), [b] "+r"(b)
        : [n] "r"(n)
        : "lr", "q0", "q1", "memory");
    return s;
}

#endif
