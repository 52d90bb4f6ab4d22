/** mulberry32: a small seeded generator, so the same options always give the same files. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One photo-like RGB image of this size: a two-colour gradient, `blobs` soft-edged ellipses and
 * per-pixel noise, so a JPEG of it holds detail in every block. Draws from `next` in a fixed order.
 */
export function paintImage(next: () => number, width: number, height: number, blobs: { min: number; spread: number }): Buffer {
  const from = [next() * 255, next() * 255, next() * 255];
  const to = [next() * 255, next() * 255, next() * 255];
  const angle = next() * Math.PI * 2;
  const [dx, dy] = [Math.cos(angle) / width, Math.sin(angle) / height];
  const shapes = Array.from({ length: blobs.min + Math.floor(next() * blobs.spread) }, () => ({
    x: next() * width,
    y: next() * height,
    rx: (0.05 + next() * 0.3) * width,
    ry: (0.05 + next() * 0.3) * height,
    colour: [next() * 255, next() * 255, next() * 255],
  }));
  const noise = 10 + next() * 14;
  const data = Buffer.alloc(width * height * 3);
  const pixel = new Float64Array(3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + (x - width / 2) * dx + (y - height / 2) * dy));
      for (let c = 0; c < 3; c++) pixel[c] = from[c]! + (to[c]! - from[c]!) * t;
      for (const shape of shapes) {
        const d = ((x - shape.x) / shape.rx) ** 2 + ((y - shape.y) / shape.ry) ** 2;
        if (d >= 1) continue;
        const cover = Math.min(1, (1 - d) * 4);
        for (let c = 0; c < 3; c++) pixel[c] = pixel[c]! + (shape.colour[c]! - pixel[c]!) * cover;
      }
      const at = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) data[at + c] = Math.min(255, Math.max(0, Math.round(pixel[c]! + (next() - 0.5) * 2 * noise)));
    }
  }
  return data;
}
