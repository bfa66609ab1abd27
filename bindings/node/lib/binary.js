'use strict';
// Binary values between JS and the library, in Socket.IO's own encoding: a Buffer (or any
// Uint8Array / ArrayBuffer) anywhere in a payload becomes the placeholder
// {"_placeholder":true,"num":N} plus attachment N, and placeholders come back as Buffers
// in place. Only plain objects and arrays are walked (as JSON.stringify would see them).

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return null;
}

/** Whether `value` holds a binary value anywhere. */
function hasBinary(value, depth = 0) {
  if (depth > 128 || value === null || typeof value !== 'object') return false;
  if (toBuffer(value)) return true;
  if (Array.isArray(value)) return value.some((item) => hasBinary(item, depth + 1));
  if (typeof value.toJSON === 'function') return false;
  return Object.values(value).some((item) => hasBinary(item, depth + 1));
}

/** `value` with each binary value replaced by its placeholder, and the values. */
function extract(value) {
  const attachments = [];
  const walk = (item) => {
    if (item === null || typeof item !== 'object') return item;
    const buffer = toBuffer(item);
    if (buffer) {
      attachments.push(buffer);
      return { _placeholder: true, num: attachments.length - 1 };
    }
    if (Array.isArray(item)) return item.map(walk);
    if (typeof item.toJSON === 'function') return item;
    const out = {};
    for (const [key, inner] of Object.entries(item)) out[key] = walk(inner);
    return out;
  };
  return { data: walk(value), attachments };
}

/** `value` with each placeholder replaced by the Buffer it stands for. */
function rebuild(value, attachments) {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => rebuild(item, attachments));
  if (value._placeholder === true && Number.isInteger(value.num) && value.num < attachments.length) {
    return attachments[value.num];
  }
  const out = {};
  for (const [key, inner] of Object.entries(value)) out[key] = rebuild(inner, attachments);
  return out;
}

/** The McrtBytes array for `attachments` (koffi keeps the Buffers alive for the call). */
function bytesArray(attachments) {
  return attachments.map((buffer) => ({ data: buffer, len: buffer.length }));
}

module.exports = { hasBinary, extract, rebuild, bytesArray };
