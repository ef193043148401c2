/* Internal: the few DSP-extension intrinsics the kernels use, behind one name each.
 *
 * NN_USE_DSP is defined where the dsp/ variants can be compiled: on cores with __ARM_FEATURE_DSP
 * (ACLE intrinsics from <arm_acle.h>) or on any host with NN_EMULATE_DSP (plain C with the same
 * semantics, so the dsp/ variants are tested bit for bit without an emulator). It selects how
 * an intrinsic is spelled, never which algorithm runs: that is which file the build compiles.
 * 32-bit loads and stores go through memcpy: no strict-aliasing or alignment trouble, and GCC
 * turns them into single LDR/STR on ARMv7E-M (which allows unaligned word access).
 */
#ifndef NN_SIMD_H
#define NN_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) || defined(NN_EMULATE_DSP)
#define NN_USE_DSP 1
#endif

static inline uint32_t nn_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void nn_write32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A 32-bit load from a 4-byte-aligned address inside an int16/int8 buffer. GCC's may_alias
 * type makes the access legal under strict aliasing and, unlike memcpy, tells the compiler the
 * address is aligned. */
#if defined(__GNUC__)
typedef uint32_t nn_u32_alias __attribute__((__may_alias__, __aligned__(4)));
static inline uint32_t nn_read32_aligned(const void *p)
{
    return *(const nn_u32_alias *)p;
}
/* Scheduling fence: `ptr` counts as rewritten after `dep` is computed, so loads through ptr stay
 * behind dep. Keeps GCC from hoisting every load of a MAC loop to its top, which runs the loop
 * out of registers (spills in the hottest loop). Emits no instruction. */
#define NN_AFTER(ptr, dep) __asm__("" : "+r"(ptr) : "r"(dep))
/* For MAC loops kept out of their caller: inlined, the caller's live values crowd them */
#define NN_NOINLINE __attribute__((__noinline__))
/* a static helper of a shared header that some of its includers do not call */
#define NN_MAYBE_UNUSED __attribute__((__unused__))
#else
#define NN_NOINLINE
#define NN_MAYBE_UNUSED
#define nn_read32_aligned nn_read32
#define NN_AFTER(ptr, dep) ((void)0)
#endif

#if defined(NN_USE_DSP) && !defined(NN_EMULATE_DSP)

#include <arm_acle.h>

/* bytes 0 and 2, sign-extended into the two halfwords */
static inline uint32_t nn_sxtb16(uint32_t x)
{
    return (uint32_t)__sxtb16((int32_t)x);
}

/* bytes 1 and 3: GCC 12 has no __ror and does not fold a rotate into SXTB16, so one insn here */
static inline uint32_t nn_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* acc + a.lo*b.lo + a.hi*b.hi */
static inline int32_t nn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}

/* halfword lanes of acc += sign-extended bytes 0 and 2 of x (mod 2^16 per lane) */
static inline uint32_t nn_sxtab16(uint32_t acc, uint32_t x)
{
    return (uint32_t)__sxtab16((int32_t)acc, (int32_t)x);
}

/* same with bytes 1 and 3 of x */
static inline uint32_t nn_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    uint32_t r;
    __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}

/* per-byte signed maximum: SSUB8 sets the GE flags, SEL picks by them */
static inline uint32_t nn_max_s8x4(uint32_t a, uint32_t b)
{
    (void)__ssub8((int32_t)a, (int32_t)b);
    return __sel(a, b);
}

/* saturate to [-128, 127] (SSAT) and to [0, 127] (USAT): the two usual activation ranges */
static inline int32_t nn_ssat8(int32_t x)
{
    return __ssat(x, 8);
}

static inline int32_t nn_usat7(int32_t x)
{
    return (int32_t)__usat(x, 7);
}

/* max(x, 0) in one instruction (USAT to [0, 2^31 - 1]) */
static inline int32_t nn_usat31(int32_t x)
{
    return (int32_t)__usat(x, 31);
}

#elif defined(NN_EMULATE_DSP)

static inline int32_t nn_sext8(uint32_t x)
{
    return (int32_t)(x & 0xffu) - (int32_t)((x & 0x80u) << 1);
}

static inline int32_t nn_sext16(uint32_t x)
{
    return (int32_t)(x & 0xffffu) - (int32_t)((x & 0x8000u) << 1);
}

static inline uint32_t nn_sxtb16(uint32_t x)
{
    return ((uint32_t)nn_sext8(x) & 0xffffu) | ((uint32_t)nn_sext8(x >> 16) << 16);
}

static inline uint32_t nn_sxtb16_ror8(uint32_t x)
{
    return nn_sxtb16((x >> 8) | (x << 24));
}

static inline int32_t nn_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    /* the instruction wraps modulo 2^32 (and sets Q); do the same without signed overflow */
    uint32_t r = (uint32_t)acc + (uint32_t)(nn_sext16(a) * nn_sext16(b))
               + (uint32_t)(nn_sext16(a >> 16) * nn_sext16(b >> 16));
    return (int32_t)r;
}

static inline uint32_t nn_sxtab16(uint32_t acc, uint32_t x)
{
    uint32_t lo = (acc + (uint32_t)nn_sext8(x)) & 0xffffu;
    uint32_t hi = ((acc >> 16) + (uint32_t)nn_sext8(x >> 16)) & 0xffffu;
    return lo | (hi << 16);
}

static inline uint32_t nn_sxtab16_ror8(uint32_t acc, uint32_t x)
{
    return nn_sxtab16(acc, (x >> 8) | (x << 24));
}

static inline int32_t nn_ssat8(int32_t x)
{
    return x < -128 ? -128 : (x > 127 ? 127 : x);
}

static inline int32_t nn_usat7(int32_t x)
{
    return x < 0 ? 0 : (x > 127 ? 127 : x);
}

static inline int32_t nn_usat31(int32_t x)
{
    return x < 0 ? 0 : x;
}

static inline uint32_t nn_max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t r = 0;
    int i;
    for (i = 0; i < 32; i += 8) {
        uint32_t pick = nn_sext8(a >> i) >= nn_sext8(b >> i) ? a : b;  /* SSUB8 GE, then SEL */
        r |= pick & (0xffu << i);
    }
    return r;
}

#endif

#endif
