"""Keras reference for bench/image-pipeline.ts: images per second of
keras.utils.image_dataset_from_directory on a folder of class sub-folders, read to the end once.

    python bench/keras_image_pipeline.py DIR [--size 160] [--batch 32]

Three passes, each on a dataset made afresh (listing included in its time):
  cold      image_dataset_from_directory(DIR, image_size=(160, 160), batch_size=32, shuffle=False,
            interpolation='bilinear') as it comes: read, decode and resize in tf.data's parallel map
            (num_parallel_calls=AUTOTUNE), batched, and prefetched (Keras ends with prefetch(AUTOTUNE))
  prefetch  the same with one more .prefetch(AUTOTUNE), as tutorials write it
  cached    the same with .cache(): the first epoch fills the in-memory cache, the second (timed as
            'warm') reads from it
  on disk   the same with .cache(filename), TF's cache in files: its second epoch ('disk_warm') is
            the peer of thaw's on-disk pixel cache
The last line printed is JSON with every figure, for the TypeScript bench to read.
Needs TensorFlow (Keras 3): pip install tensorflow-cpu==2.21.0.
"""
import argparse, json, os, shutil, sys, tempfile, time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import tensorflow as tf
    import keras
except ImportError as error:  # the TypeScript bench reads this line and skips Keras
    print(json.dumps({"error": f"cannot import Keras: {error}"}))
    sys.exit(3)


def make(directory, size, batch):
    return keras.utils.image_dataset_from_directory(
        directory,
        image_size=(size, size),
        batch_size=batch,
        shuffle=False,
        interpolation="bilinear",
        verbose=False,
    )


def epoch(dataset):
    """Images read in one pass, and its seconds."""
    count = 0
    start = time.perf_counter()
    for images, _ in dataset:
        count += int(images.shape[0])
    return count, time.perf_counter() - start


def timed(build):
    """Images per second of one pass over a dataset built by `build`, building included."""
    start = time.perf_counter()
    dataset = build()
    count, _ = epoch(dataset)
    return count, count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    figures = {"keras": keras.__version__, "tensorflow": tf.__version__}
    # An untimed pass first, as thaw's bench makes one: TF's one-off start-up (kernel registration,
    # the first graph) is paid outside the figures and every file is in the page cache.
    epoch(make(args.dir, args.size, args.batch))

    count, figures["cold"] = timed(lambda: make(args.dir, args.size, args.batch))
    figures["images"] = count
    print(f"cold      {figures['cold']:7.0f} images/s  ({count} images, listing included)")

    _, figures["prefetch"] = timed(lambda: make(args.dir, args.size, args.batch).prefetch(tf.data.AUTOTUNE))
    print(f"prefetch  {figures['prefetch']:7.0f} images/s  (one more .prefetch(AUTOTUNE))")

    cached = make(args.dir, args.size, args.batch).cache()
    count, seconds = epoch(cached)
    figures["cache_first"] = count / seconds
    count, seconds = epoch(cached)
    figures["warm"] = count / seconds
    print(f"cache     {figures['cache_first']:7.0f} images/s first epoch (fills it), {figures['warm']:7.0f} images/s second (warm)")

    scratch = tempfile.mkdtemp(prefix="keras-image-cache-")
    try:
        on_disk = make(args.dir, args.size, args.batch).cache(os.path.join(scratch, "cache"))
        epoch(on_disk)
        count, seconds = epoch(on_disk)
        figures["disk_warm"] = count / seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"on disk   {figures['disk_warm']:7.0f} images/s second epoch of .cache(filename)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
