/**
 * Binary columns come back as a Buffer from `pg` and as a plain Uint8Array from `node:sqlite`;
 * the domain types promise a Buffer.
 */
export function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
