/* nn_preprocess: camera frame -> model input. Integer only, no allocation.
 *
 * The algorithm (site_scons/nnbuild/preprocess.py is its bit-exact Python twin):
 *
 * 1. Source pixels.  Each source pixel is read as RGB888:
 *      RGB888/BGR888  the three bytes (BGR swapped);  GRAY8  R = G = B = the byte;
 *      RGB565         word = b0 | b1 << 8 (LE) or b0 << 8 | b1 (BE); r5 = word >> 11,
 *                     g6 = (word >> 5) & 63, b5 = word & 31; 8 bit by bit replication:
 *                     r = r5 << 3 | r5 >> 2, g = g6 << 2 | g6 >> 4, b = b5 << 3 | b5 >> 2.
 *    Flips mirror the source frame (a camera mounted upside down): with flip_h, column x reads
 *    source column w-1-x; with flip_v, row y reads row h-1-y. Everything below sees the
 *    flipped frame.
 *
 * 2. Geometry: a source rectangle (sx0, sy0, sw, sh) maps onto a destination rectangle
 *    (dx0, dy0, dw, dh) of the out_w x out_h output.  rdiv(a, b) = (2a + b) / (2b) (integer).
 *      stretch    whole frame -> whole output.
 *      crop       the largest centred source region with the output's aspect:
 *                 if w*out_h > h*out_w: sh = h, sw = clamp(rdiv(h*out_w, out_h), 1, w), sx0 = (w-sw)/2
 *                 else:                 sw = w, sh = clamp(rdiv(w*out_h, out_w), 1, h), sy0 = (h-sh)/2
 *      letterbox  whole frame -> the largest centred output region with the frame's aspect;
 *                 output pixels outside it are pad_value (every channel):
 *                 if w*out_h > h*out_w: dw = out_w, dh = clamp(rdiv(out_w*h, w), 1, out_h), dy0 = (out_h-dh)/2
 *                 else:                 dh = out_h, dw = clamp(rdiv(out_h*w, h), 1, out_w), dx0 = (out_w-dw)/2
 *
 * 3. Resize, per axis (shown for x; y is the same with sh, dh), i = destination index in the
 *    rectangle, 16.16 fixed point, pixel centres aligned (src = (i + 0.5) * sw/dw - 0.5):
 *      step = ((sw << 16) + dw/2) / dw
 *      nearest   x = min((i*step + step/2) >> 16, sw-1)
 *      bilinear  f = clamp(i*step + step/2 - 32768, 0, (sw-1) << 16);
 *                x0 = f >> 16, x1 = min(x0+1, sw-1), a = (f & 0xFFFF) >> 5   (11-bit weight)
 *                per RGB channel: top = p(x0,y0)*(2048-ax) + p(x1,y0)*ax, likewise bot for y1,
 *                v = (top*(2048-ay) + bot*ay + (1 << 21)) >> 22
 *
 * 4. Output channels: RGB -> r,g,b; BGR -> b,g,r; GRAY -> (77r + 150g + 29b + 128) >> 8
 *    (computed on the resized RGB, so GRAY8 in -> GRAY out is the identity).
 *
 * Errors: NN_ERR_ARG for NULL pointers, NN_ERR_SIZE for dimensions outside 1..NN_MAX_DIM,
 * NN_ERR_FORMAT for an unknown format/resize/fit value, channel order, or an out_c that does
 * not match the channel order (RGB/BGR: 3, GRAY: 1).
 */
#include <stddef.h>
#include <string.h>

#include "nn_app.h"

typedef struct {
    const uint8_t *frame;
    int32_t w, h;
    nn_pixel_format format;
    uint8_t flip_h, flip_v;
} source;

/* One axis of the source->destination mapping. */
typedef struct {
    int32_t s0, sn;     /* source start, length */
    int32_t d0, dn;     /* destination start, length */
    int32_t step;       /* 16.16 source pixels per destination pixel */
} axis_map;

