'use strict';
// Checks the seed's JS arguments before they cross into the library, so a wrong type is
// a TypeError naming the argument instead of a confusing library message.

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(String(value))}`;
}

function fail(call, name, expected, value) {
  throw new TypeError(`${call}: ${name} must be ${expected}, got ${describe(value)}`);
}

/** A plain object argument (the seed's `info`, `module`, `user`...). */
function object(call, name, value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(call, name, 'an object', value);
  }
  return value;
}

/** A module id or session id: a non-empty string (or a finite number, sent as text). */
function text(call, name, value) {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0) fail(call, name, 'a non-empty string', value);
  return value;
}

/** A string that may be empty (a maintenance message). */
function anyText(call, name, value) {
  if (typeof value !== 'string') fail(call, name, 'a string', value);
  return value;
}

/** A user or admin id: a string or an integer (the seed uses `userId: 123`). */
function id(call, name, value) {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  return fail(call, name, 'a string or an integer', value);
}

function boolean(call, name, value) {
  if (typeof value !== 'boolean') fail(call, name, 'a boolean', value);
  return value;
}

/** JSON text of `value`, or a TypeError saying why it cannot be serialized. */
function json(call, name, value) {
  let encoded;
  try {
    encoded = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${call}: ${name} is not JSON-serializable: ${error.message}`);
  }
  if (encoded === undefined) fail(call, name, 'JSON-serializable', value);
  return encoded;
}

module.exports = { object, text, anyText, id, boolean, json };
