var __extends = (this && this.__extends) || (function () {
    var extendStatics = function (d, b) {
        extendStatics = Object.setPrototypeOf ||
            ({ __proto__: [] } instanceof Array && function (d, b) { d.__proto__ = b; }) ||
            function (d, b) { for (var p in b) if (b.hasOwnProperty(p)) d[p] = b[p]; };
        return extendStatics(d, b);
    };
    return function (d, b) {
        extendStatics(d, b);
        function __() { this.constructor = d; }
        d.prototype = b === null ? Object.create(b) : (__.prototype = b.prototype, new __());
    };
})();
import Encoder from './encoder';
import Decoder from './decoder';
import BigNumber from 'bignumber.js';
import { SecurityManager } from './security';
import { Md5 } from 'md5-typescript';
/* tslint:disable */
export var PacketType;
(function (PacketType) {
    PacketType[PacketType["Reserved"] = 0] = "Reserved";
    PacketType[PacketType["CONNECT"] = 1] = "CONNECT";
    PacketType[PacketType["CONNACK"] = 2] = "CONNACK";
    PacketType[PacketType["SEND"] = 3] = "SEND";
    PacketType[PacketType["SENDACK"] = 4] = "SENDACK";
    PacketType[PacketType["RECV"] = 5] = "RECV";
    PacketType[PacketType["RECVACK"] = 6] = "RECVACK";
    PacketType[PacketType["PING"] = 7] = "PING";
    PacketType[PacketType["PONG"] = 8] = "PONG";
    PacketType[PacketType["DISCONNECT"] = 9] = "DISCONNECT";
    PacketType[PacketType["SUB"] = 10] = "SUB";
    PacketType[PacketType["SUBACK"] = 11] = "SUBACK";
})(PacketType || (PacketType = {}));
var Setting = /** @class */ (function () {
    function Setting() {
        this.receiptEnabled = false; // 消息回执是否开启
        this.topic = false; // 是否存在话题
        this._streamOn = false;
        this._streamNo = ''; // 流号
    }
    Object.defineProperty(Setting.prototype, "streamNo", {
        get: function () {
            return this._streamNo;
        },
        set: function (v) {
            if (v && v !== '') {
                this._streamOn = true;
            }
            else {
                this._streamOn = false;
            }
            this._streamNo = v;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Setting.prototype, "streamOn", {
        get: function () {
            return this._streamOn;
        },
        enumerable: true,
        configurable: true
    });
    Setting.prototype.toUint8 = function () {
        return this.boolToInt(this.receiptEnabled) << 7 | this.boolToInt(this.topic) << 3 | this.boolToInt(this.streamOn) << 2;
    };
    Setting.fromUint8 = function (v) {
        var setting = new Setting();
        setting.receiptEnabled = (v >> 7 & 0x01) > 0;
        setting.topic = (v >> 3 & 0x01) > 0;
        setting._streamOn = (v >> 2 & 0x01) > 0;
        return setting;
    };
    Setting.prototype.boolToInt = function (v) {
        return v ? 1 : 0;
    };
    return Setting;
}());
export { Setting };
var Packet = /** @class */ (function () {
    function Packet() {
        /* tslint:disable-line */
        this._packetType = PacketType.Reserved; // 包类型
    }
    Packet.prototype.from = function (f) {
        this.noPersist = f.noPersist;
        this.reddot = f.reddot;
        this.syncOnce = f.syncOnce;
        this.dup = f.dup;
        this.remainingLength = f.remainingLength;
        this._packetType = f._packetType;
    };
    Object.defineProperty(Packet.prototype, "packetType", {
        get: function () {
            return this._packetType;
        },
        set: function (packetType) {
            this._packetType = packetType;
        },
        enumerable: true,
        configurable: true
    });
    return Packet;
}());
export { Packet };
// 连接包
var ConnectPacket = /** @class */ (function (_super) {
    __extends(ConnectPacket, _super);
    function ConnectPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(ConnectPacket.prototype, "packetType", {
        get: function () {
            return PacketType.CONNECT;
        },
        enumerable: true,
        configurable: true
    });
    return ConnectPacket;
}(Packet));
export { ConnectPacket };
// 连接回执包
var ConnackPacket = /** @class */ (function (_super) {
    __extends(ConnackPacket, _super);
    function ConnackPacket() {
        var _this = _super !== null && _super.apply(this, arguments) || this;
        _this.reasonCode = 0; // 原因码
        return _this;
    }
    Object.defineProperty(ConnackPacket.prototype, "packetType", {
        get: function () {
            return PacketType.CONNACK;
        },
        enumerable: true,
        configurable: true
    });
    return ConnackPacket;
}(Packet));
export { ConnackPacket };
// 断开包
var DisconnectPacket = /** @class */ (function (_super) {
    __extends(DisconnectPacket, _super);
    function DisconnectPacket() {
        var _this = _super !== null && _super.apply(this, arguments) || this;
        /* tslint:disable-line */
        _this.reasonCode = 0; // 原因码
        return _this;
    }
    Object.defineProperty(DisconnectPacket.prototype, "packetType", {
        get: function () {
            return PacketType.DISCONNECT;
        },
        enumerable: true,
        configurable: true
    });
    return DisconnectPacket;
}(Packet));
export { DisconnectPacket };
// 发送包
var SendPacket = /** @class */ (function (_super) {
    __extends(SendPacket, _super);
    function SendPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(SendPacket.prototype, "packetType", {
        get: function () {
            return PacketType.SEND;
        },
        enumerable: true,
        configurable: true
    });
    SendPacket.prototype.veritifyString = function (payload) {
        var _a;
        var payloadStr = this.uint8ArrayToString(payload);
        return "" + this.clientSeq + this.clientMsgNo + ((_a = this.channelID) !== null && _a !== void 0 ? _a : "") + this.channelType + payloadStr;
    };
    SendPacket.prototype.uint8ArrayToString = function (data) {
        var encodedString = String.fromCharCode.apply(null, Array.from(data));
        var decodedString = decodeURIComponent(escape(encodedString));
        return decodedString;
    };
    return SendPacket;
}(Packet));
export { SendPacket };
export var StreamFlag;
(function (StreamFlag) {
    StreamFlag[StreamFlag["START"] = 0] = "START";
    StreamFlag[StreamFlag["ING"] = 1] = "ING";
    StreamFlag[StreamFlag["END"] = 2] = "END";
})(StreamFlag || (StreamFlag = {}));
// 收消息包
var RecvPacket = /** @class */ (function (_super) {
    __extends(RecvPacket, _super);
    function RecvPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(RecvPacket.prototype, "packetType", {
        get: function () {
            return PacketType.RECV;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(RecvPacket.prototype, "veritifyString", {
        get: function () {
            var _a, _b;
            var payloadStr = this.uint8ArrayToString(this.payload);
            return "" + this.messageID + this.messageSeq + this.clientMsgNo + this.timestamp + ((_a = this.fromUID) !== null && _a !== void 0 ? _a : "") + ((_b = this.channelID) !== null && _b !== void 0 ? _b : "") + this.channelType + payloadStr;
        },
        enumerable: true,
        configurable: true
    });
    RecvPacket.prototype.uint8ArrayToString = function (data) {
        var encodedString = String.fromCharCode.apply(null, Array.from(data));
        var decodedString = decodeURIComponent(escape(encodedString));
        return decodedString;
    };
    return RecvPacket;
}(Packet));
export { RecvPacket };
// ping
var PingPacket = /** @class */ (function (_super) {
    __extends(PingPacket, _super);
    function PingPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(PingPacket.prototype, "packetType", {
        /* tslint:disable-line */
        get: function () {
            return PacketType.PING;
        },
        enumerable: true,
        configurable: true
    });
    return PingPacket;
}(Packet));
export { PingPacket };
// pong
var PongPacket = /** @class */ (function (_super) {
    __extends(PongPacket, _super);
    function PongPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(PongPacket.prototype, "packetType", {
        /* tslint:disable-line */
        get: function () {
            return PacketType.PONG;
        },
        enumerable: true,
        configurable: true
    });
    return PongPacket;
}(Packet));
export { PongPacket };
// 消息发送回执
var SendackPacket = /** @class */ (function (_super) {
    __extends(SendackPacket, _super);
    function SendackPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(SendackPacket.prototype, "packetType", {
        get: function () {
            return PacketType.SENDACK;
        },
        enumerable: true,
        configurable: true
    });
    return SendackPacket;
}(Packet));
export { SendackPacket };
// 收到消息回执给服务端的包
var RecvackPacket = /** @class */ (function (_super) {
    __extends(RecvackPacket, _super);
    function RecvackPacket() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(RecvackPacket.prototype, "packetType", {
        get: function () {
            return PacketType.RECVACK;
        },
        enumerable: true,
        configurable: true
    });
    return RecvackPacket;
}(Packet));
export { RecvackPacket };
var SubPacket = /** @class */ (function (_super) {
    __extends(SubPacket, _super);
    function SubPacket() {
        var _this = _super !== null && _super.apply(this, arguments) || this;
        _this.action = 0; // 0:订阅 1:取消订阅
        return _this;
    }
    Object.defineProperty(SubPacket.prototype, "packetType", {
        get: function () {
            return PacketType.SUB;
        },
        enumerable: true,
        configurable: true
    });
    return SubPacket;
}(Packet));
export { SubPacket };
var SubackPacket = /** @class */ (function (_super) {
    __extends(SubackPacket, _super);
    function SubackPacket() {
        var _this = _super !== null && _super.apply(this, arguments) || this;
        _this.action = 0; // 0:订阅 1:取消订阅
        return _this;
    }
    Object.defineProperty(SubackPacket.prototype, "packetType", {
        get: function () {
            return PacketType.SUBACK;
        },
        enumerable: true,
        configurable: true
    });
    return SubackPacket;
}(Packet));
export { SubackPacket };
var Proto = /** @class */ (function () {
    function Proto() {
        /* tslint:disable-line */
        this.packetEncodeMap = {};
        this.packetDecodeMap = {};
        // 编码
        this.packetEncodeMap[PacketType.CONNECT] = this.encodeConnect;
        this.packetEncodeMap[PacketType.SEND] = this.encodeSend;
        this.packetEncodeMap[PacketType.RECVACK] = this.encodeRecvack;
        this.packetEncodeMap[PacketType.SUB] = this.encodeSub;
        // 解码
        this.packetDecodeMap[PacketType.CONNACK] = this.decodeConnect;
        this.packetDecodeMap[PacketType.RECV] = this.decodeRecvPacket;
        this.packetDecodeMap[PacketType.SENDACK] = this.decodeSendackPacket;
        this.packetDecodeMap[PacketType.DISCONNECT] = this.decodeDisconnect;
        this.packetDecodeMap[PacketType.SUBACK] = this.decodeSuback;
    }
    Proto.prototype.encode = function (f) {
        var enc = new Encoder();
        var body;
        if (f.packetType !== PacketType.PING && f.packetType !== PacketType.PONG) {
            var packetEncodeFunc = this.packetEncodeMap[f.packetType];
            body = packetEncodeFunc(f);
            var header = this.encodeFramer(f, body.length);
            enc.writeBytes(header);
            enc.writeBytes(body);
        }
        else {
            var header = this.encodeFramer(f, 0);
            enc.writeBytes(header);
        }
        return enc.toUint8Array();
    };
    Proto.prototype.decode = function (data) {
        var decode = new Decoder(data);
        var f = this.decodeFramer(decode);
        if (f.packetType === PacketType.PING) {
            return new PingPacket();
        }
        if (f.packetType === PacketType.PONG) {
            return new PongPacket();
        }
        var packetDecodeFunc = this.packetDecodeMap[f.packetType];
        if (packetDecodeFunc == null) {
            console.log('不支持的协议包->', f.packetType);
        }
        return packetDecodeFunc(f, decode);
    };
    // 编码连接
    Proto.prototype.encodeConnect = function (packet) {
        var enc = new Encoder();
        enc.writeUint8(packet.version);
        enc.writeUint8(packet.deviceFlag); // deviceFlag 0x01表示web
        enc.writeString(packet.deviceID);
        enc.writeString(packet.uid);
        enc.writeString(packet.token);
        enc.writeInt64(new BigNumber(packet.clientTimestamp));
        enc.writeString(packet.clientKey);
        return enc.w;
    };
    Proto.prototype.encodeSend = function (packet) {
        var enc = new Encoder();
        // setting
        enc.writeByte(packet.setting.toUint8());
        // messageID
        enc.writeInt32(packet.clientSeq);
        // clientMsgNo
        if (!packet.clientMsgNo || packet.clientMsgNo === '') {
            packet.clientMsgNo = getUUID();
        }
        enc.writeString(packet.clientMsgNo);
        if (packet.setting.streamOn) {
            enc.writeString(packet.streamNo);
        }
        // channel
        enc.writeString(packet.channelID);
        enc.writeByte(packet.channelType);
        // msg key
        var payload = Uint8Array.from(enc.stringToUint(SecurityManager.shared().encryption2(packet.payload)));
        var msgKey = SecurityManager.shared().encryption(packet.veritifyString(payload));
        enc.writeString(Md5.init(msgKey));
        // topic
        var setting = packet.setting;
        if (setting.topic) {
            enc.writeString(packet.topic || "");
        }
        // payload
        if (payload) {
            enc.writeBytes(Array.from(payload));
        }
        return enc.w;
    };
    Proto.prototype.encodeSub = function (packet) {
        var enc = new Encoder();
        enc.writeByte(packet.setting);
        enc.writeString(packet.clientMsgNo);
        enc.writeString(packet.channelID);
        enc.writeByte(packet.channelType);
        enc.writeByte(packet.action);
        enc.writeString(packet.param || '');
        return enc.w;
    };
    Proto.prototype.decodeSuback = function (f, decode) {
        var p = new SubackPacket();
        p.from(f);
        p.clientMsgNo = decode.readString();
        p.channelID = decode.readString();
        p.channelType = decode.readByte();
        p.action = decode.readByte();
        p.reasonCode = decode.readByte();
        return p;
    };
    Proto.prototype.encodeRecvack = function (packet) {
        var enc = new Encoder();
        enc.writeInt64(new BigNumber(packet.messageID));
        enc.writeInt32(packet.messageSeq);
        return enc.w;
    };
    Proto.prototype.decodeConnect = function (f, decode) {
        var p = new ConnackPacket();
        p.from(f);
        p.timeDiff = decode.readInt64();
        p.reasonCode = decode.readByte();
        p.serverKey = decode.readString();
        p.salt = decode.readString();
        return p;
    };
    Proto.prototype.decodeDisconnect = function (f, decode) {
        var p = new DisconnectPacket();
        p.from(f);
        p.reasonCode = decode.readByte();
        p.reason = decode.readString();
        return p;
    };
    Proto.prototype.decodeRecvPacket = function (f, decode) {
        var p = new RecvPacket();
        p.from(f);
        p.setting = Setting.fromUint8(decode.readByte());
        p.msgKey = decode.readString();
        p.fromUID = decode.readString();
        p.channelID = decode.readString();
        p.channelType = decode.readByte();
        p.clientMsgNo = decode.readString();
        if (p.setting.streamOn) {
            p.streamNo = decode.readString();
            p.streamSeq = decode.readInt32();
            p.streamFlag = decode.readByte();
        }
        p.messageID = decode.readInt64().toString();
        p.messageSeq = decode.readInt32();
        p.timestamp = decode.readInt32();
        var setting = p.setting;
        if (setting.topic) {
            p.topic = decode.readString();
        }
        p.payload = decode.readRemaining();
        return p;
    };
    Proto.prototype.decodeSendackPacket = function (f, decode) {
        var p = new SendackPacket();
        p.from(f);
        p.messageID = decode.readInt64();
        p.clientSeq = decode.readInt32();
        p.messageSeq = decode.readInt32();
        p.reasonCode = decode.readByte();
        return p;
    };
    // 编码头部
    Proto.prototype.encodeFramer = function (f, remainingLength) {
        if (f.packetType === PacketType.PING || f.packetType === PacketType.PONG) {
            return [(f.packetType << 4) | 0];
        }
        var headers = new Array();
        var typeAndFlags = (this.encodeBool(f.dup) << 3) |
            (this.encodeBool(f.syncOnce) << 2) |
            (this.encodeBool(f.reddot) << 1) |
            this.encodeBool(f.noPersist);
        headers.push((f.packetType << 4) | typeAndFlags);
        var vLen = this.encodeVariableLength(remainingLength);
        headers.push.apply(headers, vLen);
        return headers;
    };
    Proto.prototype.decodeFramer = function (decode) {
        var b = decode.readByte();
        var f = new Packet();
        f.noPersist = (b & 0x01) > 0;
        f.reddot = ((b >> 1) & 0x01) > 0;
        f.syncOnce = ((b >> 2) & 0x01) > 0;
        f.dup = ((b >> 3) & 0x01) > 0;
        f.packetType = b >> 4;
        if (f.packetType != PacketType.PING && f.packetType != PacketType.PONG) {
            f.remainingLength = decode.readVariableLength();
        }
        return f;
    };
    Proto.prototype.encodeBool = function (b) {
        return b ? 1 : 0;
    };
    Proto.prototype.encodeVariableLength = function (len) {
        var ret = new Array();
        while (len > 0) {
            var digit = len % 0x80;
            len = Math.floor(len / 0x80);
            if (len > 0) {
                digit |= 0x80;
            }
            ret.push(digit);
        }
        return ret;
    };
    return Proto;
}());
export default Proto;
// 获取uuid
function getUUID() {
    return 'xxxxxxxxxxxx4xxxyxxxxxxxxxxxxxxx'.replace(/[xy]/g, function (c) {
        var r = Math.random() * 16 | 0, v = c == 'x' ? r : (r & 0x3 | 0x8);
        return v.toString(16);
    });
}
