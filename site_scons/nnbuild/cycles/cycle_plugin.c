/* nnbuild's cycle estimate: a QEMU TCG plugin that prices every executed Thumb instruction by
 * the timing tables of ARM's Technical Reference Manuals (Cortex-M4 TRM table 3-1 and its
 * load/store pipelining rules; Cortex-M3 and Cortex-M0 TRMs for their differences).
 * docs/benchmarks.md states the model and what it ignores.
 *
 * Arguments (-plugin cycle_plugin.so,arg=value,...):
 *   out=PATH    the JSON result, written when QEMU exits
 *   core=m4|m3|m0   which table prices the instructions
 *   start=ADDR  hex address of a function: cycles are counted from its entry until it returns
 *               to its caller (the first call only)
 *   mark=ADDR   hex address of nn_profile_mark(): every entry inside that window records the
 *               running instruction and cycle counts (the per-layer boundaries)
 * Result: {"core":..., "windows":N, "instructions":I, "cycles":C, "marks":[[I,C],...]} with the
 * counts of the first window (windows = how many times the window opened).
 */
#define _POSIX_C_SOURCE 200809L   /* strdup */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

NN_QEMU_PLUGIN_EXPORT int qemu_plugin_version = NN_QEMU_PLUGIN_API_VERSION;

enum core { CORE_M4, CORE_M3, CORE_M0 };

#define NO_REG 16
#define DIVIDE_CYCLES 12     /* SDIV/UDIV take 2-12 cycles by operand values: the bound */
#define MAX_MARKS 4096

/* One decoded instruction, shared by every execution of it. */
typedef struct insn {
    uint64_t pc;
    uint32_t raw;           /* first halfword | second halfword << 16 */
    uint8_t size;           /* 2 or 4 bytes */
    uint8_t base;           /* cycles before pipelining and refill */
    bool load;              /* single LDR-class load: a following load/store may pipeline */
    bool single_ls;         /* single load or store: may pipeline after a load */
    bool mem;               /* any load or store (waits for a preceding store's data phase) */
    bool store1;            /* a one-cycle store whose data phase occupies the next cycle */
    bool branch;            /* may write the PC: a taken one costs a pipeline refill */
    uint8_t rt;             /* a load's destination register */
    uint8_t addr[2];        /* registers a load/store computes its address from */
    struct insn *next;      /* hash chain */
} insn;

static struct {
    enum core core;
    char *out;
    uint64_t start_pc, mark_pc;
    const insn *prev;
    bool open;               /* inside the first window */
    uint64_t ret_pc;
    uint64_t windows, insns, cycles;
    uint64_t marks[MAX_MARKS][2];
    unsigned n_marks;
    insn *table[1 << 14];
} S;

static unsigned popcount16(uint32_t v) { return (unsigned)__builtin_popcount(v & 0xFFFFu); }

static void mem_op(insn *in, bool is_load, unsigned rt, unsigned rn, unsigned rm, unsigned cycles)
{
    in->mem = in->single_ls = true;
    in->base = (uint8_t)cycles;
    in->addr[0] = (uint8_t)rn;
    in->addr[1] = (uint8_t)rm;
    if (is_load) {
        in->rt = (uint8_t)rt;
        if (rt == 15) {            /* LDR PC: blocking, never pipelined */
            in->branch = true;
            in->single_ls = false;
        } else {
            in->load = true;
        }
    } else if (rm == NO_REG) {
        in->store1 = true;         /* STR Rx,[Ry,#imm] is one cycle (TRM 3.3.2) */
        in->base = 1;
    }
}

static void multi_op(insn *in, unsigned n, bool writes_pc)
{
    in->mem = true;
    in->base = (uint8_t)(1 + n);   /* LDM/STM/PUSH/POP: 1+N, never pipelined with neighbours */
    in->branch = writes_pc;
}

