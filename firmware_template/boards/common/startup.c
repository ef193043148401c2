/* Reset and vector table shared by every Cortex-M board (the board differs only by board.ld).
 *
 * Reset: enable the FPU/MVE when the code is compiled for one (must come before any code that
 * the compiler may have vectorised), copy .data from flash, zero .bss, run constructors, open
 * the semihosting stdio handles, fetch argv through semihosting, call main() and exit with its
 * return value through semihosting (SYS_EXIT_EXTENDED, so QEMU's exit status is main's).
 */
#include <stdint.h>
#include <string.h>

#include "platform.h"

extern uint32_t __stack_top[], __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern void (*__preinit_array_start[])(void), (*__preinit_array_end[])(void);
extern void (*__init_array_start[])(void), (*__init_array_end[])(void);

int main(int argc, char **argv);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* Addresses as integers: ISO C has no conversion between object and function pointers. */
#define H(f) ((uintptr_t)(f))
__attribute__((section(".vectors"), used))
const uintptr_t nn_vector_table[16 + 32] = {
    (uintptr_t)__stack_top, H(Reset_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), 0, 0, 0, H(Default_Handler), H(Default_Handler), 0, H(Default_Handler),
    H(SysTick_Handler),
    /* external interrupts: none used; any that fires is reported as a fault */
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler), H(Default_Handler),
    H(Default_Handler), H(Default_Handler),
};
#undef H

__attribute__((noreturn, optimize("no-tree-loop-distribute-patterns", "no-tree-vectorize")))
void Reset_Handler(void)
{
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= 0xFu << 20;   /* CP10 + CP11 full access: FPU (and MVE on v8.1-M) */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = __data_load, *dst = __data_start;
    while (dst < __data_end) *dst++ = *src++;
    for (dst = __bss_start; dst < __bss_end; dst++) *dst = 0;
    for (void (**f)(void) = __preinit_array_start; f < __preinit_array_end; f++) (*f)();
    for (void (**f)(void) = __init_array_start; f < __init_array_end; f++) (*f)();

    nn_plat_init();
    static char *argv[NN_PLAT_MAX_ARGS + 1];
    int argc = nn_plat_get_args(argv, NN_PLAT_MAX_ARGS);
    nn_plat_exit(main(argc, argv));
}

/* Any unexpected exception: say which one and stop with a distinctive exit status. */
void Default_Handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    nn_plat_fault((int)(ipsr & 0x1FFu));
}
