/* nnbuild application API: camera frame in, labels out.
 *
 *   nn_preprocess()  any-size RGB888/BGR888/RGB565/GRAY8 frame -> the model's uint8 input
 *                    (resize nearest|bilinear, stretch|centre-crop|letterbox, flips, channel
 *                    count and order). Integer/fixed-point only.
 *   nn_classify()    nn_preprocess + model run + top-k (+ optional softmax percentages).
 *
 * All functions return NN_OK (0) or a negative NN_ERR_* code; they never allocate.
 * The Python twin (site_scons/nnbuild/preprocess.py) is bit-exact with this code.
 */
#ifndef NN_APP_H
#define NN_APP_H

#include <stdint.h>
#include "nn_model.h"

enum {
    NN_OK = 0,
    NN_ERR_FORMAT = -1,     /* unsupported pixel format / option value */
    NN_ERR_SIZE = -2,       /* zero, negative or too large dimensions (max NN_MAX_DIM) */
    NN_ERR_ARG = -3,        /* NULL pointer or k out of range */
    NN_ERR_MODEL = -4       /* the model's run function failed */
};

#define NN_MAX_DIM 4096

typedef enum {
    NN_PIX_RGB888 = 0, NN_PIX_BGR888 = 1,
    NN_PIX_RGB565_LE = 2,   /* 16-bit little-endian words: byte0 = GGGBBBBB, byte1 = RRRRRGGG */
    NN_PIX_RGB565_BE = 3,   /* big-endian words: byte0 = RRRRRGGG, byte1 = GGGBBBBB */
    NN_PIX_GRAY8 = 4
} nn_pixel_format;

typedef enum { NN_RESIZE_NEAREST = 0, NN_RESIZE_BILINEAR = 1 } nn_resize_mode;
typedef enum { NN_FIT_STRETCH = 0, NN_FIT_CROP = 1, NN_FIT_LETTERBOX = 2 } nn_fit_mode;

typedef struct {
    nn_pixel_format format;
    nn_resize_mode resize;
    nn_fit_mode fit;
    uint8_t flip_h, flip_v;
    uint8_t pad_value;      /* letterbox border value (all channels) */
} nn_preprocess_opts;

typedef struct {
    int16_t index;          /* class index */
    int8_t score;           /* raw q7 logit */
    int16_t percent;        /* softmax probability in percent, rounded (0..100) */
    const char *label;      /* from the manifest, or NULL */
} nn_result;

/* frame: w*h pixels in opts->format, rows top to bottom, no padding between rows.
 * out: out_h*out_w*out_c bytes, HWC, channel_order "RGB", "BGR" or "GRAY" (out_c must be 3, 3, 1). */
int nn_preprocess(const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                  int out_h, int out_w, int out_c, const char *channel_order, uint8_t *out);

/* Indices of the k largest scores, ties broken by the lower index. */
int nn_topk(const int8_t *scores, int n, int k, int16_t *idx_out);

/* Softmax of q7 scores as rounded percentages (uses the model's exp table). */
int nn_softmax_percent(const nn_model *m, const int8_t *scores, int16_t *percent_out);

/* Preprocess `frame` into `pixel_buf` (m->in_h*in_w*in_c bytes: m->input when not NULL, so no
 * other RAM is needed; run consumes it), run the model into `scores` (m->out_n bytes) and fill
 * top[0..k-1]. `frame` must not be in the model's arena. */
int nn_classify(const nn_model *m, const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                uint8_t *pixel_buf, int8_t *scores, int k, nn_result *top);

#endif
