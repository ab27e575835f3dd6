// Unit checks of the chat demo's stream model (src/api/demo/static/events.js), run by
// tests/demo.rs: node demo_events.mjs  (prints "N passed, 0 failed"; exits 1 on a failure).
import assert from 'node:assert/strict';
import { StreamBook, payloadText, conversationKey } from '../../src/api/demo/static/events.js';

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const ev = (no, type, payload, extra = {}) => ({
  client_msg_no: no,
  channel_id: 'alice',
  channel_type: 1,
  from_uid: 'bot',
  message_id: 1,
  event_key: 'main',
  msg_event_seq: 0,
  stream_status: 'open',
  payload,
  ...extra,
});

const checks = {
  'deltas append in order and count'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', 'stream.delta', { kind: 'text', delta: 'Hello' }));
    const s = b.apply('stream.delta', ev('a', 'stream.delta', { kind: 'text', delta: ', world' }));
    assert.equal(s.text, 'Hello, world');
    assert.equal(s.deltas, 2);
    assert.equal(s.status, 'open');
    assert.equal(s.completed, false);
  },
  'event type is case-insensitive and trimmed'() {
    const b = new StreamBook();
    const s = b.apply(' Stream.Delta ', ev('a', '', { kind: 'text', delta: 'x' }));
    assert.equal(s.text, 'x');
  },
  'anchors are kept apart'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'one' }));
    b.apply('stream.delta', ev('b', '', { kind: 'text', delta: 'two' }));
    assert.equal(b.get('a').text, 'one');
    assert.equal(b.get('b').text, 'two');
  },
  'non-text deltas and other lanes do not touch the text'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'keep' }));
    b.apply('stream.delta', ev('a', '', { kind: 'json', delta: 'no' }));
    const s = b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'no' }, { event_key: 'tool_weather' }));
    assert.equal(s.text, 'keep');
    assert.equal(s.lanes, 1);
  },
  'close replaces with the snapshot; finish completes'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'Hel' }));
    let s = b.apply('stream.close', ev('a', '', { end_reason: 0, snapshot: { kind: 'text', text: 'Hello!' } }));
    assert.equal(s.text, 'Hello!');
    assert.equal(s.status, 'closed');
    assert.equal(s.completed, false);
    s = b.apply('stream.finish', ev('a', '', null, { event_key: '__finish__' }));
    assert.equal(s.completed, true);
    assert.equal(s.text, 'Hello!');
  },
  'close without a snapshot keeps the deltas; error records its text'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'partial' }));
    let s = b.apply('stream.close', ev('a', '', { end_reason: 0 }));
    assert.equal(s.text, 'partial');
    s = b.apply('stream.error', ev('e', '', { error: 'model down' }));
    assert.equal(s.status, 'error');
    assert.equal(s.error, 'model down');
  },
  'finish alone completes an open stream'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'x' }));
    const s = b.apply('stream.finish', ev('a', '', {}));
    assert.equal(s.completed, true);
    assert.equal(s.status, 'closed');
  },
  'an event without client_msg_no is ignored'() {
    assert.equal(new StreamBook().apply('stream.delta', { payload: { delta: 'x' } }), null);
  },
  'history seeds from event_meta, then from stream_data'() {
    const b = new StreamBook();
    const s = b.seed({
      client_msg_no: 'h1',
      setting: 2,
      event_meta: {
        has_events: true,
        completed: true,
        events: [{ event_key: 'main', status: 'closed', snapshot: { kind: 'text', text: 'Hello, world!' } }],
      },
    });
    assert.equal(s.text, 'Hello, world!');
    assert.equal(s.completed, true);
    assert.equal(s.status, 'closed');
    const t = b.seed({ client_msg_no: 'h2', setting: 2, stream_data: b64('from stream_data'), end: 1 });
    assert.equal(t.text, 'from stream_data');
    assert.equal(t.status, 'closed');
    assert.equal(b.seed({ client_msg_no: 'plain', setting: 0, payload: b64('{}') }), null);
  },
  'history does not shorten text that live deltas already brought'() {
    const b = new StreamBook();
    b.apply('stream.delta', ev('a', '', { kind: 'text', delta: 'Hello, wor' }));
    b.seed({ client_msg_no: 'a', setting: 2, event_meta: { events: [{ event_key: 'main', status: 'open', snapshot: { kind: 'text', text: 'Hello' } }] } });
    assert.equal(b.get('a').text, 'Hello, wor');
  },
  'payload text of WuKongIM JSON content'() {
    assert.equal(payloadText(b64('{"type":1,"content":"hi ✓"}')), 'hi ✓');
    assert.equal(payloadText(b64('plain')), 'plain');
    assert.equal(payloadText(b64('{"type":2}')), '[message type 2]');
  },
  'conversation of an event as its receiver and its sender see it'() {
    assert.equal(conversationKey('alice', 'alice', 1, 'bot'), '1:bot');
    assert.equal(conversationKey('bot', 'alice', 1, 'bot'), '1:alice');
    assert.equal(conversationKey('alice', 'g1', 2, 'bot'), '2:g1');
  },
};

let passed = 0;
let failed = 0;
for (const [name, f] of Object.entries(checks)) {
  try {
    f();
    passed += 1;
  } catch (e) {
    failed += 1;
    console.error(`FAIL ${name}: ${e.message}`);
  }
}
console.log(`demo events: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
