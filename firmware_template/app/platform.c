/* Platform services: semihosting I/O, exit status, SysTick-based instruction counting.
 * See platform.h for the rationale. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nn_model.h"
#include "platform.h"

/* rdimon's stdio set-up (newlib's crt0 normally calls it). Weak: it is linked, and then called,
 * only when some code uses newlib's stdio; rdimon's syscalls cost ~2 KiB of RAM (reent + malloc
 * state), which the platform's own semihosting calls below avoid. */
void initialise_monitor_handles(void) __attribute__((weak));

/* ---- semihosting (BKPT 0xAB on M-profile) ------------------------------------------------ */

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_GET_CMDLINE 0x15
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost(int op, void *arg)
{
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void nn_plat_exit(int status)
{
    /* SYS_EXIT_EXTENDED carries the status (plain SYS_EXIT only says success/failure). */
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) semihost(SYS_EXIT_EXTENDED, block);
}

int nn_plat_get_args(char **argv, int max_args)
{
    static char cmdline[NN_PLAT_CMDLINE];
    uint32_t block[2] = {(uint32_t)(uintptr_t)cmdline, sizeof cmdline - 1};
    if (semihost(SYS_GET_CMDLINE, block) != 0) return 0;
    cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1] = '\0';
    /* QEMU joins the arg= values with single spaces, so arguments cannot contain spaces. */
    int argc = 0;
    char *p = cmdline;
    while (*p && argc < max_args) {
        while (*p == ' ') *p++ = '\0';
        if (!*p) break;
        argv[argc++] = p;
        while (*p && *p != ' ') p++;
    }
    argv[argc] = NULL;
    return argc;
}

/* ---- files: host files through semihosting; handles are >= 0, -1 is an error ------------- */

static int sh_open(const char *path, uint32_t mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, mode, (uint32_t)strlen(path)};
    return semihost(SYS_OPEN, block);
}

int nn_file_open_read(const char *path) { return sh_open(path, 1); }    /* "rb" */
int nn_file_open_write(const char *path) { return sh_open(path, 5); }   /* "wb" */

void nn_file_close(int fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    semihost(SYS_CLOSE, block);
}

long nn_file_read(int fd, void *buf, long n)
{
    long got = 0;
    while (got < n) {   /* SYS_READ returns the number of bytes NOT read */
        uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)((char *)buf + got), (uint32_t)(n - got)};
        int left = semihost(SYS_READ, block);
        if (left < 0 || left > n - got) return -1;
        if (left == n - got) break;   /* end of file */
        got = n - left;
    }
    return got;
}

int nn_file_write(int fd, const void *buf, long n)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    return n <= 0 || semihost(SYS_WRITE, block) == 0 ? 0 : -1;
}

/* ---- text output ------------------------------------------------------------------------ */

static int out_fd[3] = {-1, -1, -1};   /* semihosting handles of ":tt" for fd 1 and 2 */

static void write_all(int fd, const char *s, size_t n)
{
    if (fd >= 1 && fd <= 2 && out_fd[fd] >= 0) nn_file_write(out_fd[fd], s, (long)n);
}

/* A small printf subset (%d %i %u %x %s %c %%, flags '-' '0', width, 'l'): newlib's printf
 * family pulls in malloc (1 KiB of RAM for its state) and several KiB of code. */
