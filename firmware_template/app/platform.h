/* Platform services for the firmware application: semihosting I/O, exit, instruction counting.
 *
 * I/O uses ARM semihosting calls directly (SYS_OPEN/READ/WRITE/CLOSE, ":tt" for stdout and
 * stderr): newlib's rdimon syscalls would add ~2 KiB of RAM (reent + malloc state), a lot on a
 * 16 KiB part. The image still links with rdimon.specs, so code that uses newlib's printf works
 * too (startup then initialises rdimon's handles). Nothing here uses malloc: no heap is needed.
 * Text output uses nn_format, a small printf subset: %d %i %u %x %s %c %% with flags '-' '0',
 * a width and the 'l' modifier.
 *
 * Instruction counting: QEMU runs with -icount shift=0 (1 instruction = 1 ns of virtual time).
 * SysTick runs on the core clock (16-32 MHz depending on the board), extended to 64 bits by
 * counting wraps in its interrupt. nn_instr_calibrate() times a loop of a known instruction
 * count (8.4M) to get instructions per tick (to ~1e-5), so a reading is exact up to one tick
 * (31-63 instructions depending on the board), ~20 instructions of the reads themselves and
 * ~1e-5 of its length.
 */
#ifndef NN_PLATFORM_H
#define NN_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#define NN_PLAT_MAX_ARGS 16
#define NN_PLAT_CMDLINE 512

/* Exit status used when an unexpected exception (fault) stops the program. */
#define NN_EXIT_FAULT 100

void nn_plat_init(void);                              /* start the tick counter */
int nn_plat_get_args(char **argv, int max_args);       /* semihosting command line -> argv */
void nn_plat_exit(int status) __attribute__((noreturn));
void nn_plat_fault(int exception) __attribute__((noreturn));

int nn_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* stdout */
int nn_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* stderr */
int nn_format(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void nn_puts_raw(const char *s);                     /* stdout, no formatting, any length */
void nn_eputs_raw(const char *s);                    /* stderr, no formatting, any length */
void nn_json_string(const char *s);                  /* s as a quoted JSON string on stdout */

/* Files on the host, relative to QEMU's working directory. Return -1 on error. */
int nn_file_open_read(const char *path);
int nn_file_open_write(const char *path);
long nn_file_read(int fd, void *buf, long n);        /* loops until n bytes or end of file */
int nn_file_write(int fd, const void *buf, long n);  /* 0 or -1 */
void nn_file_close(int fd);

/* Instruction counting. nn_ticks() is the raw 64-bit SysTick count; nn_instr_calibrate()
 * returns 0 when it measured a usable factor, -1 when the timer does not run (then
 * nn_instr_available() is 0 and callers report null). */
uint64_t nn_ticks(void);
int nn_instr_calibrate(void);
int nn_instr_available(void);
uint64_t nn_ticks_to_instr(uint64_t ticks);
uint32_t nn_instr_per_tick_q16(void);

/* Executes exactly 2*n + 2 instructions (n >= 1): the calibration workload, also for tests. */
void nn_spin(uint32_t n);

/* Per-layer profile marks (nn_model.h): the tick time of the last nn_profile_mark(i).
 * Recorded only when platform.c is compiled with -DNN_PROFILE (as the models must be). */
#ifndef NN_PLAT_MAX_MARKS
#define NN_PLAT_MAX_MARKS 65      /* up to 64 layers; 5 bytes each */
#endif
void nn_profile_reset(void);
int nn_profile_interval(int i, uint64_t *ticks);     /* ticks from mark i to i+1; 0 if not both hit */

#endif
