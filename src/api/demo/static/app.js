// Jindou chat demo: log in as a uid, list conversations with unread counts, chat 1:1 and in
// groups, and watch streamed replies (message events) arrive delta by delta.
//
// Realtime messages go through the official JS SDK (wukongimjssdk 1.0.4, vendored): binary
// wkproto over WebSocket. That SDK speaks protocol version 2, which predates message events:
// it has no EVENT packet (and the server sends EVENT only to version 5 sessions), and it does
// not mark a stream anchor as one (the server sends it the legacy stream bit 0x04, which the
// SDK parses but does not expose). So the page also opens a JSON-RPC session on the same
// WebSocket port (spec wukongim-2.2.5 §2) — a second "device" of the same uid — and takes from
// it only what the SDK cannot deliver: `event` notifications, and the `recv` of stream anchors
// (which marks the anchor's bubble as a stream, whichever of the two RECVs comes first).
// History, conversations and group joins go through the REST API (the `apiurl` query
// parameter; CORS).
import { WKSDK, MessageText, Channel } from 'wukongimjssdk';
import { StreamBook, payloadText, conversationKey } from './events.js';

const DEFAULT_TOKEN = 'default111111';
const params = new URLSearchParams(location.search);
const api = (params.get('apiurl') || 'http://127.0.0.1:5001').replace(/\/+$/, '');

const $ = (id) => document.getElementById(id);
const state = {
  uid: '',
  token: '',
  wsAddr: '',
  convs: new Map(), // key "type:id" → {key, channelId, channelType, unread, preview, timestamp}
  msgs: new Map(), // key → Map(client_msg_no → message)
  current: '',
  streams: new StreamBook(),
  events: null, // the JSON-RPC side channel
  sending: new Map(), // SDK clientSeq → [key, client_msg_no]
};
// For tests and curious people: the page's state, read-only by convention.
window.chatdemo = { state };

// ---------------------------------------------------------------- REST

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(api + path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    const msg = data && data.msg ? data.msg : `HTTP ${res.status}`;
    throw new Error(`${path}: ${msg}`);
  }
  return data;
}

// ---------------------------------------------------------------- model

function keyOf(type, id) {
  return `${Number(type)}:${id}`;
}

function conv(key) {
  let c = state.convs.get(key);
  if (!c) {
    const [type, ...rest] = key.split(':');
    c = { key, channelType: Number(type), channelId: rest.join(':'), unread: 0, preview: '', timestamp: 0 };
    state.convs.set(key, c);
  }
  return c;
}

function messagesOf(key) {
  let m = state.msgs.get(key);
  if (!m) {
    m = new Map();
    state.msgs.set(key, m);
  }
  return m;
}

/** Adds or updates a message of conversation `key`; returns it. */
function upsert(key, m) {
  const list = messagesOf(key);
  const old = list.get(m.clientMsgNo);
  const merged = old ? { ...old, ...Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) } : m;
  list.set(m.clientMsgNo, merged);
  return merged;
}

/** A message arrived live (not history): list it, count it, show it. */
function arrived(key, m) {
  const isNew = !messagesOf(key).has(m.clientMsgNo);
  const msg = upsert(key, m);
  const c = conv(key);
  c.preview = previewOf(msg);
  c.timestamp = msg.timestamp || Math.floor(Date.now() / 1000);
  if (isNew && !msg.mine) {
    if (key === state.current && document.visibilityState !== 'hidden') markRead(c);
    else c.unread += 1;
  }
  renderConversations();
  if (key === state.current) renderMessages();
}

function previewOf(m) {
  const s = state.streams.get(m.clientMsgNo);
  const text = s && (m.stream || s.text) ? s.text : m.text;
  return `${m.mine ? 'me' : m.fromUid}: ${text || '…'}`;
}

// ---------------------------------------------------------------- login

