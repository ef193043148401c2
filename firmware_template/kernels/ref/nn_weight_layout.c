/* The weight layout marker of the ref variant, also linked by mla, thumb1 and mve: their kernels
 * read conv weight rows of K bytes (nn_kernels.h: NN_WEIGHT_LAYOUT). One byte of flash, kept
 * only when a model references it. */
#include "nn_kernels.h"

const uint8_t nn_weight_layout_plain = 1;
