/* Smallest firmware for board bring-up tests: prints its arguments, exits with argv[1] if it is
 * a number; "spin N" times nn_spin(N); "fault" executes an undefined instruction; "hang" never
 * exits. -DBIG_ARRAY=N adds an N-byte zero-initialised array (to overflow RAM on purpose). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"

#ifdef BIG_ARRAY
volatile unsigned char big[BIG_ARRAY];
#endif

int main(int argc, char **argv)
{
    nn_printf("hello argc=%d", argc);
    for (int i = 1; i < argc; i++) nn_printf(" [%s]", argv[i]);
    nn_printf("\n");
#ifdef USE_PRINTF
    printf("newlib printf %d\n", 42);   /* through rdimon: startup must have initialised it */
    fflush(stdout);
#endif
#ifdef BIG_ARRAY
    big[BIG_ARRAY - 1] = 1;
#endif
    if (argc > 1 && strcmp(argv[1], "fmt") == 0) {   /* the platform's printf subset */
        static char longs[301];
        for (int i = 0; i < 300; i++) longs[i] = (char)('a' + i % 26);
        char small[8];
        int n = nn_format(small, sizeof small, "%d-%s", -12345, "xyz");
        nn_printf("%d|%5d|%-5d|%05d|%ld|%u|%lu|%x|%c|%%|%3s|%-3s|[%s] %d\n", -42, 7, 7, -7, -2147483647L - 1,
                  4000000000u, 123456789ul, 0xbeef, 'q', "a", "b", small, n);
        nn_printf("%s\n", longs);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "ticks0") == 0) {   /* a reading right after (re)initialising */
        nn_plat_init();
        uint64_t t0 = nn_ticks();
        nn_spin(20000);
        uint64_t t1 = nn_ticks();
        nn_printf("ticks0 %s %lu\n", t1 > t0 ? "forward" : "BACKWARD", (unsigned long)(t1 - t0));
        return 0;
    }
    if (argc > 1 && argv[1][0] == 'f') __asm__ volatile("udf #0");
    if (argc > 1 && argv[1][0] == 'h') for (;;) __asm__ volatile("nop");
    if (argc > 2 && argv[1][0] == 's') {   /* "spin N": print the measured instructions */
        unsigned long n = strtoul(argv[2], 0, 10);
        int ok = nn_instr_calibrate();
        unsigned long long t0 = nn_ticks();
        nn_spin(n);
        unsigned long long dt = nn_ticks() - t0;
        nn_printf("{\"calibrated\":%d,\"q16\":%lu,\"ticks\":%lu,\"instructions\":%lu}\n", ok == 0,
                  (unsigned long)nn_instr_per_tick_q16(), (unsigned long)dt,
                  (unsigned long)nn_ticks_to_instr(dt));
        return 0;
    }
    return argc > 1 ? atoi(argv[1]) : 0;
}
