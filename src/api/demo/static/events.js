// The chat demo's model of streamed replies, kept free of the DOM so Node can check it
// (tests/js/demo_events.mjs).
//
// A streamed reply is an ordinary message sent with `is_stream` (the anchor) whose text
// arrives afterwards as message events keyed by the anchor's client_msg_no
// (spec wukongim-2.2.5 §1.3–1.4): `stream.delta` with payload {"kind":"text","delta":"…"}
// appends, a terminal `stream.close` / `stream.error` / `stream.cancel` may carry the whole
// text as payload.snapshot.text, and `stream.finish` marks the reply complete. Only the
// `main` lane is text for the page; other lanes (tool calls) are counted, not shown.

/** Standard base64 → UTF-8 text (REST payloads). */
export function b64ToText(b64) {
  const bin = atob(b64 || '');
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** The text of a message payload given as base64 of WuKongIM's JSON content. */
export function payloadText(b64) {
  let raw;
  try {
    raw = b64ToText(b64);
  } catch {
    return '';
  }
  try {
    const c = JSON.parse(raw);
    if (c && typeof c === 'object') {
      if (typeof c.content === 'string') return c.content;
      if (typeof c.text === 'string') return c.text;
      return `[message type ${c.type}]`;
    }
  } catch {
    // not JSON: shown as is
  }
  return raw;
}

/** The conversation an event or message belongs to, as `type:id` seen by `me`. */
export function conversationKey(me, channelId, channelType, fromUid) {
  // Person channels are addressed by the peer; an event's channel_id is the one its producer
  // named (the receiver), so for the receiver the peer is the sender.
  if (Number(channelType) === 1 && channelId === me && fromUid) return `1:${fromUid}`;
  return `${Number(channelType)}:${channelId}`;
}

function fresh(no) {
  return { clientMsgNo: no, text: '', status: '', completed: false, error: '', deltas: 0, lanes: 0 };
}

/** Per anchor (client_msg_no): the text so far and where the stream stands. */
export class StreamBook {
  constructor() {
    this.byNo = new Map();
  }

  /** The state of an anchor, or undefined. */
  get(no) {
    return this.byNo.get(no);
  }

  /**
   * Applies one event: `type` is the EVENT's type, `data` its parsed JSON data (spec §1.4).
   * Returns the anchor's state, or null when the event names no anchor.
   */
  apply(type, data) {
    const no = data && data.client_msg_no;
    if (!no) return null;
    let s = this.byNo.get(no);
    if (!s) {
      s = fresh(no);
      this.byNo.set(no, s);
    }
    if (data.from_uid) s.fromUid = data.from_uid;
    if (data.channel_id) s.channelId = data.channel_id;
    if (data.channel_type) s.channelType = data.channel_type;
    const t = String(type || '').trim().toLowerCase();
    const key = String(data.event_key || '').trim() || 'main';
    const p = data.payload && typeof data.payload === 'object' ? data.payload : {};
    if (t === 'stream.finish' || key === '__finish__') {
      s.completed = true;
      if (s.status === '' || s.status === 'open') s.status = 'closed';
      return s;
    }
    if (key !== 'main') {
      s.lanes += 1;
      return s;
    }
    switch (t) {
      case 'stream.delta':
        if (typeof p.delta === 'string' && (p.kind === undefined || p.kind === 'text')) {
          s.text += p.delta;
          s.deltas += 1;
        }
        s.status = 'open';
        break;
      case 'stream.snapshot':
        if (typeof p.text === 'string') s.text = p.text;
        break;
      case 'stream.close':
      case 'stream.error':
      case 'stream.cancel':
        if (p.snapshot && typeof p.snapshot.text === 'string') s.text = p.snapshot.text;
        s.status = { 'stream.close': 'closed', 'stream.error': 'error', 'stream.cancel': 'cancelled' }[t];
        if (t === 'stream.error') s.error = String(p.error || 'error');
        break;
      default:
        break;
    }
    return s;
  }

  /**
   * Seeds an anchor from a history message of POST /channel/messagesync (its `event_meta`,
   * or `stream_data`), unless live events already brought more text. Returns the state, or
   * null for a message with no stream.
   */
  seed(msg) {
    const meta = msg && msg.event_meta;
    const streamed = (msg && (Number(msg.setting) & 0x02) !== 0) || meta || (msg && msg.stream_data);
    if (!streamed || !msg.client_msg_no) return null;
    const main = meta && Array.isArray(meta.events) ? meta.events.find((e) => e.event_key === 'main') : null;
    let text = null;
    if (main && main.snapshot && typeof main.snapshot.text === 'string') text = main.snapshot.text;
    else if (msg.stream_data) {
      try {
        text = b64ToText(msg.stream_data);
      } catch {
        text = null;
      }
    }
    let s = this.byNo.get(msg.client_msg_no);
    if (!s) {
      s = fresh(msg.client_msg_no);
      this.byNo.set(msg.client_msg_no, s);
    }
    if (text !== null && text.length >= s.text.length) s.text = text;
    if (main && main.status && (s.status === '' || s.status === 'open')) s.status = main.status;
    if (meta && meta.completed) s.completed = true;
    if (msg.end && (s.status === '' || s.status === 'open')) s.status = 'closed';
    return s;
  }
}
