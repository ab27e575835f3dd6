// One WuKongIM JS SDK (wukongimjssdk@1.0.4) user, driven over stdin/stderr by a test.
//
// Run from this directory:  node --import ./wk-register.mjs client.mjs [--addr URL] [--uid U] [--token T]
//
// Configuration (arguments win over environment variables):
//   --addr  / WK_ADDR        WebSocket address, e.g. ws://127.0.0.1:5200 (required)
//   --uid   / WK_UID         user id (required)
//   --token / WK_TOKEN       token (default: empty)
//   --device-flag / WK_DEVICE_FLAG   0 app, 1 web (default), 2 pc
//   --heartbeat-ms / WK_HEARTBEAT_MS PING interval in ms (default: the SDK's 60000)
//   --script / WK_SCRIPT     JSON array of commands run, in order, after the first connect
//   --lifetime-ms / WK_LIFETIME_MS   hard exit (code 3) after this long (default 120000), so a
//                            forgotten process never outlives its test
//
// Output: one JSON object per line on STDERR (the SDK's own console output goes to stdout):
//   {"event":"ready","uid":"alice"}                               listeners set, connecting
//   {"event":"status","status":1,"reasonCode":1}                  every status callback
//       (status 0 disconnected, 1 connected, 2 connecting, 3 connect failed, 4 kicked)
//   {"event":"connected","count":1}                               status 1 (count of connects)
//   {"event":"connect_failed","reasonCode":2}                     status 3 (CONNACK reason != 1)
//   {"event":"kicked","reasonCode":12}                            status 4 (DISCONNECT received)
//   {"event":"disconnected"}                                      status 0
//   {"event":"sent","id":..,"clientSeq":1,"clientMsgNo":"..","channelId":"bob","channelType":1}
//   {"event":"sendack","clientSeq":1,"messageId":"123","messageSeq":1,"reasonCode":1}
//   {"event":"recv","from":"bob","channelId":"bob","channelType":1,"text":"hi",
//        "contentType":1,"messageId":"123","messageSeq":1,"clientMsgNo":"..","timestamp":..}
//   {"event":"error","message":".."}                              bad command, failed send, ...
//   {"event":"exit"}                                              just before a clean exit
//
// Commands: one JSON object per line on STDIN (or in WK_SCRIPT):
//   {"cmd":"send","channelId":"bob","channelType":1,"text":"hello","id":"optional tag"}
//   {"cmd":"disconnect"}      sdk.disconnect() (no reconnect)
//   {"cmd":"connect"}         sdk.connect()
//   {"cmd":"exit"}            disconnect and exit 0 (stdin EOF does the same)

import { WebSocket } from 'ws';
import { WKSDK, MessageText, Channel } from 'wukongimjssdk/lib/sdk.js';
import { createInterface } from 'node:readline';

// --- output -------------------------------------------------------------------------------------

function emit(obj) {
  process.stderr.write(JSON.stringify(obj) + '\n');
}

// The SDK logs (Chinese) diagnostics through console.*; keep all of it off stderr.
for (const level of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
  console[level] = (...args) => {
    if (process.env.WK_QUIET) return;
    try {
      process.stdout.write(args.map((a) => (typeof a === 'string' ? a : safeString(a))).join(' ') + '\n');
    } catch {
      // stdout closed: ignore
    }
  };
}

function safeString(v) {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  } catch {
    return String(v);
  }
}

/** A BigNumber/number/bigint as a decimal string (undefined stays undefined). */
function dec(v) {
  if (v === undefined || v === null) return v;
  if (typeof v === 'object' && typeof v.toFixed === 'function') return v.toFixed();
  return String(v);
}

// --- configuration ------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    out[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const opt = (name, env, dflt) => args[name] ?? process.env[env] ?? dflt;
const addr = opt('addr', 'WK_ADDR');
const uid = opt('uid', 'WK_UID');
const token = opt('token', 'WK_TOKEN', '');
const deviceFlag = opt('device-flag', 'WK_DEVICE_FLAG');
const heartbeatMs = opt('heartbeat-ms', 'WK_HEARTBEAT_MS');
const script = JSON.parse(opt('script', 'WK_SCRIPT', '[]'));
const lifetimeMs = Number(opt('lifetime-ms', 'WK_LIFETIME_MS', '120000'));

