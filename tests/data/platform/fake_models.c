/* Hand-written stand-ins for generated models (tests only).
 *
 * "sum":  4x4x3 RGB input; score[j] = sat8((sum of channel j) / 16 - 64) for j < 3,
 *         score[3] = sat8(pixel[0] - 128). Easy to compute in Python.
 * "spin": 2x2x1 GRAY input; layer 0 executes nn_spin(SPIN_A) (2*SPIN_A + 2 instructions),
 *         layer 1 nn_spin(SPIN_B); profile marks around both, so per-layer instruction counts
 *         are known.
 */
#include <stdint.h>

#include "nn_model.h"
#include "platform.h"

#define SPIN_A 100000u
#define SPIN_B 25000u

static int8_t sat8(int v) { return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v); }

static int sum_run(const uint8_t *pixels, int8_t *scores)
{
    int acc[3] = {0, 0, 0};
    for (int i = 0; i < 4 * 4 * 3; i++) acc[i % 3] += pixels[i];
    for (int j = 0; j < 3; j++) scores[j] = sat8(acc[j] / 16 - 64);
    scores[3] = sat8((int)pixels[0] - 128);
    return 0;
}

static const char *const sum_labels[] = {"red", "green", "blue", "first"};
static const char *const sum_layer_names[] = {"sum"};
static const char *const sum_layer_ops[] = {"sum"};
static const uint32_t sum_layer_macs[] = {48};

/* designated initializers: a field added to nn_model (nn_model.h) cannot shift these */
const nn_model sum_model = {
    .name = "sum", .in_h = 4, .in_w = 4, .in_c = 3, .channel_order = "RGB", .out_n = 4,
    .out_scale = 1.0f, .out_zero_point = 0, .run = sum_run, .labels = sum_labels,
    .softmax_exp_table = 0, .softmax_exp_len = 0, .n_layers = 1, .layer_names = sum_layer_names,
    .layer_ops = sum_layer_ops, .layer_macs = sum_layer_macs, .macs = 48, .arena_bytes = 64,
};

static int spin_run(const uint8_t *pixels, int8_t *scores)
{
    NN_PROFILE_MARK(0);
    nn_spin(SPIN_A);
    NN_PROFILE_MARK(1);
    nn_spin(SPIN_B);
    NN_PROFILE_MARK(2);
    scores[0] = (int8_t)(pixels[0] ^ pixels[3]);
    scores[1] = (int8_t)-1;
    return pixels[1] == 255 ? -7 : 0;   /* a failing input, for the error path */
}

static const char *const spin_layer_names[] = {"spin_a", "spin_b"};
static const char *const spin_layer_ops[] = {"loop", "loop"};
static const uint32_t spin_layer_macs[] = {SPIN_A, SPIN_B};

const nn_model spin_model = {
    .name = "spin", .in_h = 2, .in_w = 2, .in_c = 1, .channel_order = "GRAY", .out_n = 2,
    .out_scale = 1.0f, .out_zero_point = 0, .run = spin_run, .labels = 0,
    .softmax_exp_table = 0, .softmax_exp_len = 0, .n_layers = 2, .layer_names = spin_layer_names,
    .layer_ops = spin_layer_ops, .layer_macs = spin_layer_macs, .macs = SPIN_A + SPIN_B, .arena_bytes = 0,
};

const nn_model *const nn_models[] = {&sum_model, &spin_model};
const int nn_model_count = 2;
#if defined(__ARM_ARCH_6M__)  /* the micro:bit has 16 KiB of RAM in all */
uint8_t nn_app_pool[4096] __attribute__((aligned(8)));
#else
uint8_t nn_app_pool[16384] __attribute__((aligned(8)));
#endif
const uint32_t nn_app_pool_bytes = sizeof nn_app_pool;