static void decode16(insn *in, uint32_t h, enum core core)
{
    (void)core;
    if ((h & 0xFC00) == 0x4400) {                        /* hi-register ops, BX, BLX */
        unsigned op = (h >> 8) & 3, rd = ((h >> 4) & 8) | (h & 7);
        in->branch = op == 3 || (op != 1 && rd == 15);
    } else if ((h & 0xF800) == 0x4800) {                 /* LDR literal */
        mem_op(in, true, (h >> 8) & 7, 15, NO_REG, 2);
    } else if ((h & 0xF000) == 0x5000) {                 /* register offset */
        mem_op(in, ((h >> 9) & 7) >= 3, h & 7, (h >> 3) & 7, (h >> 6) & 7, 2);
    } else if ((h & 0xE000) == 0x6000 || (h & 0xF000) == 0x8000) {   /* immediate offset */
        mem_op(in, (h >> 11) & 1, h & 7, (h >> 3) & 7, NO_REG, 2);
    } else if ((h & 0xF000) == 0x9000) {                 /* SP relative */
        mem_op(in, (h >> 11) & 1, (h >> 8) & 7, 13, NO_REG, 2);
    } else if ((h & 0xF500) == 0xB100) {                 /* CBZ, CBNZ */
        in->branch = true;
    } else if ((h & 0xFE00) == 0xB400) {                 /* PUSH */
        multi_op(in, popcount16(h & 0x1FF), false);
    } else if ((h & 0xFE00) == 0xBC00) {                 /* POP */
        multi_op(in, popcount16(h & 0x1FF), (h >> 8) & 1);
    } else if ((h & 0xF000) == 0xC000) {                 /* STM, LDM */
        multi_op(in, popcount16(h & 0xFF), false);
    } else if ((h & 0xF000) == 0xD000) {                 /* B<cond>, UDF, SVC */
        in->branch = ((h >> 8) & 0xF) < 0xE;
    } else if ((h & 0xF800) == 0xE000) {                 /* B */
        in->branch = true;
    }
}

static void decode_ls_single(insn *in, uint32_t h, uint32_t h2)
{
    bool is_load = (h >> 4) & 1;
    unsigned rn = h & 0xF, rt = h2 >> 12, size = (h >> 5) & 3;
    bool reg_offset = !((h >> 7) & 1) && rn != 15 && (h2 & 0x0FC0) == 0;
    if (size == 3)
        return;                                          /* undefined: priced as one cycle */
    if (is_load && rt == 15 && size != 2)
        return;                                          /* PLD, PLI: hints */
    mem_op(in, is_load, rt, rn, reg_offset ? (h2 & 0xF) : NO_REG, 2);
}