static size_t fmt_num(char *out, unsigned long v, int neg, unsigned base)
{
    char tmp[12];
    size_t n = 0;
    do { tmp[n++] = "0123456789abcdef"[v % base]; v /= base; } while (v);
    size_t k = 0;
    if (neg) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

/* Formats into buf[cap]; with fd > 0 the buffer is flushed to that stream whenever it fills,
 * so output of any length needs only a small buffer. Returns the full length. */
static int vformat_to(int fd, char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t len = 0, start = 0;   /* buf holds characters start..len-1 of the output */
#define PUT(ch) do { \
        if (fd > 0 && len - start + 1 >= cap) { write_all(fd, buf, len - start); start = len; } \
        if (len - start + 1 < cap) buf[len - start] = (ch); \
        len++; \
    } while (0)
    for (; *fmt; fmt++) {
        if (*fmt != '%') { PUT(*fmt); continue; }
        int left = 0, zero = 0, width = 0, is_long = 0;
        for (fmt++; *fmt == '-' || *fmt == '0'; fmt++) { if (*fmt == '-') left = 1; else zero = 1; }
        for (; *fmt >= '0' && *fmt <= '9'; fmt++) width = width * 10 + (*fmt - '0');
        while (*fmt == 'l') { is_long = 1; fmt++; }
        char num[24];
        const char *s = num;
        size_t n;
        switch (*fmt) {
        case 'd': case 'i': {
            long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
            n = fmt_num(num, v < 0 ? 0ul - (unsigned long)v : (unsigned long)v, v < 0, 10);
            break;
        }
        case 'u': case 'x': {
            unsigned long v = is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            n = fmt_num(num, v, 0, *fmt == 'x' ? 16 : 10);
            break;
        }
        case 's': s = va_arg(ap, const char *); if (!s) s = "(null)"; n = strlen(s); break;
        case 'c': num[0] = (char)va_arg(ap, int); n = 1; break;
        case '%': num[0] = '%'; n = 1; break;
        default: return -1;   /* unsupported conversion: a bug in the caller's format */
        }
        size_t pad = (size_t)width > n ? (size_t)width - n : 0;
        int zeros = zero && !left && *fmt != 's' && *fmt != 'c';
        size_t i = 0;
        if (zeros && s[0] == '-') { PUT('-'); i = 1; }   /* the sign goes before the zeros */
        if (!left) while (pad) { PUT(zeros ? '0' : ' '); pad--; }
        for (; i < n; i++) PUT(s[i]);
        while (pad) { PUT(' '); pad--; }
    }
#undef PUT
    size_t held = len - start < cap ? len - start : cap - 1;
    if (fd > 0) write_all(fd, buf, held);
    if (cap) buf[held] = '\0';
    return (int)len;
}

static int nn_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    return vformat_to(0, buf, cap, fmt, ap);
}

int nn_format(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = nn_vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

static int vprint(int fd, const char *fmt, va_list ap)
{
    char buf[96];
    return vformat_to(fd, buf, sizeof buf, fmt, ap);
}

int nn_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprint(1, fmt, ap);
    va_end(ap);
    return n;
}

int nn_eprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprint(2, fmt, ap);
    va_end(ap);
    return n;
}

void nn_puts_raw(const char *s)
{
    write_all(1, s, strlen(s));
}

void nn_eputs_raw(const char *s)
{
    write_all(2, s, strlen(s));
}

void nn_json_string(const char *s)
{
    char buf[64];
    size_t n = 0;
    buf[n++] = '"';
    for (; s && *s; s++) {
        if (n > sizeof buf - 8) { write_all(1, buf, n); n = 0; }
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { buf[n++] = '\\'; buf[n++] = (char)c; }
        else if (c < 0x20) { n += (size_t)nn_format(buf + n, 8, "\\u%04x", c); }
        else buf[n++] = (char)c;
    }
    buf[n++] = '"';
    write_all(1, buf, n);
}

void nn_plat_fault(int exception)
{
    nn_eprintf("fault: unexpected exception %d\n", exception);
    nn_plat_exit(NN_EXIT_FAULT);
}

/* ---- heap: only the reserved .heap section (rdimon's default grows up to the stack pointer,
 * i.e. silently into the reserved stack) ---------------------------------------------------- */

extern char __heap_start[], __heap_end[];

void *_sbrk(ptrdiff_t incr)
{
    static char *brk = __heap_start;
    if (incr > __heap_end - brk || incr < __heap_start - brk) return (void *)-1;
    char *old = brk;
    brk += incr;
    return old;
}

/* ---- time -------------------------------------------------------------------------------- */

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
/* Reload value: the full 24 bits; tests build with a small one to exercise wrap handling. */
#ifndef NN_PLAT_SYST_RELOAD
#define NN_PLAT_SYST_RELOAD 0x00FFFFFFu
#endif

static volatile uint32_t systick_wraps;
static uint32_t instr_per_tick_q16;   /* 0 = not calibrated / no usable timer */

void SysTick_Handler(void) { systick_wraps++; }

