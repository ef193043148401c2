"""Make tests/data/tfconv/*.tflite with the real TensorFlow converter (run once; the test suite
needs only the committed files and tflite-micro, never TensorFlow).

Made with TensorFlow 2.21.0 (tensorflow-cpu, Keras 3), Python 3.11, in a throwaway venv outside
the repo (TensorFlow is far too large to be one of nnbuild's dependencies):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tfvenv/bin/python tools/make_tf_fixtures.py [--out tests/data/tfconv]

Small Keras CNNs with fixed seeds, trained for a few epochs on a seeded synthetic colour task
(images in [0, 1): a colour per image plus noise), converted with
tf.lite.TFLiteConverter.from_keras_model (int8: a representative dataset of 64 such images):

    convnet_int8.tflite        full integer, int8 input and output (inference_input/output_type)
    convnet_int8_floatio.tflite  the same net, float input and output: QUANTIZE / DEQUANTIZE at the
                               model's boundaries
    convnet_int8_pertensor.tflite  the same net with one weight scale per tensor
    branches_int8.tflite       full integer, int8 input and output: residual ADD, CONCATENATION,
                               GlobalAveragePooling2D (MEAN)
    mixed_int8.tflite          full integer, int8 input and output: separable conv, Dense on 4-D,
                               LOGISTIC / TANH, QUANTIZE before a CONCATENATION, REDUCE_MAX
    convnet_float.tflite       the convnet as float32 (no optimization)
    branches_float.tflite      the branches net as float32
    mixed_float.tflite         the mixed net as float32
    avgpools_int8.tflite       full integer, int8 input and output: AveragePooling2D SAME that pads
                               (3x3/1, 5x5/2 on an even size), the IR's avg_pool exclude_pad
    avgpools_float.tflite      the avgpools net as float32

The operators of each file are printed and written to tests/data/tfconv/README.md. Same
TensorFlow version and seeds give the same files (checked: two runs, identical bytes).

Left out, because the IR cannot compute them exactly and the frontend refuses them by name:
AveragePooling2D with VALID windows that Caffe's ceil mode extends (3x3/2 on 16: TFLite 7
outputs, the IR 8) or an even pool size at stride 1 with SAME (all its padding at the end); ReLU(max_value) other than 6 (MINIMUM + RELU). 16x8 quantization
(int16 activations) is not an nnbuild scheme.
"""
import argparse
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import tensorflow as tf          # noqa: E402  (only in the throwaway venv)
from tensorflow import keras     # noqa: E402
from keras import layers         # noqa: E402

SIZE = 16                        # 16x16x3 inputs keep every file a few KB


def convnet(batch=None):
    """Conv SAME stride 1 (ReLU), conv SAME stride 2 on an even size (TFLite pads one more cell at
    the end: ReLU6), depthwise SAME (ReLU), max pool, conv SAME, ReLU, average pool, Flatten of a
    2x2x16 map (FULLY_CONNECTED reads it in NHWC order), Dense (ReLU), Dense, Softmax."""
    x = keras.Input((SIZE, SIZE, 3), batch_size=batch, name="image")
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu6")(y)
    y = layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = layers.MaxPooling2D(2)(y)
    y = layers.Conv2D(16, 3, padding="same")(y)
    y = layers.ReLU()(y)
    y = layers.AveragePooling2D(2)(y)
    y = layers.Flatten()(y)
    y = layers.Dense(24, activation="relu")(y)
    y = layers.Dense(10)(y)
    return keras.Model(x, layers.Softmax()(y), name="convnet")


def branches(batch=None):
    """Conv + BatchNormalization + ReLU, a residual block (ADD + ReLU), a concatenation of a 1x1
    and a 3x3 branch, conv VALID stride 2, global average pooling (MEAN without keep_dims), Dense
    (ReLU), and MobileNet's head: Reshape to 1x1, a 1x1 conv, Flatten, Softmax."""
    x = keras.Input((SIZE, SIZE, 3), batch_size=batch, name="image")
    a = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    a = layers.ReLU()(layers.BatchNormalization()(a))          # folded into the conv by the converter
    r = layers.Conv2D(8, 3, padding="same", activation="relu")(a)
    r = layers.Conv2D(8, 3, padding="same")(r)
    y = layers.ReLU()(layers.Add()([a, r]))
    c1 = layers.Conv2D(6, 1, activation="relu")(y)
    c2 = layers.Conv2D(10, 3, padding="same", activation="relu")(y)
    y = layers.Concatenate()([c1, c2])
    y = layers.Conv2D(16, 3, strides=2, padding="valid", activation="relu")(y)
    y = layers.GlobalAveragePooling2D()(y)
    y = layers.Dense(24, activation="relu")(y)
    y = layers.Reshape((1, 1, 24))(y)
    y = layers.Flatten()(layers.Conv2D(10, 1)(y))
    return keras.Model(x, layers.Softmax()(y), name="branches")


