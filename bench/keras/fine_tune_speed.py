"""Keras reference for bench/fine-tune-speed.ts: the same training, the usual Keras way.

    python bench/keras/fine_tune_speed.py --case mnv2-1.0-160 [--epochs 4] [--train 320] [--validation 32]

Cases: mnv2-<alpha>-<size> (MobileNetV2, random weights, layers[:100] frozen, the base called
with training=False, average pooling, dropout 0.2, Dense(1) logit, RMSprop 1e-5, as the tutorial's
fine-tuning) and small-cnn (28×28×1, conv+BN+ReLU+pool blocks 32, 64, 128, everything trained,
BN in training mode, dropout 0.2, softmax over 5 classes, Adam 1e-3). model.fit from NumPy
arrays, batch 32, validation every epoch. Prints one JSON line: the seconds of each epoch (begin to
end, validation included, as thaw's epoch seconds). Needs TensorFlow 2.21 (Keras 3).
"""
import argparse, json, os, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras

BATCH = 32


def mobilenet(alpha, size, fine_tune_at=100):
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=None)
    base.trainable = True
    for layer in base.layers[:fine_tune_at]:
        layer.trainable = False
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # [0, 1] → [-1, 1], as thaw's input adapter
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(keras.optimizers.RMSprop(1e-5), keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
    return model, (size, size, 3), 2


def small_cnn(filters=(32, 64, 128)):
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for f in filters:
        x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, (28, 28, 1), 5


class EpochTimes(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=320)
    parser.add_argument("--validation", type=int, default=32)
    args = parser.parse_args()
    if args.case == "small-cnn":
        model, shape, classes = small_cnn()
    elif args.case.startswith("mnv2-"):
        _, alpha, size = args.case.split("-")
        model, shape, classes = mobilenet(float(alpha), int(size))
    else:
        raise SystemExit(f"--case: unknown case {args.case}")
    rng = np.random.default_rng(1)
    x = rng.random((args.train, *shape), dtype=np.float32)
    y = rng.integers(0, classes, args.train)
    vx = rng.random((args.validation, *shape), dtype=np.float32)
    vy = rng.integers(0, classes, args.validation)
    times = EpochTimes()
    model.fit(x, y, batch_size=BATCH, epochs=args.epochs, validation_data=(vx, vy), callbacks=[times], verbose=0)
    print(json.dumps({"case": args.case, "epochSeconds": times.seconds, "keras": keras.__version__}))


if __name__ == "__main__":
    main()
