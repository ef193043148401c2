/* Local response normalisation, q7 (docs/q7_contract.md: lrn). For each value, S = the exact sum
 * of q^2 over its window (across: the `size` channels centred on it; within: the size x size
 * pixels centred on it, zero outside), then out = requant(q * table[nn_lrn_index(S)], shift).
 * The table holds the normaliser for the value each index stands for; the index is exact below 64
 * and keeps 5 bits after the leading one above (a float-like index: about 1.5 % resolution over
 * the whole int32 range of S). in and out must not overlap. */
#include "nn_kernels.h"
#include "nn_internal.h"

static int32_t nn_lrn_index(int32_t s)
{
    int32_t e = 0, m;
    if (s < 64)
        return s;
    while ((s >> e) >= 64)
        e++;
    m = (s + ((int32_t)1 << (e - 1))) >> e;     /* rounded mantissa, 32..64 */
    if (m == 64) {
        m = 32;
        e++;
    }
    return 64 + (e - 1) * 32 + (m - 32);
}

void nn_lrn_q7(const nn_lrn_params *p, const int8_t *in, const int16_t *table, int8_t *out)
{
    const int32_t H = p->h, W = p->w, C = p->c, half = (p->size - 1) / 2;
    int32_t y, x, c;

    for (y = 0; y < H; y++) {
        for (x = 0; x < W; x++) {
            const int8_t *px = in + (y * W + x) * C;
            for (c = 0; c < C; c++) {
                int32_t s = 0, idx;
                if (p->region == 0) {
                    int32_t j0 = c - half < 0 ? 0 : c - half, j1 = c + half >= C ? C - 1 : c + half, j;
                    for (j = j0; j <= j1; j++)
                        s += px[j] * px[j];
                } else {
                    int32_t y0 = y - half < 0 ? 0 : y - half, y1 = y + half >= H ? H - 1 : y + half;
                    int32_t x0 = x - half < 0 ? 0 : x - half, x1 = x + half >= W ? W - 1 : x + half, yy, xx;
                    for (yy = y0; yy <= y1; yy++)
                        for (xx = x0; xx <= x1; xx++) {
                            int32_t v = in[(yy * W + xx) * C + c];
                            s += v * v;
                        }
                }
                idx = nn_lrn_index(s);
                if (idx >= p->table_len)    /* cannot happen with the generator's table; stay in bounds */
                    idx = p->table_len - 1;
                *out++ = (int8_t)nn_requant(px[c] * (int32_t)table[idx], p->shift, -128, 127);
            }
        }
    }
}
