/* Two models with known symbol sizes for memory-map tests (names share a prefix on purpose:
 * tiny_big_* must not be counted as model "tiny"). */
#include <stdint.h>

#include "nn_model.h"

const int8_t tiny_weights[1000] = {1, 2, 3};
const int32_t tiny_bias[10] = {4};
int8_t tiny_arena[1024];
const int8_t tiny_big_weights[3000] = {5};
int8_t tiny_big_arena[2048];
int16_t tiny_big_scratch[128];

void nn_fake_kernel(int8_t *data, int32_t n);

int tiny_run(const uint8_t *pixels, int8_t *scores)
{
    for (int i = 0; i < 1024; i++) tiny_arena[i] = (int8_t)(pixels[i % 4] + tiny_weights[i % 1000]);
    nn_fake_kernel(tiny_arena, 1024);
    scores[0] = (int8_t)(tiny_arena[5] + tiny_bias[pixels[1] % 10]);
    return 0;
}

int tiny_big_run(const uint8_t *pixels, int8_t *scores)
{
    for (int i = 0; i < 2048; i++) tiny_big_arena[i] = (int8_t)(pixels[i % 4] + tiny_big_weights[i % 3000]);
    for (int i = 0; i < 128; i++) tiny_big_scratch[i] = tiny_big_arena[i * 3];
    scores[0] = (int8_t)tiny_big_scratch[7];
    return 0;
}

/* designated initializers: a field added to nn_model (nn_model.h) cannot shift these */
const nn_model tiny_model = {.name = "tiny", .in_h = 2, .in_w = 2, .in_c = 1, .channel_order = "GRAY",
                             .out_n = 1, .out_scale = 1.0f, .run = tiny_run, .macs = 1024, .arena_bytes = 1024};
const nn_model tiny_big_model = {.name = "tiny_big", .in_h = 2, .in_w = 2, .in_c = 1, .channel_order = "GRAY",
                                 .out_n = 1, .out_scale = 1.0f, .run = tiny_big_run, .macs = 2048,
                                 .arena_bytes = 2048};
const nn_model *const nn_models[] = {&tiny_model, &tiny_big_model};
const int nn_model_count = 2;
#if defined(__ARM_ARCH_6M__)  /* the micro:bit has 16 KiB of RAM in all */
uint8_t nn_app_pool[4096] __attribute__((aligned(8)));
#else
uint8_t nn_app_pool[16384] __attribute__((aligned(8)));
#endif
const uint32_t nn_app_pool_bytes = sizeof nn_app_pool;