async function login(uid, token) {
  state.uid = uid;
  state.token = token || DEFAULT_TOKEN;
  await call('POST', '/user/token', { uid, token: state.token, device_flag: 1, device_level: 0 });
  const route = await call('GET', `/route?uid=${encodeURIComponent(uid)}`);
  state.wsAddr = location.protocol === 'https:' && route.wss_addr ? route.wss_addr : route.ws_addr;
  if (!state.wsAddr) throw new Error('/route announced no WebSocket address');

  const sdk = WKSDK.shared();
  sdk.config.addr = state.wsAddr;
  sdk.config.uid = uid;
  sdk.config.token = state.token;
  sdk.connectManager.addConnectStatusListener(onStatus);
  sdk.chatManager.addMessageListener(onSdkMessage);
  sdk.chatManager.addMessageStatusListener(onSendack);
  const connected = new Promise((resolve, reject) => {
    const listener = (status, reasonCode) => {
      if (status === 1) resolve();
      else if (status === 3 || status === 4) reject(new Error(`connect refused (reason ${reasonCode})`));
    };
    sdk.connectManager.addConnectStatusListener(listener);
  });
  sdk.connect();
  await Promise.race([
    connected,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer from ${state.wsAddr}`)), 10000)),
  ]);
  openEvents();
  $('me').textContent = uid;
  $('login-view').hidden = true;
  $('chat-view').hidden = false;
  location.hash = '#/chat';
  await loadConversations();
}

const STATUS = { 0: 'offline', 1: 'online', 2: 'connecting', 3: 'refused', 4: 'kicked' };

function onStatus(status) {
  const el = $('status');
  el.dataset.status = STATUS[status] || String(status);
  el.textContent = STATUS[status] || `status ${status}`;
}

// ---------------------------------------------------------------- conversations

async function loadConversations() {
  const list = await call('POST', '/conversation/sync', { uid: state.uid, msg_count: 1 });
  for (const item of Array.isArray(list) ? list : []) {
    const c = conv(keyOf(item.channel_type, item.channel_id));
    c.unread = c.key === state.current ? 0 : item.unread || 0;
    c.timestamp = item.timestamp || c.timestamp;
    const last = item.recents && item.recents[0];
    if (last) {
      const m = fromRest(last);
      c.preview = previewOf(m);
    }
  }
  renderConversations();
}

function renderConversations() {
  const ul = $('conversations');
  const items = [...state.convs.values()].sort((a, b) => b.timestamp - a.timestamp || a.key.localeCompare(b.key));
  ul.replaceChildren(
    ...items.map((c) => {
      const li = document.createElement('li');
      li.className = 'conv' + (c.key === state.current ? ' active' : '');
      li.dataset.key = c.key;
      li.dataset.channelId = c.channelId;
      li.dataset.channelType = String(c.channelType);
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = (c.channelType === 2 ? '# ' : '') + c.channelId;
      const unread = document.createElement('span');
      unread.className = 'unread';
      unread.textContent = c.unread > 0 ? String(c.unread) : '';
      unread.hidden = c.unread <= 0;
      const preview = document.createElement('span');
      preview.className = 'preview';
      preview.textContent = c.preview;
      li.append(name, unread, preview);
      li.addEventListener('click', () => openConversation(c.channelId, c.channelType));
      return li;
    }),
  );
}

/** Clears a conversation's unread count here and, shortly after (coalesced), on the server. */
function markRead(c) {
  c.unread = 0;
  if (c.readTimer) return;
  c.readTimer = setTimeout(() => {
    c.readTimer = null;
    call('POST', '/conversations/setUnread', {
      uid: state.uid,
      channel_id: c.channelId,
      channel_type: c.channelType,
      unread: 0,
    }).catch((e) => showError(e));
  }, 200);
}

async function openConversation(channelId, channelType) {
  const key = keyOf(channelType, channelId);
  const c = conv(key);
  state.current = key;
  markRead(c);
  $('room-title').textContent = (channelType === 2 ? '# ' : '') + channelId;
  $('room-title').dataset.key = key;
  $('text').disabled = false;
  $('send-btn').disabled = false;
  renderConversations();
  renderMessages();
  const page = await call('POST', '/channel/messagesync', {
    login_uid: state.uid,
    channel_id: channelId,
    channel_type: channelType,
    start_message_seq: 0,
    end_message_seq: 0,
    pull_mode: 0,
    limit: 30,
    event_summary_mode: 'full',
  });
  const history = (page && page.messages) || [];
  const list = messagesOf(key);
  const live = [...list.values()].filter((m) => !history.some((h) => h.client_msg_no === m.clientMsgNo));
  list.clear();
  for (const h of history) {
    state.streams.seed(h);
    const m = fromRest(h);
    list.set(m.clientMsgNo, m);
  }
  for (const m of live) list.set(m.clientMsgNo, m);
  if (key === state.current) renderMessages();
}

/** A message of the REST API (MessageResp) as the page keeps it. */
function fromRest(h) {
  return {
    clientMsgNo: h.client_msg_no || `seq-${h.message_seq}`,
    messageSeq: h.message_seq,
    fromUid: h.from_uid,
    mine: h.from_uid === state.uid,
    text: payloadText(h.payload),
    timestamp: h.timestamp,
    stream: (Number(h.setting) & 0x02) !== 0 || !!h.event_meta,
    state: '',
  };
}

// ---------------------------------------------------------------- messages

function renderMessages() {
  const ol = $('messages');
  const list = state.current ? [...messagesOf(state.current).values()] : [];
  ol.replaceChildren(...list.map(bubble));
  ol.scrollTop = ol.scrollHeight;
}

function bubble(m) {
  const li = document.createElement('li');
  const s = state.streams.get(m.clientMsgNo);
  const streamed = m.stream || !!s;
  li.className = `msg ${m.mine ? 'mine' : 'theirs'}`;
  li.dataset.clientMsgNo = m.clientMsgNo;
  if (m.messageSeq) li.dataset.seq = String(m.messageSeq);
  const from = document.createElement('div');
  from.className = 'from';
  from.textContent = m.mine ? 'me' : m.fromUid;
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = streamed && s ? s.text : m.text;
  const meta = document.createElement('div');
  meta.className = 'meta';
  const when = m.timestamp ? new Date(m.timestamp * 1000).toLocaleTimeString() : '';
  let status = m.state || '';
  if (streamed) {
    li.classList.add('stream');
    if (s && s.completed) {
      li.classList.add('done');
      status = s.status === 'error' ? `failed: ${s.error}` : s.status === 'cancelled' ? 'cancelled' : '✓ complete';
    } else {
      li.classList.add('streaming');
      status = s && s.deltas ? `streaming… (${s.deltas} deltas)` : 'streaming…';
    }
  }
  meta.textContent = [when, status].filter(Boolean).join(' · ');
  li.append(from, text, meta);
  return li;
}

/** The SDK's message listener: RECVs, and the messages it sends itself. */
function onSdkMessage(message) {
  const mine = message.fromUID === state.uid || !message.fromUID;
  const ch = message.channel;
  const key = keyOf(ch.channelType, ch.channelID);
  const content = message.content || {};
  arrived(key, {
    clientMsgNo: message.clientMsgNo,
    messageSeq: message.messageSeq || undefined,
    fromUid: mine ? state.uid : message.fromUID,
    mine,
    text: typeof content.text === 'string' ? content.text : `[message type ${message.contentType}]`,
    timestamp: message.timestamp || Math.floor(Date.now() / 1000),
    // Left unset: the anchor's JSON-RPC RECV may have marked this message a stream already.
    stream: undefined,
    state: mine && !message.messageSeq ? 'sending' : undefined,
  });
  if (mine && message.clientSeq) state.sending.set(message.clientSeq, [key, message.clientMsgNo]);
}

function onSendack(ack) {
  const entry = state.sending.get(ack.clientSeq);
  if (!entry) return;
  state.sending.delete(ack.clientSeq);
  const [key, no] = entry;
  const ok = ack.reasonCode === 1;
  upsert(key, { clientMsgNo: no, messageSeq: ok ? ack.messageSeq : undefined, state: ok ? 'sent' : `failed (reason ${ack.reasonCode})` });
  if (key === state.current) renderMessages();
}

async function send(text) {
  if (!state.current || !text) return;
  const c = conv(state.current);
  await WKSDK.shared().chatManager.send(new MessageText(text), new Channel(c.channelId, c.channelType));
}

// ---------------------------------------------------------------- message events

function openEvents() {
  const deviceId = 'chatdemo-events-' + Math.random().toString(16).slice(2);
  let ws;
  let pinger;
  let n = 0;
  const setStatus = (s) => {
    const el = $('events-status');
    el.dataset.status = s;
    el.textContent = s === 'online' ? 'events on' : `events ${s}`;
  };
  const connect = () => {
    setStatus('connecting');
    ws = new WebSocket(state.wsAddr);
    state.events = ws;
    ws.onopen = () => {
      ws.send(
        JSON.stringify({
          jsonrpc: '2.0',
          method: 'connect',
          id: 'connect',
          params: { uid: state.uid, token: state.token, deviceFlag: 1, deviceId, version: 5, clientTimestamp: Date.now() },
        }),
      );
    };
    ws.onmessage = (e) => {
      let m;
      try {
        m = JSON.parse(e.data);
      } catch {
        return;
      }
      if (m.id === 'connect') {
        if (m.result && m.result.reasonCode === 1) {
          setStatus('online');
          pinger = setInterval(() => ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'ping', id: `ping-${++n}` })), 25000);
        } else setStatus('refused');
      } else if (m.method === 'event' && m.params) {
        onEvent(m.params);
      } else if (m.method === 'recv' && m.params) {
        const p = m.params;
        ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'recvack', params: { messageId: p.messageId, messageSeq: p.messageSeq, header: p.header || {} } }));
        if (p.setting && p.setting.stream) onAnchor(p);
      }
    };
    ws.onclose = () => {
      clearInterval(pinger);
      setStatus('offline');
      setTimeout(connect, 2000);
    };
  };
  connect();
}

/** A stream anchor's RECV (from the JSON-RPC side channel; the SDK cannot decode it). */
function onAnchor(p) {
  const mine = p.fromUid === state.uid;
  const key = keyOf(p.channelType, p.channelId);
  arrived(key, {
    clientMsgNo: p.clientMsgNo || `id-${p.messageId}`,
    messageSeq: p.messageSeq,
    fromUid: p.fromUid,
    mine,
    text: payloadText(p.payload),
    timestamp: p.timestamp,
    stream: true,
  });
}

/** One message event: `{id, type, timestamp, data}` with `data` the JSON text of spec §1.4. */
function onEvent(params) {
  let data = params.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return;
    }
  }
  const s = state.streams.apply(params.type, data);
  if (!s) return;
  const key = conversationKey(state.uid, data.channel_id, data.channel_type, data.from_uid);
  const list = messagesOf(key);
  const m = list.get(s.clientMsgNo);
  if (m) {
    m.stream = true;
    const c = conv(key);
    c.preview = previewOf(m);
    renderConversations();
  }
  if (key === state.current) {
    // Update the bubble in place (re-rendering the list would move the scroll position).
    const li = document.querySelector(`#messages li[data-client-msg-no="${CSS.escape(s.clientMsgNo)}"]`);
    if (li && m) li.replaceWith(bubble(m));
    else if (m) renderMessages();
  }
}

// ---------------------------------------------------------------- groups

async function joinGroup(groupId) {
  await call('POST', '/channel/subscriber_add', {
    channel_id: groupId,
    channel_type: 2,
    subscribers: [state.uid],
    reset: 0,
  });
  conv(keyOf(2, groupId)).timestamp ||= Math.floor(Date.now() / 1000);
  await openConversation(groupId, 2);
}

// ---------------------------------------------------------------- wiring

function showError(e) {
  $('chat-error').textContent = String(e && e.message ? e.message : e);
}

function wire() {
  $('apiurl').textContent = api;
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('login-error').textContent = '';
    $('login-btn').disabled = true;
    try {
      await login($('uid').value.trim(), $('token').value.trim());
    } catch (err) {
      $('login-error').textContent = String(err.message || err);
      $('login-btn').disabled = false;
    }
  });
  $('open-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const peer = $('peer').value.trim();
    if (!peer) return;
    $('peer').value = '';
    conv(keyOf(1, peer)).timestamp ||= Math.floor(Date.now() / 1000);
    openConversation(peer, 1).catch(showError);
  });
  $('group-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const g = $('group').value.trim();
    if (!g) return;
    $('group').value = '';
    joinGroup(g).catch(showError);
  });
  $('send-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('text').value;
    if (!text.trim()) return;
    $('text').value = '';
    send(text).catch(showError);
  });
  document.body.dataset.ready = '1';
}

wire();
