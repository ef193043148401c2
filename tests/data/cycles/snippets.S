@ Hand-counted snippets for the cycle plugin (tests/test_cycles.py holds each one's count by the
@ Cortex-M4 TRM rules of docs/benchmarks.md). run_snippet calls one with BLX and returns to a
@ 16-bit NOP, so the snippet's return refill is P = 2.
    .syntax unified
    .thumb
    .text

    .global run_snippet
    .type run_snippet, %function
    .thumb_func
    .p2align 2
run_snippet:
    push {r4, lr}
    blx r0
    nop
    pop {r4, pc}
    .size run_snippet, . - run_snippet

#if __ARM_ARCH >= 7
@ Multiplies without DSP: 1 each on the M4; on the M3 MLA/MLS 2, SMULL/UMULL 3, SMLAL/UMLAL 4
    .global snip_mul
    .type snip_mul, %function
    .thumb_func
    .p2align 2
snip_mul:
    movs r0, #10
    movs r1, #3
    mul r2, r1, r0
    mla r2, r1, r0, r2
    mls r2, r1, r0, r2
    smull r2, r3, r1, r0
    umull r2, r3, r1, r0
    smlal r2, r3, r1, r0
    umlal r2, r3, r1, r0
    udiv r2, r3, r0
    bx lr
    .size snip_mul, . - snip_mul
#endif

#ifdef __ARM_FEATURE_DSP
@ ALU and multiplies: 1 each, SDIV 12, BX LR 1 + 2
    .global snip_alu
    .type snip_alu, %function
    .thumb_func
    .p2align 2
snip_alu:
    movs r0, #10
    movs r1, #3
    muls r1, r0, r1
    smull r2, r3, r1, r0
    smlal r2, r3, r1, r0
    smlad r2, r1, r0, r2
    sdiv r2, r3, r0
    bx lr
    .size snip_alu, . - snip_alu

@ Loads and stores: LDR 2, 1 when pipelined after an LDR that does not produce its address;
@ STR #imm 1 and the next load/store waits 1; STR [reg] after an LDR 1; LDRD 3.
    .global snip_loads
    .type snip_loads, %function
    .thumb_func
    .p2align 2
snip_loads:
    movs r0, #0
    sub sp, #16
    mov r1, sp
    str r1, [sp, #8]
    ldr r2, [r1]
    ldr r3, [r1, #4]
    ldr r1, [r1, #8]
    ldr r2, [r1, #4]
    str r2, [r1, r0]
    ldr r3, [r1]
    ldrd r2, r3, [r1]
    ldr r2, [r1]
    add sp, #16
    bx lr
    .size snip_loads, . - snip_loads

@ PUSH/LDM/POP 1+N, a loop: taken BNE 1 + 2, not taken 1, POP {.., pc} 1 + N + 2
    .global snip_loop
    .type snip_loop, %function
    .thumb_func
    .p2align 2
snip_loop:
    push {r4, r5, lr}
    mov r1, sp
    ldm.w r1, {r2, r3}
    movs r4, #3
1:  subs r4, #1
    bne 1b
    pop {r4, r5, pc}
    .size snip_loop, . - snip_loop

@ A branch to a 32-bit instruction at a halfword address refills in 3
    .global snip_wide
    .type snip_wide, %function
    .thumb_func
    .p2align 2
snip_wide:
    movs r0, #2
    b.n 2f
    nop
2:  add.w r0, r0, #1
    bx lr
    .size snip_wide, . - snip_wide
#endif

@ ARMv6-M (the m0 table): PUSH/POP 1+N, single loads and stores 2 (no pipelining), taken
@ branches 1 + 2, BL 4, POP {.., pc} 1 + N + 2
    .global snip_m0
    .type snip_m0, %function
    .thumb_func
    .p2align 2
snip_m0:
    push {r4, lr}
    mov r1, sp
    ldr r2, [r1]
    ldr r3, [r1, #4]
    str r2, [r1]
    movs r4, #2
1:  subs r4, #1
    bne 1b
    bl leaf_m0
    pop {r4, pc}
    .size snip_m0, . - snip_m0

    .type leaf_m0, %function
    .thumb_func
leaf_m0:
    bx lr
    .size leaf_m0, . - leaf_m0
