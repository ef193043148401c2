/* The interface between a generated model and the application.
 *
 * The code generator emits, per model `<name>`, a `<name>.h/.c` with `int <name>_run(...)` and a
 * `const nn_model <name>_model` describing it, plus `nn_models.c` listing every model of the
 * firmware in `nn_models[]`. The application only ever talks to models through this struct.
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stdint.h>

typedef struct {
    const char *name;
    int16_t in_h, in_w, in_c;          /* model input: uint8 pixels, HWC */
    const char *channel_order;         /* "RGB", "BGR" or "GRAY" */
    int16_t out_n;                     /* number of int8 scores (logits) */
    float out_scale;                   /* real logit = (score - out_zero_point) * out_scale, */
    int32_t out_zero_point;            /* whatever the quantization scheme */
    int (*run)(const uint8_t *pixels, int8_t *scores);  /* returns 0 on success */
    const char *const *labels;         /* out_n entries, or NULL when the manifest has none */
    const int32_t *softmax_exp_table;  /* round(2^16 * exp(-d * out_scale)) for d = 0..255, of
                                          which softmax_exp_len are stored (the rest are 0) */
    int16_t softmax_exp_len;           /* 1..256: up to the last non-zero entry (in a padding hole) */
    int16_t n_layers;
    const char *const *layer_names;
    const char *const *layer_ops;
    const uint32_t *layer_macs;
    uint32_t macs;                     /* multiply-accumulates per inference */
    uint32_t arena_bytes;
    uint8_t *input;                    /* where to prepare the pixels for run(): their place in the
                                          arena (aligned to 4), so run reads them without a copy and
                                          consumes (overwrites) them; run also accepts pixels outside
                                          the arena. NULL: no such place (the app uses nn_app_pool). */
} nn_model;

extern const nn_model *const nn_models[];
extern const int nn_model_count;

/* The application's I/O buffer (frames, scores, and inputs of models whose `input` is NULL),
 * defined next to nn_models[] and sized by the build: the largest scores, plus the `frame_bytes`
 * option (generated models have `input` in their arena). */
extern uint8_t nn_app_pool[];
extern const uint32_t nn_app_pool_bytes;

/* Per-layer profiling: generated run functions call NN_PROFILE_MARK(i) before layer i and
 * NN_PROFILE_MARK(n_layers) after the last one. The platform defines nn_profile_mark(). */
#ifdef NN_PROFILE
void nn_profile_mark(int layer);
#define NN_PROFILE_MARK(i) nn_profile_mark(i)
#else
#define NN_PROFILE_MARK(i) ((void)0)
#endif

#endif
