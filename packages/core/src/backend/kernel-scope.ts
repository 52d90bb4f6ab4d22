import * as tf from '@tensorflow/tfjs';

type TensorInfo = tf.TensorInfo;
export type Backend = tf.KernelBackend & { disposeData(dataId: object): boolean };
type Attrs = Record<string, unknown>;

/**
 * Runs a backend's own kernels from inside another kernel, freeing every intermediate result but
 * the one returned: how composite kernels are built without the overhead (or tape) of ops.
 */
export class KernelScope {
  private readonly intermediates: TensorInfo[] = [];

  constructor(
    private readonly backendName: string,
    private readonly backend: Backend,
  ) {}

  /** Runs one of the backend's kernels; its output is freed by `finish` unless it is the result. */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: Attrs = {}): TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (!kernel) throw new Error(`${this.backendName} kernel ${name} is not registered`);
    const out = kernel.kernelFunc({ inputs: inputs, attrs: attrs as tf.NamedAttrMap, backend: this.backend }) as TensorInfo;
    this.intermediates.push(out);
    return out;
  }

  /** Takes a result produced outside `run` under the scope's care. */
  adopt(info: TensorInfo): void {
    this.intermediates.push(info);
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }

  /** Pads (positive) or crops (negative) the two spatial axes of an NHWC tensor. */
  padOrCrop(x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
    let out = x;
    if (top > 0 || bottom > 0 || left > 0 || right > 0) {
      const paddings = [
        [0, 0],
        [Math.max(top, 0), Math.max(bottom, 0)],
        [Math.max(left, 0), Math.max(right, 0)],
        [0, 0],
      ];
      out = this.run('PadV2', { x: out }, { paddings, constantValue: 0 });
    }
    if (top < 0 || bottom < 0 || left < 0 || right < 0) {
      const [n, h, w, c] = out.shape as [number, number, number, number];
      const begin = [0, Math.max(-top, 0), Math.max(-left, 0), 0];
      const size = [n, h - begin[1]! - Math.max(-bottom, 0), w - begin[2]! - Math.max(-right, 0), c];
      out = this.run('Slice', { x: out }, { begin, size });
    }
    return out;
  }

  /**
   * The output gradient of a strided convolution, with (stride − 1) zeros between its rows and
   * columns and padded so that a 'valid' stride-1 convolution with the rotated filter yields the
   * input's height and width.
   */
  spreadForTransposedConv(
    dy: TensorInfo,
    [height, width]: [number, number],
    [fh, fw]: [number, number],
    [sh, sw]: [number, number],
    [dh, dw]: [number, number],
    padInfo: { top: number; left: number },
  ): TensorInfo {
    const [n, outH, outW, depth] = dy.shape as [number, number, number, number];
    let spread = dy;
    if (sh > 1 || sw > 1) {
      const expanded = this.reshape(dy, [n, outH, 1, outW, 1, depth]);
      const zeros = this.run(
        'PadV2',
        { x: expanded },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, sh - 1],
            [0, 0],
            [0, sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      spread = this.reshape(zeros, [n, outH * sh, outW * sw, depth]);
    }
    const padTop = dh * (fh - 1) - padInfo.top;
    const padLeft = dw * (fw - 1) - padInfo.left;
    const padBottom = height + dh * (fh - 1) - padTop - outH * sh;
    const padRight = width + dw * (fw - 1) - padLeft - outW * sw;
    return this.padOrCrop(spread, padTop, padBottom, padLeft, padRight);
  }

  /** Frees every intermediate except `result`. */
  finish(result: TensorInfo): TensorInfo {
    for (const info of this.intermediates) if (info !== result) this.backend.disposeData(info.dataId);
    return result;
  }
}
