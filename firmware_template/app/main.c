/* Generic firmware application: works with whatever models are linked (nn_models[]).
 *
 * Commands arrive as semihosting argv (argv[0] is the program name):
 *   (none)                                   list the linked models, exit 0
 *   batch <model> <in.bin> <out.bin>         N inputs (in_h*in_w*in_c uint8 each) -> N*out_n int8
 *   bench <model>                            one run on a fixed pseudo-random input, per-layer
 *   classify <model> <frame.raw> <w> <h> <format> [nearest|bilinear] [stretch|crop|letterbox] [k]
 *   preprocess <model> <frame.raw> <w> <h> <format> <resize> <fit> <flip_h> <flip_v> <out.bin>
 * format: rgb888 bgr888 rgb565le rgb565be gray8 (or gray); classify defaults: bilinear, stretch,
 * k = min(5, out_n). Paths are relative to QEMU's working directory and cannot contain spaces.
 * Each command ends with one JSON line on stdout. Exit status: 0 ok, 1 bad command or argument,
 * 2 unknown model, 3 file error, 4 model or preprocessing failure, 5 input too large for the
 * I/O buffer (nn_app_pool: rebuild with a larger `frame_bytes=`).
 */
#include <stdint.h>
#include <string.h>

#include "nn_app.h"
#include "nn_model.h"
#include "platform.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_MODEL = 2, EXIT_FILE = 3, EXIT_RUN = 4, EXIT_SPACE = 5 };


static const char *const USAGE =
    "usage: batch <model> <in.bin> <out.bin> | bench <model> | "
    "classify <model> <frame.raw> <w> <h> <format> [resize] [fit] [k] | "
    "preprocess <model> <frame.raw> <w> <h> <format> <resize> <fit> <flip_h> <flip_v> <out.bin>\n";

static const nn_model *find_model(const char *name)
{
    for (int i = 0; i < nn_model_count; i++)
        if (strcmp(nn_models[i]->name, name) == 0) return nn_models[i];
    nn_eprintf("error: unknown model '%s'; linked models:", name);
    for (int i = 0; i < nn_model_count; i++) nn_eprintf(" %s", nn_models[i]->name);
    nn_eprintf("\n");
    return NULL;
}

static long input_bytes(const nn_model *m) { return (long)m->in_h * m->in_w * m->in_c; }

/* A model's pixels are prepared at m->input (in its arena: run consumes them) when it has one,
 * else at `pool` in nn_app_pool; pool_input_bytes is what they need there. */
static long pool_input_bytes(const nn_model *m) { return m->input ? 0 : input_bytes(m); }
static uint8_t *input_place(const nn_model *m, uint8_t *pool) { return m->input ? m->input : pool; }

static int need_pool(long bytes, const char *what)
{
    if (bytes <= (long)nn_app_pool_bytes) return 0;
    nn_eprintf("error: %s needs %ld bytes but the I/O buffer has %ld (build with "
               "frame_bytes=%ld)\n", what, bytes, (long)nn_app_pool_bytes, bytes);
    return EXIT_SPACE;
}

/* Parses a non-negative decimal integer below 10^8; -1 if `s` is not one. (Not strtol: it
 * would link newlib's reentrancy state, 1 KiB of RAM.) */
static long parse_uint(const char *s)
{
    long v = 0;
    int n = 0;
    for (; *s >= '0' && *s <= '9' && n < 9; s++, n++) v = v * 10 + (*s - '0');
    return (n > 0 && n < 9 && *s == '\0') ? v : -1;
}