static void read_rgb(const source *s, int32_t x, int32_t y, uint8_t rgb[3])
{
    const uint8_t *p;
    uint32_t word;
    uint32_t r5, g6, b5;
    int32_t i;

    if (s->flip_h) x = s->w - 1 - x;
    if (s->flip_v) y = s->h - 1 - y;
    i = y * s->w + x;
    switch (s->format) {
    case NN_PIX_RGB888:
        p = s->frame + 3 * i;
        rgb[0] = p[0]; rgb[1] = p[1]; rgb[2] = p[2];
        break;
    case NN_PIX_BGR888:
        p = s->frame + 3 * i;
        rgb[0] = p[2]; rgb[1] = p[1]; rgb[2] = p[0];
        break;
    case NN_PIX_RGB565_LE:
    case NN_PIX_RGB565_BE:
        p = s->frame + 2 * i;
        word = s->format == NN_PIX_RGB565_LE ? (uint32_t)p[0] | (uint32_t)p[1] << 8
                                             : (uint32_t)p[0] << 8 | (uint32_t)p[1];
        r5 = word >> 11; g6 = (word >> 5) & 63u; b5 = word & 31u;
        rgb[0] = (uint8_t)(r5 << 3 | r5 >> 2);
        rgb[1] = (uint8_t)(g6 << 2 | g6 >> 4);
        rgb[2] = (uint8_t)(b5 << 3 | b5 >> 2);
        break;
    default: /* NN_PIX_GRAY8; the format was validated before */
        rgb[0] = rgb[1] = rgb[2] = s->frame[i];
        break;
    }
}

static int32_t rdiv(int32_t a, int32_t b) { return (2 * a + b) / (2 * b); }

static int32_t clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Source/destination rectangles for the fit mode (step 2 above). */
static void fit_axes(nn_fit_mode fit, int32_t w, int32_t h, int32_t out_w, int32_t out_h,
                     axis_map *ax, axis_map *ay)
{
    int wider = w * out_h > h * out_w;   /* <= 4096*4096: fits int32 */

    ax->s0 = 0; ax->sn = w; ax->d0 = 0; ax->dn = out_w;
    ay->s0 = 0; ay->sn = h; ay->d0 = 0; ay->dn = out_h;
    if (fit == NN_FIT_CROP) {
        if (wider) {
            ax->sn = clamp(rdiv(h * out_w, out_h), 1, w);
            ax->s0 = (w - ax->sn) / 2;
        } else {
            ay->sn = clamp(rdiv(w * out_h, out_w), 1, h);
            ay->s0 = (h - ay->sn) / 2;
        }
    } else if (fit == NN_FIT_LETTERBOX) {
        if (wider) {
            ay->dn = clamp(rdiv(out_w * h, w), 1, out_h);
            ay->d0 = (out_h - ay->dn) / 2;
        } else {
            ax->dn = clamp(rdiv(out_h * w, h), 1, out_w);
            ax->d0 = (out_w - ax->dn) / 2;
        }
    }
    ax->step = ((ax->sn << 16) + ax->dn / 2) / ax->dn;
    ay->step = ((ay->sn << 16) + ay->dn / 2) / ay->dn;
}

static int32_t nearest_index(const axis_map *a, int32_t i)
{
    int32_t x = (i * a->step + a->step / 2) >> 16;
    return a->s0 + (x < a->sn - 1 ? x : a->sn - 1);
}

/* Bilinear taps: the two source indices and the 11-bit weight of the second. */
static void bilinear_taps(const axis_map *a, int32_t i, int32_t *p0, int32_t *p1, int32_t *weight)
{
    int32_t f = clamp(i * a->step + a->step / 2 - 32768, 0, (a->sn - 1) << 16);
    int32_t x0 = f >> 16;

    *p0 = a->s0 + x0;
    *p1 = a->s0 + (x0 + 1 < a->sn ? x0 + 1 : a->sn - 1);
    *weight = (f & 0xFFFF) >> 5;
}

