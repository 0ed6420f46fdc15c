// The download helpers (www/download.js) on streams built in node: the bytes arrive whole and in order,
// whether the stream lends a reusable buffer (a byte stream) or hands out its own chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bufferSink, byteChunks } from '../../www/download.js';

const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % 251);

async function collect(stream) {
  const sink = bufferSink(0);
  // Each chunk is valid only until the next is asked for: copy it now, as the real sinks do.
  for await (const c of byteChunks(stream)) sink.push(c);
  return sink.result();
}

test('a plain stream: its chunks, in order', async () => {
  const data = bytes(300_000);
  const parts = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000)];
  const stream = new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p.slice());
      c.close();
    },
  });
  assert.deepEqual(await collect(stream), data);
});

test('a byte stream: read into one reused buffer, every byte kept', async () => {
  const data = bytes(3 * (1 << 20) + 123);
  let at = 0;
  const stream = new ReadableStream({
    type: 'bytes',
    pull(c) {
      const n = Math.min(500_000, data.length - at);
      if (n === 0) {
        c.close();
        c.byobRequest?.respond(0); // a read waiting on its own buffer ends (the spec's close of a byte stream)
        return;
      }
      c.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
  assert.deepEqual(await collect(stream), data);
});

test('bufferSink grows past its announced size and trims to what arrived', () => {
  const sink = bufferSink(4);
  sink.push(bytes(3));
  sink.push(bytes(10));
  assert.equal(sink.bytes, 13);
  assert.deepEqual(sink.result(), Uint8Array.from([...bytes(3), ...bytes(10)]));
  const exact = bufferSink(5);
  exact.push(bytes(5));
  assert.equal(exact.result().length, 5);
});
