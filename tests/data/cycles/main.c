/* Runs one hand-counted snippet of snippets.S (argv[1]) for the cycle plugin's tests. */
#include <string.h>

#include "platform.h"

void run_snippet(void (*f)(void));
void snip_alu(void);
void snip_loads(void);
void snip_loop(void);
void snip_wide(void);
void snip_m0(void);
void snip_mul(void);

int main(int argc, char **argv)
{
    static const struct { const char *name; void (*f)(void); } all[] = {
#ifdef __ARM_FEATURE_DSP
        {"alu", snip_alu}, {"loads", snip_loads}, {"loop", snip_loop}, {"wide", snip_wide},
#endif
#if __ARM_ARCH >= 7
        {"mul", snip_mul},
#endif
        {"m0", snip_m0}};
    for (unsigned i = 0; argc > 1 && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(argv[1], all[i].name) == 0) {
            run_snippet(all[i].f);
            return 0;
        }
    nn_printf("usage: alu|loads|loop|wide|mul|m0\n");
    return 1;
}