/* Resized RGB of destination pixel (i, j) of the rectangle. */
static void sample(const source *s, nn_resize_mode mode, const axis_map *ax, const axis_map *ay,
                   int32_t i, int32_t j, uint8_t rgb[3])
{
    int32_t x0, x1, y0, y1, wx, wy, c;
    uint8_t p00[3], p01[3], p10[3], p11[3];

    if (mode == NN_RESIZE_NEAREST) {
        read_rgb(s, nearest_index(ax, i), nearest_index(ay, j), rgb);
        return;
    }
    bilinear_taps(ax, i, &x0, &x1, &wx);
    bilinear_taps(ay, j, &y0, &y1, &wy);
    read_rgb(s, x0, y0, p00);
    read_rgb(s, x1, y0, p01);
    read_rgb(s, x0, y1, p10);
    read_rgb(s, x1, y1, p11);
    for (c = 0; c < 3; c++) {
        uint32_t top = (uint32_t)p00[c] * (uint32_t)(2048 - wx) + (uint32_t)p01[c] * (uint32_t)wx;
        uint32_t bot = (uint32_t)p10[c] * (uint32_t)(2048 - wx) + (uint32_t)p11[c] * (uint32_t)wx;
        rgb[c] = (uint8_t)((top * (uint32_t)(2048 - wy) + bot * (uint32_t)wy + (1u << 21)) >> 22);
    }
}

/* 0 = RGB, 1 = BGR, 2 = GRAY, -1 = unknown */
static int order_code(const char *order)
{
    if (strcmp(order, "RGB") == 0) return 0;
    if (strcmp(order, "BGR") == 0) return 1;
    if (strcmp(order, "GRAY") == 0) return 2;
    return -1;
}

int nn_preprocess(const uint8_t *frame, int w, int h, const nn_preprocess_opts *opts,
                  int out_h, int out_w, int out_c, const char *channel_order, uint8_t *out)
{
    source s;
    axis_map ax, ay;
    int order;
    int32_t x, y;

    if (frame == NULL || opts == NULL || channel_order == NULL || out == NULL) return NN_ERR_ARG;
    if (w < 1 || h < 1 || w > NN_MAX_DIM || h > NN_MAX_DIM ||
        out_w < 1 || out_h < 1 || out_w > NN_MAX_DIM || out_h > NN_MAX_DIM) return NN_ERR_SIZE;
    /* unsigned compares catch negative values whatever size the compiler gives enums
     * (arm-none-eabi uses short enums) */
    if ((unsigned)opts->format > (unsigned)NN_PIX_GRAY8 ||
        (unsigned)opts->resize > (unsigned)NN_RESIZE_BILINEAR ||
        (unsigned)opts->fit > (unsigned)NN_FIT_LETTERBOX) return NN_ERR_FORMAT;
    order = order_code(channel_order);
    if (order < 0 || out_c != (order == 2 ? 1 : 3)) return NN_ERR_FORMAT;

    s.frame = frame; s.w = w; s.h = h; s.format = opts->format;
    s.flip_h = opts->flip_h != 0; s.flip_v = opts->flip_v != 0;
    fit_axes(opts->fit, w, h, out_w, out_h, &ax, &ay);

    for (y = 0; y < out_h; y++) {
        for (x = 0; x < out_w; x++) {
            uint8_t rgb[3];
            if (x < ax.d0 || x >= ax.d0 + ax.dn || y < ay.d0 || y >= ay.d0 + ay.dn) {
                memset(out, opts->pad_value, (size_t)out_c);
                out += out_c;
                continue;
            }
            sample(&s, opts->resize, &ax, &ay, x - ax.d0, y - ay.d0, rgb);
            if (order == 0) {
                out[0] = rgb[0]; out[1] = rgb[1]; out[2] = rgb[2];
            } else if (order == 1) {
                out[0] = rgb[2]; out[1] = rgb[1]; out[2] = rgb[0];
            } else {
                out[0] = (uint8_t)((77u * rgb[0] + 150u * rgb[1] + 29u * rgb[2] + 128u) >> 8);
            }
            out += out_c;
        }
    }
    return NN_OK;
}