void nn_plat_init(void)
{
    if (initialise_monitor_handles) initialise_monitor_handles();
    out_fd[1] = sh_open(":tt", 4);   /* QEMU: mode "w" -> its stdout */
    out_fd[2] = sh_open(":tt", 8);   /* mode "a" -> its stderr */
    SYST_RVR = NN_PLAT_SYST_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = 7u;   /* enable, interrupt on wrap, clock = processor clock */
    /* The counter loads RVR on its first tick without a wrap interrupt: a reading taken before
     * then (CVR still 0) would be a whole period ahead of the next one. Wait for the load,
     * boundedly, so a board whose SysTick does not run still starts (it then reports null). */
    for (uint32_t i = 0; i < 100000u && SYST_CVR == 0; i++) {
    }
}

uint64_t nn_ticks(void)
{
    uint32_t hi, lo;
    do {   /* re-read if a wrap interrupt ran between the two reads */
        hi = systick_wraps;
        lo = SYST_CVR;
    } while (hi != systick_wraps);
    return (uint64_t)hi * (NN_PLAT_SYST_RELOAD + 1u) + (NN_PLAT_SYST_RELOAD - (lo & 0x00FFFFFFu));
}

/* 2*n + 1 instructions here, + 1 for the caller's branch-and-link. */
__asm__(
    ".syntax unified\n"
    ".text\n"
    ".global nn_spin\n"
    ".type nn_spin, %function\n"
    ".thumb_func\n"
    "nn_spin:\n"
    "1: subs r0, r0, #1\n"
    "   bne 1b\n"
    "   bx lr\n"
    ".size nn_spin, . - nn_spin\n");

/* 2^22 iterations = 8.4M instructions (~40 ms of host time in QEMU): the factor is then exact
 * to about 1 tick in 100000-200000 (~1e-5), i.e. ~100 instructions on a 10M-instruction run. */
#define CALIB_LOOPS (1u << 22)

int nn_instr_calibrate(void)
{
    /* Start on a tick edge so that only the end of the interval is quantised. */
    uint64_t t0 = nn_ticks(), edge = t0;
    for (uint32_t guard = 0; edge == t0 && guard < 100000u; guard++) edge = nn_ticks();
    nn_spin(CALIB_LOOPS);
    uint64_t dt = nn_ticks() - edge;
    /* Fewer than 10000 ticks for 8M instructions: the timer does not run at a useful rate. */
    if (dt < 10000u) {
        instr_per_tick_q16 = 0;
        return -1;
    }
    instr_per_tick_q16 = (uint32_t)((((uint64_t)(2u * CALIB_LOOPS + 2u)) << 16) / dt);
    return 0;
}

int nn_instr_available(void) { return instr_per_tick_q16 != 0; }
uint32_t nn_instr_per_tick_q16(void) { return instr_per_tick_q16; }

uint64_t nn_ticks_to_instr(uint64_t ticks)
{
    return (ticks * instr_per_tick_q16 + 0x8000u) >> 16;
}

/* ---- per-layer profile marks -------------------------------------------------------------- */

/* Storage only in profiling builds (compile platform.c with the same -DNN_PROFILE as the
 * models): 5 bytes per mark is RAM the smallest targets do not want to spend otherwise. */
#ifdef NN_PROFILE
#define MARKS NN_PLAT_MAX_MARKS
#else
#define MARKS 1
#endif
/* Low 32 bits of the tick count: a layer shorter than 2^32 ticks (minutes) is measured exactly. */
static uint32_t marks[MARKS];
static uint8_t marked[MARKS];

void nn_profile_reset(void)
{
    for (int i = 0; i < MARKS; i++) marked[i] = 0;
}

void nn_profile_mark(int layer)
{
    uint32_t t = (uint32_t)nn_ticks();
    if (layer < 0 || layer >= MARKS) return;
    marks[layer] = t;
    marked[layer] = 1;
}

int nn_profile_interval(int i, uint64_t *ticks)
{
    if (i < 0 || i + 1 >= MARKS || !marked[i] || !marked[i + 1]) return 0;
    *ticks = (uint32_t)(marks[i + 1] - marks[i]);
    return 1;
}