static void decode32(insn *in, uint32_t h, uint32_t h2, enum core core)
{
    if ((h & 0xFE40) == 0xE800) {                        /* LDM, STM (.W) */
        bool is_load = (h >> 4) & 1;
        multi_op(in, popcount16(h2), is_load && (h2 & 0x8000));
    } else if ((h & 0xFE40) == 0xE840) {                 /* dual, exclusive, table branch */
        if ((h & 0xFFF0) == 0xE8D0 && (h2 & 0xFFE0) == 0xF000) {     /* TBB, TBH */
            in->mem = true;
            in->base = 3;                                /* load 2 + add 1, then the refill */
            in->branch = true;
        } else if ((h & 0xFFE0) == 0xE840 || (h & 0xFFE0) == 0xE8C0) {   /* LDREX, STREX */
            mem_op(in, (h >> 4) & 1, h2 >> 12, h & 0xF, NO_REG, 2);
            in->store1 = false;                          /* STREX is timed like a load */
            if (!((h >> 4) & 1)) in->base = 2;
        } else {                                         /* LDRD, STRD: 3, never pipelined */
            in->mem = true;
            in->base = 3;
        }
    } else if ((h & 0xEC00) == 0xEC00) {                 /* coprocessor space: FP and Helium */
        if ((h2 & 0x0E00) != 0x0A00)
            return;                                      /* not the FPU (MVE, ...): one cycle */
        if ((h & 0xEE00) == 0xEC00 && (h & 0xFFE0) != 0xEC40) {  /* VLDR/VSTR/VLDM/VSTM/VPUSH/VPOP */
            in->mem = true;
            in->base = (h & 0xFF20) == 0xED00 ? 2 : (uint8_t)(1 + (h2 & 0xFF));
        } else if ((h & 0xFFB0) == 0xEE80 && (h2 & 0x0E50) == 0x0A00) {
            in->base = 14;                               /* VDIV.F32 */
        }
    } else if ((h & 0xF800) == 0xF000 && (h2 & 0x8000)) {   /* branches, misc control */
        if ((h2 & 0x5000) == 0x0000)
            in->branch = ((h >> 6) & 0xE) != 0xE;        /* B<cond>.W (cond 111x: MSR, MRS, hints) */
        else
            in->branch = true;                           /* B.W, BL */
        if (core == CORE_M0 && (h2 & 0x5000) == 0x5000)
            in->base = 2;                                /* M0 BL: 4 cycles = 2 + refill */
    } else if ((h & 0xFE00) == 0xF800) {                 /* LDR*, STR* single */
        decode_ls_single(in, h, h2);
    } else if ((h & 0xFF80) == 0xFB00) {                 /* MUL, MLA, MLS, SMLAD, SMLAxy, ... */
        unsigned op1 = (h >> 4) & 7, op2 = (h2 >> 4) & 3, ra = h2 >> 12;
        if (core == CORE_M3 && op1 == 0 && (op2 == 1 || (op2 == 0 && ra != 15)))
            in->base = 2;                                /* M3: MLA, MLS */
    } else if ((h & 0xFF80) == 0xFB80) {                 /* long multiply, divide */
        unsigned op1 = (h >> 4) & 7, op2 = (h2 >> 4) & 0xF;
        if ((op1 == 1 || op1 == 3) && op2 == 0xF)
            in->base = DIVIDE_CYCLES;
        else if (core == CORE_M3 && op2 == 0)            /* the TRM's lower figure (small operands) */
            in->base = (op1 == 0 || op1 == 2) ? 3 : 4;   /* SMULL/UMULL 3-5, SMLAL/UMLAL 4-7 */
    }
}

/* Static facts of one instruction; base cycles by the table of `core`. */
static void decode(insn *in, enum core core)
{
    uint32_t h = in->raw & 0xFFFF, h2 = in->raw >> 16;
    in->base = 1;
    in->rt = in->addr[0] = in->addr[1] = NO_REG;
    if (in->size == 4)
        decode32(in, h, h2, core);
    else
        decode16(in, h, core);
    if (core == CORE_M0 && in->mem && in->single_ls) {
        in->base = 2;                                    /* M0: every single load/store 2, no pipelining */
        in->load = in->store1 = false;
    }
}

/* A taken branch refills the pipeline: P = 2, + 1 when the target is a 32-bit instruction at a
 * halfword (not word) address, which needs two fetches (M3/M4). */
static unsigned refill(const insn *target)
{
    return 2u + (S.core != CORE_M0 && target->size == 4 && (target->pc & 2));
}

static unsigned cycles_of(const insn *p, const insn *in)
{
    bool sequential = p && p->pc + p->size == in->pc;
    if (!sequential)
        return in->base;
    if (in->mem && p->store1)                            /* nothing pipelines after a store */
        return in->base + 1;
    if (in->single_ls && p->load && p->rt != in->addr[0] && p->rt != in->addr[1])
        return in->base - (in->base > 1);                /* address phase overlaps the LDR's data phase */
    return in->base;
}

static void on_exec(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    const insn *in = udata, *p = S.prev;
    S.prev = in;
    if (S.open && p && p->branch && in->pc != p->pc + p->size)
        S.cycles += refill(in);
    if (S.open && in->pc == S.ret_pc)
        S.open = false;                                  /* returned to the caller */
    if (p && in->pc == S.start_pc && S.windows++ == 0) {
        S.open = true;                                   /* only the first call is counted */
        S.ret_pc = p->pc + p->size;                      /* p is the call instruction */
    }
    if (!S.open)
        return;
    if (in->pc == S.mark_pc && S.n_marks < MAX_MARKS) {
        S.marks[S.n_marks][0] = S.insns;
        S.marks[S.n_marks][1] = S.cycles;
        S.n_marks++;
    }
    S.insns++;
    S.cycles += cycles_of(p, in);
}

