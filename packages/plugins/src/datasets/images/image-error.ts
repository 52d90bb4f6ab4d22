/**
 * A file that cannot be read or decoded, with the message its ThawError carries. The decoding
 * code that worker threads run throws it instead of ThawError, so those threads need not load
 * @thaw/core (and TensorFlow.js with it); decodeImage and decodeBmp turn it into a ThawError.
 */
export class ImageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageError';
  }
}
