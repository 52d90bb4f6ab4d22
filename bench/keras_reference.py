"""Keras reference for thaw's benchmarks: the same small CNN and the same depth sweep, run the
usual Keras way (model.fit, the frozen base recomputed every epoch), on the same machine.

    python bench/keras_reference.py [--fashion-mnist DIR] [--skip-sweep]

Needs TensorFlow (Keras 3); offline: pip install tensorflow_cpu-<version>-….whl.
"""
import argparse, gzip, os, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import keras

BATCH = 32


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * rank).reshape(dims)


def base_model(filters=(32, 64, 128)):
    """small-convnet: conv (no bias) + BN (momentum 0.9) + ReLU + 2×2 max-pool per block."""
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"block{i + 1}_conv")(x)
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"block{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i + 1}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i + 1}_pool")(x)
    return keras.Model(inputs, x)


def with_head(base, classes, dropout=0.2):
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    x = keras.layers.Dropout(dropout)(x)
    return keras.Model(base.input, keras.layers.Dense(classes, activation="softmax")(x))


def throughput():
    model = with_head(base_model(), 5)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    x = np.random.rand(BATCH * 50, 28, 28, 1).astype("float32")
    y = np.random.randint(0, 5, BATCH * 50)
    model.fit(x[: BATCH * 5], y[: BATCH * 5], batch_size=BATCH, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    train = len(x) / (time.perf_counter() - start)
    model.predict(x[:BATCH], batch_size=BATCH, verbose=0)
    start = time.perf_counter()
    model.predict(x, batch_size=BATCH, verbose=0)
    infer = len(x) / (time.perf_counter() - start)
    print(f"keras     inference {infer:6.0f} images/s   training {train:6.0f} images/s")


def sample(images, labels, classes, per_class, rng):
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    rows = np.concatenate(picks)
    remap = {c: i for i, c in enumerate(classes)}
    return images[rows, :, :, None].astype("float32") / 255, np.array([remap[c] for c in labels[rows]])


def sweep(folder):
    rng = np.random.default_rng(0)
    train_x, train_y = idx(f"{folder}/train-images-idx3-ubyte.gz"), idx(f"{folder}/train-labels-idx1-ubyte.gz")
    test_x, test_y = idx(f"{folder}/t10k-images-idx3-ubyte.gz"), idx(f"{folder}/t10k-labels-idx1-ubyte.gz")
    # As experiments/fashion-pretrain.yaml: classes 0–4, 400 per class, 4 epochs, everything trainable.
    px, py = sample(train_x, train_y, [0, 1, 2, 3, 4], 400, rng)
    base = base_model()
    pretrain = with_head(base, 5)
    pretrain.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    pretrain.fit(px, py, batch_size=BATCH, epochs=4, verbose=0)
    weights = base.get_weights()
    # As experiments/fashion-transfer.yaml: classes 5–9, 100 train + 100 validation per class, 200 test.
    classes = [5, 6, 7, 8, 9]
    tx, ty = sample(train_x, train_y, classes, 200, rng)
    order = rng.permutation(len(tx))
    train, val = order[: len(tx) // 2], order[len(tx) // 2 :]
    ex, ey = sample(test_x, test_y, classes, 200, rng)
    units = [[f"block{i}_conv", f"block{i}_bn", f"block{i}_relu", f"block{i}_pool"] for i in (1, 2, 3)]
    total = time.perf_counter()
    for depth in [0, 1, 2, 3]:
        for seed in [1, 2]:
            keras.utils.set_random_seed(seed)
            start = time.perf_counter()
            base = base_model()
            base.set_weights(weights)
            trainable = {name for unit in units[len(units) - depth :] for name in unit}
            for layer in base.layers:
                # batchNorm: frozen, as thaw's default: BN layers stay in inference mode.
                layer.trainable = layer.name in trainable and not layer.name.endswith("_bn")
            model = with_head(base, 5)
            model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
            stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
            model.fit(tx[train], ty[train], batch_size=BATCH, epochs=10, validation_data=(tx[val], ty[val]), callbacks=[stop], verbose=0)
            _, accuracy = model.evaluate(ex, ey, batch_size=128, verbose=0)
            print(f"  unfreeze {depth if depth < 3 else 'all':<3} seed {seed}  trial {time.perf_counter() - start:5.1f} s  test accuracy {100 * accuracy:.1f}%")
    print(f"  keras sweep wall time {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--skip-sweep", action="store_true")
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(0)
    print(f"Keras {keras.__version__} on TensorFlow {tf.__version__}")
    throughput()
    if not args.skip_sweep:
        print("depth sweep (unfreeze 0, 1, 2, all × seeds 1, 2), the usual Keras way:")
        sweep(args.fashion_mnist)
