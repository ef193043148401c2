/* The weight layout marker of the dsp variant: its general conv reads weight rows of ceil4(K)
 * bytes, the K % 4 gap as leading zeros (nn_kernels.h: NN_WEIGHT_LAYOUT). It defines no
 * nn_weight_layout_plain, so a model generated for the plain layout does not link with it. */
#include "nn_kernels.h"

const uint8_t nn_weight_layout_ceil4 = 1;
