'use strict';
// The onClientEvent hook: client events the library does not handle reach it with their
// binary values rebuilt as Buffers in place, and what it returns answers the client's
// ack (mcrt_answer_set: the value's JSON, its Buffers as attachments). It runs on the
// event loop in both modes: synchronously inside mcrt_host_message_with_ack in attach
// mode, queued by koffi from a server thread (which waits for it) in standalone mode.

const { fn, byteLength, takeValues, callbacks } = require('./native');
const binary = require('./binary');

/** What the hook returned, as the answer to set, or null for "no answer". */
function answerOf(value, hookFailed) {
  if (value === undefined) return null;
  if (value !== null && typeof value === 'object' && typeof value.then === 'function') {
    hookFailed('onClientEvent', new TypeError('onClientEvent must answer synchronously; a returned Promise answers nothing'));
    return null;
  }
  const { data, attachments } = binary.extract(value);
  const json = JSON.stringify(data);
  return { json: json === undefined ? 'null' : json, attachments };
}

/** Installs `hook` as the hub's client-event handler on a builder being configured. */
function installClientEvents(api, builder, hook, hookFailed, check) {
  const cb = api._register((_, text, _len, attachments, count, answer) => {
    let reply;
    try {
      const event = JSON.parse(text);
      const values = takeValues(attachments, count);
      if (values.length > 0) event.data = binary.rebuild(event.data, values);
      reply = answerOf(hook(event), hookFailed);
    } catch (error) {
      hookFailed('onClientEvent', error);
      return;
    }
    if (reply === null) return;
    const status = fn.answerSet(answer, reply.json, byteLength(reply.json),
      binary.bytesArray(reply.attachments), reply.attachments.length);
    if (status !== 0) hookFailed('onClientEvent', new TypeError(`its answer was refused: [${fn.lastErrorCode()}] ${fn.lastErrorMessage()}`));
  }, callbacks.AnsweringClientEventCallback);
  check(fn.builderSetAnsweringClientEventHandler(builder, cb, null), 'onClientEvent hook');
}

module.exports = { installClientEvents };