def mixed(batch=None):
    """SeparableConv2D stride 2 (DEPTHWISE_CONV_2D + CONV_2D), Dense on a 4-D tensor
    (FULLY_CONNECTED keep_num_dims: a 1x1 convolution), sigmoid and tanh branches concatenated (the
    converter requantizes them with int8 -> int8 QUANTIZE before the CONCATENATION),
    GlobalMaxPooling2D (REDUCE_MAX), Dense, Softmax."""
    x = keras.Input((SIZE, SIZE, 3), batch_size=batch, name="image")
    y = layers.SeparableConv2D(12, 3, strides=2, padding="same", activation="relu")(x)
    y = layers.Dense(12, activation="relu")(y)
    s = layers.Activation("sigmoid")(layers.Conv2D(6, 3, padding="same")(y))
    t = layers.Activation("tanh")(layers.Conv2D(6, 3, padding="same")(y))
    y = layers.GlobalMaxPooling2D()(layers.Concatenate()([s, t]))
    y = layers.Dense(10)(y)
    return keras.Model(x, layers.Softmax()(y), name="mixed")


def avgpools(batch=None):
    """Keras' AveragePooling2D(padding="same") where it pads (TFLite divides by the window's input
    cells: the IR's avg_pool exclude_pad): 3x3/1 (one cell each side), 5x5/2 on an even size
    (two pad cells: one before, one more at the end), 2x2/2 (no padding); Flatten, Dense, Softmax."""
    x = keras.Input((SIZE, SIZE, 3), batch_size=batch, name="image")
    y = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = layers.AveragePooling2D(3, strides=1, padding="same")(y)
    y = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.AveragePooling2D(5, strides=2, padding="same")(y)
    y = layers.Conv2D(16, 3, padding="same", activation="relu")(y)
    y = layers.AveragePooling2D(2, padding="same")(y)
    y = layers.Dense(10)(layers.Flatten()(y))
    return keras.Model(x, layers.Softmax()(y), name="avgpools")


def images(rng, n):
    """n images in [0, 1): one random colour per image plus per-pixel noise (so that images, and
    the nets' outputs on them, differ as real ones do; the tests' pixels are made the same way)."""
    colour = rng.random((n, 1, 1, 3), dtype=np.float32)
    noise = rng.uniform(-0.15, 0.15, (n, SIZE, SIZE, 3)).astype(np.float32)
    return np.clip(colour + noise, 0, 0.999).astype(np.float32)


def trained(make, seed):
    """make()'s net trained for a few epochs on a seeded synthetic task (the class of an image is
    the nearest of 10 random colours to its mean colour), so that its outputs are as confident and
    as varied as a real model's; returned with batch 1, the shape TFLite Micro runs."""
    rng = np.random.default_rng(seed)
    x = images(rng, 2048)
    prototypes = rng.random((10, 3), dtype=np.float32)
    labels = ((x.mean((1, 2))[:, None, :] - prototypes) ** 2).sum(-1).argmin(1)
    net = make()
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss=keras.losses.SparseCategoricalCrossentropy())
    net.fit(x, labels, batch_size=32, epochs=6, shuffle=False, verbose=0)
    one = make(batch=1)
    one.set_weights(net.get_weights())
    return one


def _representative(seed):
    x = images(np.random.default_rng(100 + seed), 64)

    def gen():
        for img in x:
            yield [img[None]]
    return gen


def convert(model, int8, int8_io=True, seed=0, per_channel=True):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv._experimental_disable_per_channel = not per_channel    # the converter's only switch for it
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = _representative(seed)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv.convert()


def operators(data):
    """The builtin operator names of a .tflite in execution order, as TensorFlow's interpreter
    reads them (not nnbuild's reader: an independent listing)."""
    interp = tf.lite.Interpreter(model_content=data)
    return [d["op_name"] for d in interp._get_ops_details()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tfconv"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(12)
    tf.config.experimental.enable_op_determinism()
    net, res, mix = trained(convnet, 0), trained(branches, 1), trained(mixed, 2)
    avg = trained(avgpools, 3)                  # last: the nets above keep their random streams
    files = {
        "convnet_int8.tflite": convert(net, True),
        "convnet_int8_floatio.tflite": convert(net, True, int8_io=False),
        "convnet_int8_pertensor.tflite": convert(net, True, per_channel=False),
        "branches_int8.tflite": convert(res, True, seed=1),
        "mixed_int8.tflite": convert(mix, True, seed=2),
        "convnet_float.tflite": convert(net, False),
        "branches_float.tflite": convert(res, False),
        "mixed_float.tflite": convert(mix, False),
        "avgpools_int8.tflite": convert(avg, True, seed=3),
        "avgpools_float.tflite": convert(avg, False),
    }
    lines = [f"Made by `tools/make_tf_fixtures.py` with TensorFlow {tf.__version__} (Keras {keras.__version__}); "
             "operators in execution order:", ""]
    for name, data in files.items():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        line = f"* `{name}` ({len(data):,} bytes): {', '.join(operators(data))}"
        print(line)
        lines.append(line)
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
