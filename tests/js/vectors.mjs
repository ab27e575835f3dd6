// Regenerates the SDK-produced protocol vectors of tests/data/wkproto-vectors.json with the
// real SDK (wukongimjssdk@1.0.4), from each vector's listed fields, and has the SDK decode the
// hand-made server→client ones it can read. tests/proto_vectors.rs runs it and compares.
//
// Run from this directory:  node --import ./wk-register.mjs vectors.mjs <vectors.json>
//
// Output: one JSON object per line on stdout:
//   {"name":"connect_v2","kind":"encode","hex":"1051…"}            a vector with "source":"sdk"
//   {"name":"key_derivation","kind":"derive","fields":{…}}          the SDK's key derivation
//   {"name":"sendack_v2","kind":"decode","fields":{…}}              hand-made bytes the SDK read
//   {"name":"…","kind":"error","message":"…"}                       anything it could not do
// Live-session frames are named "live#<seq>".

import { readFileSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import {
  ConnectPacket,
  SendPacket,
  RecvackPacket,
  PingPacket,
  SubPacket,
  Setting,
  PacketType,
} from 'wukongimjssdk/lib/proto.js';
import { SecurityManager } from 'wukongimjssdk/lib/security.js';
import { WKSDK } from 'wukongimjssdk/lib/sdk.js';
import { generateKeyPair, sharedKey } from 'curve25519-js';
import { Md5 } from 'md5-typescript';

// The SDK logs (in Chinese) through console.*: keep stdout for the results.
for (const level of ['log', 'info', 'debug', 'warn', 'error', 'trace']) console[level] = () => {};

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const utf8 = (s) => Uint8Array.from(Buffer.from(s, 'utf8'));

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
// The SDK's own codec instance, the one its ConnectManager encodes and decodes with.
const proto = WKSDK.shared().connectManager.getProto();
const kd = doc.vectors.find((v) => v.name === 'key_derivation').fields;

/** The header flags of a vector (`header_flags` or the named booleans). */
function flags(packet, f) {
  const bits = f.header_flags ?? 0;
  packet.noPersist = f.noPersist ?? (bits & 1) !== 0;
  packet.reddot = f.redDot ?? (bits & 2) !== 0;
  packet.syncOnce = f.syncOnce ?? (bits & 4) !== 0;
  packet.dup = f.dup ?? (bits & 8) !== 0;
}

/** Keys as the SDK's ConnectManager sets them on a CONNACK (connect_manager.js onPacket). */
function useKeys(aesKey, aesIV) {
  SecurityManager.shared().aesKey = aesKey;
  SecurityManager.shared().aesIV = aesIV;
}

/** The session keys a server with key_derivation's private key derives for `clientKey`. */
function sessionKeys(clientKeyB64, salt) {
  const secret = sharedKey(unhex(kd.server_private_hex), Uint8Array.from(Buffer.from(clientKeyB64, 'base64')));
  return [Md5.init(Buffer.from(secret).toString('base64')).substring(0, 16), salt.substring(0, 16)];
}

function encode(type, f) {
  let p;
  switch (type) {
    case 'CONNECT':
      p = new ConnectPacket();
      p.version = Number(f.version);
      p.deviceFlag = Number(f.deviceFlag);
      p.deviceID = f.deviceID;
      p.uid = f.uid;
      p.token = f.token;
      p.clientTimestamp = String(f.clientTimestamp);
      p.clientKey = f.clientKey;
      break;
    case 'SEND': {
      p = new SendPacket();
      const s = new Setting();
      const bits = Number(f.setting ?? 0);
      s.receiptEnabled = (bits & 0x80) !== 0;
      s.topic = (bits & 0x08) !== 0;
      if (f.streamNo) s.streamNo = f.streamNo;
      p.setting = s;
      p.clientSeq = Number(f.clientSeq);
      p.clientMsgNo = f.clientMsgNo;
      p.streamNo = f.streamNo;
      p.channelID = f.channelID;
      p.channelType = Number(f.channelType);
      p.topic = f.topic;
      p.payload = utf8(f.plaintext_payload ?? f.decrypted_payload);
      break;
    }
    case 'RECVACK':
      p = new RecvackPacket();
      p.messageID = String(f.messageID);
      p.messageSeq = Number(f.messageSeq);
      break;
    case 'PING':
      p = new PingPacket();
      break;
    case 'SUB':
      // As ChannelManager.sendSubscribe builds it: channel, action, param (no setting, no
      // subscription number).
      p = new SubPacket();
      p.channelID = f.channelID;
      p.channelType = Number(f.channelType);
      p.action = Number(f.action);
      if (f.param) p.param = f.param;
      break;
    default:
      throw new Error(`the SDK cannot encode ${type}`);
  }
  if (type !== 'PING') flags(p, f);
  return hex(proto.encode(p));
}

/** What the SDK's decoder reads from hand-made server→client bytes, under the vectors' names. */
function decode(h) {
  const p = proto.decode(unhex(h));
  const fields = {};
  const put = (k, v) => {
    if (v !== undefined && v !== null) fields[k] = typeof v === 'object' ? v.toString() : v;
  };
  put('redDot', p.reddot);
  switch (p.packetType) {
    case PacketType.CONNACK:
      put('timeDiff', String(p.timeDiff));
      put('reasonCode', p.reasonCode);
      put('serverKey', p.serverKey);
      put('salt', p.salt);
      break;
    case PacketType.SENDACK:
      put('messageID', String(p.messageID));
      put('clientSeq', p.clientSeq);
      put('messageSeq', p.messageSeq);
      put('reasonCode', p.reasonCode);
      break;
    case PacketType.RECV:
      put('setting', p.setting.toUint8());
      put('msgKey', p.msgKey);
      put('fromUID', p.fromUID);
      put('channelID', p.channelID);
      put('channelType', p.channelType);
      put('clientMsgNo', p.clientMsgNo);
      put('messageID', String(p.messageID));
      put('messageSeq', p.messageSeq);
      put('timestamp', p.timestamp);
      put('encrypted_payload_b64', Buffer.from(p.payload).toString('utf8'));
      // The SDK checks msgKey and decrypts as its ChatManager does.
      put('sdk_msg_key', Md5.init(SecurityManager.shared().encryption(p.veritifyString)));
      put('sdk_plaintext', Buffer.from(SecurityManager.shared().decryption(p.payload)).toString('utf8'));
      break;
    case PacketType.DISCONNECT:
      put('reasonCode', p.reasonCode);
      put('reason', p.reason);
      break;
    case PacketType.SUBACK:
      put('subNo', p.clientMsgNo);
      put('channelID', p.channelID);
      put('channelType', p.channelType);
      put('action', p.action);
      put('reasonCode', p.reasonCode);
      break;
    case PacketType.PONG:
      break;
    default:
      throw new Error(`the SDK cannot decode packet type ${p.packetType}`);
  }
  return fields;
}

function attempt(name, kind, f) {
  try {
    out({ name, kind, ...f() });
  } catch (e) {
    out({ name, kind: 'error', message: String(e?.stack ?? e) });
  }
}

// The key derivation through the SDK's own code path: ConnectManager makes its key pair from a
// seed, and derives aesKey/aesIV when it reads a CONNACK.
attempt('key_derivation', 'derive', () => {
  const pair = generateKeyPair(utf8(kd.client_seed_ascii));
  const cm = WKSDK.shared().connectManager;
  cm.dhPrivateKey = pair.private;
  // Keep the CONNACK's side effects quiet: no heartbeat timer, no send queue.
  cm.restHeart = () => {};
  WKSDK.shared().chatManager.flushSendingQueue = () => {};
  WKSDK.shared().channelManager.reSubscribe = () => {};
  const connack = doc.vectors.find((v) => v.name === 'connack_v2_success');
  cm.onPacket(unhex(connack.hex));
  return {
    fields: {
      client_public_b64: Buffer.from(pair.public).toString('base64'),
      aes_key: SecurityManager.shared().aesKey,
      aes_iv_salt: SecurityManager.shared().aesIV,
    },
  };
});

// The vectors' keys (as after connack_v2_success).
useKeys(kd.aes_key, kd.aes_iv_salt);
for (const v of doc.vectors) {
  if (v.kind === 'crypto') continue;
  if (v.source === 'sdk') {
    attempt(v.name, 'encode', () => ({ hex: encode(v.type, v.fields) }));
  } else if (v.direction === 's2c' && v.protocolVersion !== 'any' && Number(v.protocolVersion) <= 2) {
    attempt(v.name, 'decode', () => ({ fields: decode(v.hex) }));
  } else if (v.direction === 's2c' && v.protocolVersion === 'any' && v.type !== 'EVENT') {
    attempt(v.name, 'decode', () => ({ fields: decode(v.hex) }));
  }
}

// The live session: its client key pair was random, so its keys are derived from the server
// side (key_derivation's server private key and the CONNECT's client key).
const frames = doc.liveSession.frames;
const connect = frames.find((f) => f.type === 'CONNECT').fields;
const connack = frames.find((f) => f.type === 'CONNACK').fields;
useKeys(...sessionKeys(connect.clientKey, connack.salt));
for (const f of frames) {
  const name = `live#${f.seq}`;
  if (f.source === 'sdk') {
    attempt(name, 'encode', () => ({ hex: encode(f.type, f.fields) }));
  } else {
    attempt(name, 'decode', () => ({ fields: decode(f.hex) }));
  }
}
process.exit(0);
