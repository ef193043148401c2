/* The application's own main(): run one exported model on every image of a file.
 *
 *   classify IN.bin OUT.bin
 * IN holds images of the model's input size (uint8, HWC), one after the other; OUT gets the
 * model's int8 scores for each. On the firmware target the files are the host's, through
 * semihosting (the exported board's platform.c); on the host they are ordinary files.
 * NN_EXAMPLE_MODEL / NN_EXAMPLE_MODEL_UPPER name the model (CMakeLists.txt sets them).
 */
#include <stdint.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(x) #x
#define STR(x) STR_(x)
#include STR(NN_EXAMPLE_MODEL.h)

#define RUN CAT(NN_EXAMPLE_MODEL, _run)
#define IN_BYTES (CAT(NN_EXAMPLE_MODEL_UPPER, _INPUT_H) * CAT(NN_EXAMPLE_MODEL_UPPER, _INPUT_W) * \
                  CAT(NN_EXAMPLE_MODEL_UPPER, _INPUT_C))
#define OUT_BYTES CAT(NN_EXAMPLE_MODEL_UPPER, _OUTPUT_N)

#if defined(__arm__)
#include "platform.h"   /* the exported board: files and text through semihosting */
#define PRINT nn_printf
#define EPRINT nn_eprintf
#else
#include <stdio.h>
static FILE *files[2];
static int nn_file_open_read(const char *path) { return (files[0] = fopen(path, "rb")) ? 0 : -1; }
static int nn_file_open_write(const char *path) { return (files[1] = fopen(path, "wb")) ? 1 : -1; }
static long nn_file_read(int fd, void *buf, long n) { return (long)fread(buf, 1, (size_t)n, files[fd]); }
static int nn_file_write(int fd, const void *buf, long n)
{
    return fwrite(buf, 1, (size_t)n, files[fd]) == (size_t)n ? 0 : -1;
}
static void nn_file_close(int fd) { fclose(files[fd]); }
#define PRINT printf
#define EPRINT(...) fprintf(stderr, __VA_ARGS__)
#endif

static uint8_t pixels[IN_BYTES];
static int8_t scores[OUT_BYTES];

int main(int argc, char **argv)
{
    if (argc != 3) {
        EPRINT("usage: classify IN.bin OUT.bin\n");
        return 2;
    }
    int in = nn_file_open_read(argv[1]);
    if (in < 0) {
        EPRINT("error: cannot read %s\n", argv[1]);
        return 1;
    }
    int out = nn_file_open_write(argv[2]);
    if (out < 0) {
        EPRINT("error: cannot write %s\n", argv[2]);
        nn_file_close(in);
        return 1;
    }
    long n = 0, got;
    int rc = 0;
    while ((got = nn_file_read(in, pixels, IN_BYTES)) == IN_BYTES) {
        if (RUN(pixels, scores) != 0 || nn_file_write(out, scores, OUT_BYTES) != 0) {
            EPRINT("error: image %ld failed\n", n);
            rc = 1;
            break;
        }
        n++;
    }
    if (rc == 0 && got != 0) {
        EPRINT("error: %s ends with a partial image (%ld bytes)\n", argv[1], got);
        rc = 1;
    }
    nn_file_close(in);
    nn_file_close(out);
    PRINT("{\"model\": \"%s\", \"images\": %ld}\n", STR(NN_EXAMPLE_MODEL), n);
    return rc;
}