if (!addr || !uid) {
  emit({ event: 'error', message: 'WK_ADDR/--addr and WK_UID/--uid are required' });
  process.exit(2);
}

setTimeout(() => {
  emit({ event: 'error', message: `lifetime of ${lifetimeMs} ms exceeded` });
  process.exit(3);
}, lifetimeMs).unref();

// --- SDK setup ----------------------------------------------------------------------------------

globalThis.WebSocket = WebSocket;

const sdk = WKSDK.shared();
sdk.config.addr = addr;
sdk.config.uid = uid;
sdk.config.token = token;
if (deviceFlag !== undefined) sdk.config.deviceFlag = Number(deviceFlag);
if (heartbeatMs !== undefined) sdk.config.heartbeatInterval = Number(heartbeatMs);

let connects = 0;
let scriptStarted = false;

sdk.connectManager.addConnectStatusListener((status, reasonCode) => {
  emit({ event: 'status', status, reasonCode });
  switch (status) {
    case 0:
      emit({ event: 'disconnected' });
      break;
    case 1:
      connects += 1;
      emit({ event: 'connected', count: connects });
      if (!scriptStarted) {
        scriptStarted = true;
        runScript();
      }
      break;
    case 3:
      emit({ event: 'connect_failed', reasonCode });
      break;
    case 4:
      emit({ event: 'kicked', reasonCode });
      break;
    default:
      break;
  }
});

sdk.chatManager.addMessageStatusListener((ack) => {
  emit({
    event: 'sendack',
    clientSeq: ack.clientSeq,
    messageId: dec(ack.messageID),
    messageSeq: ack.messageSeq,
    reasonCode: ack.reasonCode,
  });
});

sdk.chatManager.addMessageListener((m) => {
  // Messages this process sends are echoed to the listener locally, without a message id;
  // only messages that came in a RECV carry one.
  if (m.messageID === undefined || m.messageID === null) return;
  emit({
    event: 'recv',
    from: m.fromUID,
    channelId: m.channel?.channelID,
    channelType: m.channel?.channelType,
    text: m.content?.text ?? null,
    contentType: m.contentType ?? null,
    messageId: dec(m.messageID),
    messageSeq: m.messageSeq,
    clientMsgNo: m.clientMsgNo,
    timestamp: m.timestamp,
  });
});

// --- commands -----------------------------------------------------------------------------------

let exiting = false;

function exit(code) {
  if (exiting) return;
  exiting = true;
  try {
    sdk.disconnect();
  } catch (e) {
    emit({ event: 'error', message: `disconnect: ${e}` });
  }
  emit({ event: 'exit' });
  // Let the close frame and the stderr line drain before exiting.
  setTimeout(() => process.exit(code), 50);
}

async function handle(cmd) {
  switch (cmd?.cmd) {
    case 'send': {
      const channelType = Number(cmd.channelType ?? 1);
      const message = await sdk.chatManager.send(
        new MessageText(String(cmd.text ?? '')),
        new Channel(String(cmd.channelId), channelType),
      );
      emit({
        event: 'sent',
        id: cmd.id ?? null,
        clientSeq: message.clientSeq,
        clientMsgNo: message.clientMsgNo,
        channelId: String(cmd.channelId),
        channelType,
      });
      break;
    }
    case 'disconnect':
      sdk.disconnect();
      break;
    case 'connect':
      sdk.connect();
      break;
    case 'exit':
      exit(0);
      break;
    default:
      emit({ event: 'error', message: `unknown command ${JSON.stringify(cmd)}` });
  }
}

// Commands run one at a time, in arrival order.
let queue = Promise.resolve();
function enqueue(cmd) {
  queue = queue.then(() =>
    handle(cmd).catch((e) => emit({ event: 'error', message: `${cmd?.cmd}: ${e?.message ?? e}` })),
  );
}

function runScript() {
  for (const cmd of script) enqueue(cmd);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({ event: 'error', message: `bad command line ${JSON.stringify(line)}: ${e.message}` });
    return;
  }
  enqueue(cmd);
});
rl.on('close', () => queue.then(() => exit(0)));

process.on('uncaughtException', (e) => emit({ event: 'error', message: `uncaught: ${e?.stack ?? e}` }));
process.on('unhandledRejection', (e) => emit({ event: 'error', message: `unhandled: ${e?.stack ?? e}` }));

emit({ event: 'ready', uid });
sdk.connect();