/* Decoded instructions are kept by (address, encoding): memory is bounded by the code executed,
 * however often QEMU retranslates it. */
static insn *lookup(uint64_t pc, uint32_t raw, uint8_t size)
{
    size_t slot = (size_t)((pc >> 1) ^ (raw * 2654435761u)) & (sizeof S.table / sizeof S.table[0] - 1);
    for (insn *e = S.table[slot]; e; e = e->next)
        if (e->pc == pc && e->raw == raw && e->size == size)
            return e;
    insn *e = calloc(1, sizeof *e);
    if (!e) {
        fprintf(stderr, "cycle plugin: out of memory\n");
        exit(1);
    }
    e->pc = pc;
    e->raw = raw;
    e->size = size;
    decode(e, S.core);
    e->next = S.table[slot];
    S.table[slot] = e;
    return e;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *qi = qemu_plugin_tb_get_insn(tb, i);
        /* The length comes from the first halfword: QEMU 7.2's data of an instruction may
         * also hold bytes it read ahead (qemu_plugin_insn_size 6 for a 32-bit SDIV). */
        size_t avail = qemu_plugin_insn_size(qi);
        const uint8_t *b = qemu_plugin_insn_data(qi);
        uint32_t raw = avail >= 2 ? (uint32_t)b[0] | (uint32_t)b[1] << 8 : 0;
        size_t size = (raw >> 11) >= 0x1D ? 4 : 2;
        if (size == 4 && avail >= 4)
            raw |= ((uint32_t)b[2] | (uint32_t)b[3] << 8) << 16;
        insn *in = lookup(qemu_plugin_insn_vaddr(qi), raw, (uint8_t)size);
        qemu_plugin_register_vcpu_insn_exec_cb(qi, on_exec, QEMU_PLUGIN_CB_NO_REGS, in);
    }
}

static void write_result(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    static const char *const names[] = {"m4", "m3", "m0"};
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", S.out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "cycle plugin: cannot write %s\n", tmp);
        return;
    }
    fprintf(f, "{\"core\":\"%s\",\"windows\":%llu,\"instructions\":%llu,\"cycles\":%llu,\"marks\":[",
            names[S.core], (unsigned long long)S.windows, (unsigned long long)S.insns,
            (unsigned long long)S.cycles);
    for (unsigned i = 0; i < S.n_marks; i++)
        fprintf(f, "%s[%llu,%llu]", i ? "," : "", (unsigned long long)S.marks[i][0],
                (unsigned long long)S.marks[i][1]);
    fprintf(f, "]}\n");
    if (fclose(f) == 0)
        rename(tmp, S.out);                              /* the result appears whole or not at all */
}

static bool parse_addr(const char *s, uint64_t *v)
{
    char *end;
    *v = strtoull(s, &end, 16);
    return *s && !*end;
}

NN_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                              int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (!strncmp(a, "out=", 4) && a[4]) S.out = strdup(a + 4);
        else if (!strcmp(a, "core=m4")) S.core = CORE_M4;
        else if (!strcmp(a, "core=m3")) S.core = CORE_M3;
        else if (!strcmp(a, "core=m0")) S.core = CORE_M0;
        else if (!strncmp(a, "start=", 6)) ok = parse_addr(a + 6, &S.start_pc);
        else if (!strncmp(a, "mark=", 5)) ok = parse_addr(a + 5, &S.mark_pc);
        else ok = false;
        if (!ok) {
            fprintf(stderr, "cycle plugin: bad argument '%s' (expected out=PATH, core=m4|m3|m0, "
                            "start=HEX, mark=HEX)\n", a);
            return -1;
        }
    }
    if (!S.out || !S.start_pc) {
        fprintf(stderr, "cycle plugin: out=PATH and start=HEX are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_result, NULL);
    return 0;
}
