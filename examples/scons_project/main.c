/* The application: one inference of the generated model on a fixed input, scores printed as
 * signed bytes ("scores: s0 s1 ..."). Pixel i is (i * 37 + 11) mod 256: no camera needed, and a
 * test can compute the same input for the golden model. */
#include <stdint.h>
#include <stdio.h>

#include "sample_digits.h"

#define PIXELS (SAMPLE_DIGITS_INPUT_H * SAMPLE_DIGITS_INPUT_W * SAMPLE_DIGITS_INPUT_C)

static uint8_t pixels[PIXELS];
static int8_t scores[SAMPLE_DIGITS_OUTPUT_N];

int main(void)
{
    for (int i = 0; i < PIXELS; i++)
        pixels[i] = (uint8_t)((i * 37 + 11) % 256);
    if (sample_digits_run(pixels, scores) != 0) {
        printf("sample_digits_run failed\n");
        return 1;
    }
    printf("scores:");
    for (int i = 0; i < SAMPLE_DIGITS_OUTPUT_N; i++)
        printf(" %d", scores[i]);
    printf("\n");
    return 0;
}