static int lookup(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static void print_instr(uint64_t instr)
{
    if (nn_instr_available()) nn_printf("%lu", (unsigned long)instr);
    else nn_puts_raw("null");
}

/* ---- commands ------------------------------------------------------------------------- */

static int cmd_list(void)
{
    nn_printf("%d model(s)\n", nn_model_count);
    for (int i = 0; i < nn_model_count; i++) {
        const nn_model *m = nn_models[i];
        nn_printf("%s %dx%dx%d %s -> %d scores, %lu MACs, arena %lu bytes\n", m->name, m->in_h,
                  m->in_w, m->in_c, m->channel_order, m->out_n, (unsigned long)m->macs,
                  (unsigned long)m->arena_bytes);
    }
    nn_puts_raw("{\"models\":[");
    for (int i = 0; i < nn_model_count; i++) {
        const nn_model *m = nn_models[i];
        nn_puts_raw(i ? ",{\"name\":" : "{\"name\":");
        nn_json_string(m->name);
        nn_printf(",\"input\":[%d,%d,%d],\"outputs\":%d,\"macs\":%lu,\"arena_bytes\":%lu}", m->in_h,
                  m->in_w, m->in_c, m->out_n, (unsigned long)m->macs, (unsigned long)m->arena_bytes);
    }
    nn_puts_raw("]}\n");
    return EXIT_OK;
}

static int cmd_batch(const nn_model *m, const char *in_path, const char *out_path)
{
    long in_n = input_bytes(m), in_pool = pool_input_bytes(m);
    int rc = need_pool(in_pool + m->out_n, "one input + scores");
    if (rc) return rc;
    uint8_t *pixels = input_place(m, nn_app_pool);
    int8_t *scores = (int8_t *)(nn_app_pool + in_pool);
    int in = nn_file_open_read(in_path);
    if (in < 0) { nn_eprintf("error: cannot open input file '%s'\n", in_path); return EXIT_FILE; }
    int out = nn_file_open_write(out_path);
    if (out < 0) {
        nn_file_close(in);
        nn_eprintf("error: cannot create output file '%s'\n", out_path);
        return EXIT_FILE;
    }
    nn_instr_calibrate();
    uint64_t ticks = 0;
    unsigned long count = 0;
    rc = EXIT_OK;
    for (;;) {
        long got = nn_file_read(in, pixels, in_n);
        if (got == 0) break;
        if (got != in_n) {
            nn_eprintf("error: '%s' ends inside input %lu (%ld of %ld bytes; expected a multiple "
                       "of %ld)\n", in_path, count, got < 0 ? 0 : got, in_n, in_n);
            rc = EXIT_FILE;
            break;
        }
        uint64_t t0 = nn_ticks();
        int r = m->run(pixels, scores);
        ticks += nn_ticks() - t0;
        if (r != 0) {
            nn_eprintf("error: model %s failed (%d) on input %lu\n", m->name, r, count);
            rc = EXIT_RUN;
            break;
        }
        if (nn_file_write(out, scores, m->out_n) != 0) {
            nn_eprintf("error: cannot write '%s'\n", out_path);
            rc = EXIT_FILE;
            break;
        }
        count++;
    }
    nn_file_close(in);
    nn_file_close(out);
    if (rc) return rc;
    nn_puts_raw("{\"model\":");
    nn_json_string(m->name);
    nn_printf(",\"inferences\":%lu,\"instructions\":", count);
    print_instr(count ? nn_ticks_to_instr(ticks) / count : 0);
    nn_puts_raw("}\n");
    return EXIT_OK;
}

static int cmd_bench(const nn_model *m)
{
    long in_n = input_bytes(m), in_pool = pool_input_bytes(m);
    int rc = need_pool(in_pool + m->out_n, "one input + scores");
    if (rc) return rc;
    uint8_t *pixels = input_place(m, nn_app_pool);
    uint32_t x = 12345u;   /* fixed LCG stream: the same input on every run and target */
    for (long i = 0; i < in_n; i++) {
        x = x * 1103515245u + 12345u;
        pixels[i] = (uint8_t)(x >> 23);
    }
    nn_instr_calibrate();
    nn_profile_reset();
    uint64_t t0 = nn_ticks();
    int r = m->run(pixels, (int8_t *)(nn_app_pool + in_pool));
    uint64_t total = nn_ticks() - t0;
    if (r != 0) { nn_eprintf("error: model %s failed (%d)\n", m->name, r); return EXIT_RUN; }
    nn_puts_raw("{\"model\":");
    nn_json_string(m->name);
    nn_puts_raw(",\"instructions\":");
    print_instr(nn_ticks_to_instr(total));
    nn_printf(",\"macs\":%lu,\"arena_bytes\":%lu,\"layers\":[", (unsigned long)m->macs,
              (unsigned long)m->arena_bytes);
    for (int i = 0; i < m->n_layers; i++) {
        nn_puts_raw(i ? ",{\"name\":" : "{\"name\":");
        nn_json_string(m->layer_names ? m->layer_names[i] : "");
        nn_puts_raw(",\"op\":");
        nn_json_string(m->layer_ops ? m->layer_ops[i] : "");
        nn_puts_raw(",\"instructions\":");
        uint64_t ticks;
        if (nn_profile_interval(i, &ticks)) print_instr(nn_ticks_to_instr(ticks));
        else nn_puts_raw("null");   /* built without -DNN_PROFILE */
        nn_printf(",\"macs\":%lu}", (unsigned long)(m->layer_macs ? m->layer_macs[i] : 0));
    }
    nn_puts_raw("]}\n");
    return EXIT_OK;
}

/* Indexed by nn_pixel_format; "gray" is accepted as another name for gray8. */
static const char *const FORMATS[] = {"rgb888", "bgr888", "rgb565le", "rgb565be", "gray8", "gray"};
static const char *const RESIZES[] = {"nearest", "bilinear"};
static const char *const FITS[] = {"stretch", "crop", "letterbox"};

static int bytes_per_pixel(int format)
{
    return format <= NN_PIX_BGR888 ? 3 : format == NN_PIX_GRAY8 ? 1 : 2;
}

/* Shared by classify and preprocess: parse the frame arguments and read the frame into nn_app_pool. */
static int load_frame(const char *path, const char *ws, const char *hs, const char *fmt,
                      long reserve, nn_preprocess_opts *o, int *w, int *h)
{
    long lw = parse_uint(ws), lh = parse_uint(hs);
    int f = lookup(fmt, FORMATS, 6);
    if (f == 5) f = NN_PIX_GRAY8;
    if (lw <= 0 || lh <= 0 || lw > NN_MAX_DIM || lh > NN_MAX_DIM) {
        nn_eprintf("error: bad frame size '%s' x '%s' (expected 1..%d)\n", ws, hs, NN_MAX_DIM);
        return EXIT_USAGE;
    }
    if (f < 0) {
        nn_eprintf("error: unknown pixel format '%s' (expected rgb888, bgr888, rgb565le, "
                   "rgb565be or gray8)\n", fmt);
        return EXIT_USAGE;
    }
    long bytes = lw * lh * bytes_per_pixel(f);
    int rc = need_pool(bytes + reserve, "frame + model input");
    if (rc) return rc;
    int fd = nn_file_open_read(path);
    if (fd < 0) { nn_eprintf("error: cannot open frame file '%s'\n", path); return EXIT_FILE; }
    long got = nn_file_read(fd, nn_app_pool, bytes);
    uint8_t extra;
    long more = nn_file_read(fd, &extra, 1);
    nn_file_close(fd);
    if (got != bytes || more != 0) {
        nn_eprintf("error: frame file '%s' does not hold exactly %ldx%ld %s pixels (%ld bytes)\n",
                   path, lw, lh, fmt, bytes);
        return EXIT_FILE;
    }
    memset(o, 0, sizeof *o);
    o->format = (nn_pixel_format)f;
    *w = (int)lw;
    *h = (int)lh;
    return EXIT_OK;
}

static int parse_choice(const char *s, const char *const *names, int n, const char *what, int *out)
{
    int v = lookup(s, names, n);
    if (v < 0) {
        nn_eprintf("error: unknown %s '%s' (expected", what, s);
        for (int i = 0; i < n; i++) nn_eprintf("%s %s", i ? "," : "", names[i]);
        nn_eprintf(")\n");
        return EXIT_USAGE;
    }
    *out = v;
    return EXIT_OK;
}

static int cmd_classify(const nn_model *m, int argc, char **argv)
{
    /* argv: frame w h format [resize] [fit] [k] */
    long in_pool = pool_input_bytes(m);
    nn_preprocess_opts o;
    int w, h, resize = NN_RESIZE_BILINEAR, fit = NN_FIT_STRETCH;
    long k = m->out_n < 5 ? m->out_n : 5;
    int rc = load_frame(argv[0], argv[1], argv[2], argv[3], in_pool + m->out_n, &o, &w, &h);
    if (rc) return rc;
    if (argc > 4 && (rc = parse_choice(argv[4], RESIZES, 2, "resize mode", &resize))) return rc;
    if (argc > 5 && (rc = parse_choice(argv[5], FITS, 3, "fit mode", &fit))) return rc;
    if (argc > 6) {
        k = parse_uint(argv[6]);
        if (k < 1 || k > m->out_n || k > 16) {
            nn_eprintf("error: bad k '%s' (expected 1..%d)\n", argv[6], m->out_n < 16 ? m->out_n : 16);
            return EXIT_USAGE;
        }
    }
    o.resize = (nn_resize_mode)resize;
    o.fit = (nn_fit_mode)fit;
    long frame_bytes = (long)w * h * bytes_per_pixel(o.format);
    uint8_t *pixels = input_place(m, nn_app_pool + frame_bytes);
    int8_t *scores = (int8_t *)(nn_app_pool + frame_bytes + in_pool);
    nn_result top[16];
    nn_instr_calibrate();
    uint64_t t0 = nn_ticks();
    int r = nn_classify(m, nn_app_pool, w, h, &o, pixels, scores, (int)k, top);
    uint64_t dt = nn_ticks() - t0;
    if (r != NN_OK) { nn_eprintf("error: nn_classify failed (%d)\n", r); return EXIT_RUN; }
    /* "1. cat (class 3): 62%, score 18": the label when the manifest gives one, the percentage
     * when the model has a softmax table */
    for (int i = 0; i < k; i++) {
        if (top[i].label) nn_printf("%d. %s (class %d): ", i + 1, top[i].label, top[i].index);
        else nn_printf("%d. class %d: ", i + 1, top[i].index);
        if (top[i].percent >= 0) nn_printf("%d%%, ", top[i].percent);
        nn_printf("score %d\n", top[i].score);
    }
    nn_puts_raw("{\"model\":");
    nn_json_string(m->name);
    nn_puts_raw(",\"top\":[");
    for (int i = 0; i < k; i++) {
        nn_printf("%s{\"rank\":%d,\"index\":%d,\"label\":", i ? "," : "", i + 1, top[i].index);
        if (top[i].label) nn_json_string(top[i].label);
        else nn_puts_raw("null");
        nn_printf(",\"score\":%d,\"percent\":%d}", top[i].score, top[i].percent);
    }
    nn_puts_raw("],\"instructions\":");
    print_instr(nn_ticks_to_instr(dt));
    nn_puts_raw("}\n");
    return EXIT_OK;
}

static int cmd_preprocess(const nn_model *m, char **argv)
{
    /* argv: frame w h format resize fit flip_h flip_v out */
    long in_n = input_bytes(m);
    nn_preprocess_opts o;
    int w, h, resize, fit;
    int rc = load_frame(argv[0], argv[1], argv[2], argv[3], pool_input_bytes(m), &o, &w, &h);
    if (rc) return rc;
    if ((rc = parse_choice(argv[4], RESIZES, 2, "resize mode", &resize))) return rc;
    if ((rc = parse_choice(argv[5], FITS, 3, "fit mode", &fit))) return rc;
    long fh = parse_uint(argv[6]), fv = parse_uint(argv[7]);
    if (fh < 0 || fh > 1 || fv < 0 || fv > 1) {
        nn_eprintf("error: bad flip flags '%s' '%s' (expected 0 or 1)\n", argv[6], argv[7]);
        return EXIT_USAGE;
    }
    o.resize = (nn_resize_mode)resize;
    o.fit = (nn_fit_mode)fit;
    o.flip_h = (uint8_t)fh;
    o.flip_v = (uint8_t)fv;
    uint8_t *out = input_place(m, nn_app_pool + (long)w * h * bytes_per_pixel(o.format));
    int r = nn_preprocess(nn_app_pool, w, h, &o, m->in_h, m->in_w, m->in_c, m->channel_order, out);
    if (r != NN_OK) { nn_eprintf("error: nn_preprocess failed (%d)\n", r); return EXIT_RUN; }
    int fd = nn_file_open_write(argv[8]);
    if (fd < 0 || nn_file_write(fd, out, in_n) != 0) {
        if (fd >= 0) nn_file_close(fd);
        nn_eprintf("error: cannot write '%s'\n", argv[8]);
        return EXIT_FILE;
    }
    nn_file_close(fd);
    nn_puts_raw("{\"model\":");
    nn_json_string(m->name);
    nn_printf(",\"bytes\":%ld}\n", in_n);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc <= 1) return cmd_list();
    const char *cmd = argv[1];
    int nargs = argc - 3;   /* arguments after <model> */
    int ok = (strcmp(cmd, "batch") == 0 && nargs == 2) || (strcmp(cmd, "bench") == 0 && nargs == 0) ||
             (strcmp(cmd, "classify") == 0 && nargs >= 4 && nargs <= 7) ||
             (strcmp(cmd, "preprocess") == 0 && nargs == 9);
    if (!ok) {
        nn_eprintf("error: bad command line (command '%s', %d argument(s))\n", cmd, argc - 2);
        nn_eputs_raw(USAGE);
        return EXIT_USAGE;
    }
    const nn_model *m = find_model(argv[2]);
    if (!m) return EXIT_MODEL;
    if (strcmp(cmd, "batch") == 0) return cmd_batch(m, argv[3], argv[4]);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(m);
    if (strcmp(cmd, "classify") == 0) return cmd_classify(m, nargs, argv + 3);
    return cmd_preprocess(m, argv + 3);
}
