/** Decoded pixels: unsigned bytes in height × width × channels order (HWC), as TF.js tensors expect them. */
export interface ImagePixels {
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}
