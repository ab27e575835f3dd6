import WKSDK from "./index";
import { ConnectPacket, PacketType, PingPacket, RecvackPacket } from "./proto";
import { generateKeyPair, sharedKey } from 'curve25519-js';
import { Md5 } from "md5-typescript";
import { SecurityManager } from "./security";
import { Guid } from "./guid";
import * as buffer from "buffer";
import { WKWebsocket } from "./websocket";
// import * as SignalClient from '@signalapp/signal-client';
export var ConnectStatus;
(function (ConnectStatus) {
    ConnectStatus[ConnectStatus["Disconnect"] = 0] = "Disconnect";
    ConnectStatus[ConnectStatus["Connected"] = 1] = "Connected";
    ConnectStatus[ConnectStatus["Connecting"] = 2] = "Connecting";
    ConnectStatus[ConnectStatus["ConnectFail"] = 3] = "ConnectFail";
    ConnectStatus[ConnectStatus["ConnectKick"] = 4] = "ConnectKick";
})(ConnectStatus || (ConnectStatus = {}));
var ConnectManager = /** @class */ (function () {
    function ConnectManager() {
        this.status = ConnectStatus.Disconnect; // 连接状态
        this.connectStatusListeners = new Array(); // 连接状态监听
        // reConnect 重连标记
        this.lockReconnect = false;
        this.pongRespTimeoutInterval = 3000; // pong返回超时间隔 单位毫秒
        this.needReconnect = true; // 是否需要重连
        this.pingRetryCount = 0; // ping重试次数
        this.pingMaxRetryCount = 3; // 最大重试三次ping
        this.tempBufferData = new Array(); // 接受数据临时缓存
    }
    ConnectManager.shared = function () {
        if (!this.instance) {
            this.instance = new ConnectManager();
        }
        return this.instance;
    };
    ConnectManager.prototype.stopHeart = function () {
        if (this.heartTimer) {
            clearInterval(this.heartTimer);
            this.heartTimer = null;
        }
    };
    ConnectManager.prototype.stopReconnectTimer = function () {
        if (this.reConnectTimeout) {
            clearTimeout(this.reConnectTimeout);
            this.reConnectTimeout = null;
        }
    };
    // 重置心跳
    ConnectManager.prototype.restHeart = function () {
        var _this = this;
        var self = this;
        if (this.heartTimer) {
            clearInterval(this.heartTimer);
        }
        if (this.pongRespTimer) {
            clearTimeout(this.pongRespTimer);
        }
        this.heartTimer = setInterval(function () {
            self.sendPing(); // 发送心跳包
            if (self.pingRetryCount > self.pingMaxRetryCount) {
                console.log('ping没有响应，断开连接。');
                self.onlyDisconnect();
                if (_this.status === ConnectStatus.Disconnect) {
                    self.connect();
                }
            }
            else if (self.pingRetryCount > 1) {
                console.log("\u7B2C" + self.pingRetryCount + "\u6B21\uFF0C\u5C1D\u8BD5ping\u3002");
            }
        }, WKSDK.shared().config.heartbeatInterval);
    };
    ConnectManager.prototype.connect = function () {
        this.needReconnect = true;
        this.onlyConnect();
    };
    ConnectManager.prototype.onlyConnect = function () {
        var _this = this;
        if (this.status === ConnectStatus.Connecting) {
            console.log('已在连接中，不再进行连接.');
            return;
        }
        if (WKSDK.shared().config.provider.connectAddrCallback != null) {
            var connectAddrCallback = WKSDK.shared().config.provider.connectAddrCallback;
            connectAddrCallback(function (addr) {
                _this.connectWithAddr(addr);
            });
        }
        else {
            this.connectWithAddr(WKSDK.shared().config.addr);
        }
    };
    ConnectManager.prototype.connectWithAddr = function (addr) {
        var _this = this;
        this.status = ConnectStatus.Connecting;
        this.ws = new WKWebsocket(addr);
        var self = this;
        this.ws.onopen(function () {
            var _a;
            console.log('onopen...');
            self.tempBufferData = new Array(); // 重置缓存
            var seed = Uint8Array.from(self.stringToUint(Guid.create().toString().replace(/-/g, "")));
            var keyPair = generateKeyPair(seed);
            var pubKey = buffer.Buffer.from(keyPair.public).toString("base64");
            self.dhPrivateKey = keyPair.private;
            var connectPacket = new ConnectPacket();
            connectPacket.clientKey = pubKey;
            connectPacket.version = WKSDK.shared().config.protoVersion;
            connectPacket.deviceFlag = WKSDK.shared().config.deviceFlag;
            var deviceID = Guid.create().toString().replace(/-/g, "");
            connectPacket.deviceID = deviceID + "W";
            connectPacket.clientTimestamp = new Date().getTime();
            connectPacket.uid = WKSDK.shared().config.uid || '';
            connectPacket.token = WKSDK.shared().config.token || '';
            var data = self.getProto().encode(connectPacket);
            (_a = self.ws) === null || _a === void 0 ? void 0 : _a.send(data);
        });
        this.ws.onmessage(function (data) {
            self.unpacket(new Uint8Array(data), function (packets) {
                if (packets.length > 0) {
                    for (var _i = 0, packets_1 = packets; _i < packets_1.length; _i++) {
                        var packetData = packets_1[_i];
                        self.onPacket(new Uint8Array(packetData));
                    }
                }
            });
        });
        this.ws.onclose(function (e) {
            console.log('连接关闭！', e);
            if (_this.status !== ConnectStatus.Disconnect) {
                _this.status = ConnectStatus.Disconnect;
                _this.notifyConnectStatusListeners(0);
            }
            if (self.needReconnect) {
                _this.reConnect();
            }
        });
        this.ws.onerror(function (e) {
            console.log('连接出错！', e);
            if (_this.status !== ConnectStatus.Disconnect) {
                _this.status = ConnectStatus.Disconnect;
                _this.notifyConnectStatusListeners(0);
            }
            if (self.needReconnect) {
                _this.reConnect();
            }
        });
    };
    /* tslint:disable */
    ConnectManager.prototype.stringToUint = function (str) {
        var string = unescape(encodeURIComponent(str));
        var charList = string.split('');
        var uintArray = new Array();
        for (var i = 0; i < charList.length; i++) {
            uintArray.push(charList[i].charCodeAt(0));
        }
        return uintArray;
    };
    ConnectManager.prototype.connected = function () {
        return this.status == ConnectStatus.Connected;
    };
    ConnectManager.prototype.disconnect = function () {
        this.needReconnect = false;
        console.log("断开不再重连");
        this.onlyDisconnect();
    };
    ConnectManager.prototype.onlyDisconnect = function () {
        this.stopHeart();
        this.stopReconnectTimer();
        if (this.ws) {
            this.ws.close();
        }
        this.status = ConnectStatus.Disconnect;
    };
    // 重连
    ConnectManager.prototype.reConnect = function () {
        var _this = this;
        if (this.lockReconnect) {
            return;
        }
        console.log('开始重连');
        this.lockReconnect = true;
        if (this.reConnectTimeout) {
            clearTimeout(this.reConnectTimeout);
        }
        var self = this;
        this.reConnectTimeout = setTimeout(function () {
            if (_this.ws) {
                _this.ws.close();
                _this.ws = undefined;
            }
            self.onlyConnect();
            _this.lockReconnect = false;
        }, 3000);
    };
    ConnectManager.prototype.wssend = function (message) {
        var _a;
        (_a = this.ws) === null || _a === void 0 ? void 0 : _a.send(this.getProto().encode(message));
    };
    ConnectManager.prototype.unpacket = function (data, callback) {
        var _a;
        try {
            (_a = this.tempBufferData).push.apply(_a, Array.from(data));
            var lenBefore = void 0, lenAfter = void 0;
            var dataList_1 = new Array();
            do {
                lenBefore = this.tempBufferData.length;
                this.tempBufferData = this.unpackOne(this.tempBufferData, function (packetData) {
                    dataList_1.push(packetData);
                });
                lenAfter = this.tempBufferData.length;
                if (lenAfter > 0) {
                    console.log("有粘包！-->", this.tempBufferData);
                }
                if (dataList_1.length > 0) {
                    callback(dataList_1);
                }
            } while (lenBefore != lenAfter && lenAfter >= 1);
        }
        catch (error) {
            console.log("解码数据异常---->", error);
            this.reConnect();
        }
    };
    ConnectManager.prototype.unpackOne = function (data, dataCallback) {
        var header = data[0];
        var packetType = header >> 4;
        if (packetType == PacketType.PONG) {
            dataCallback([header]);
            return data.slice(1);
        }
        var length = data.length;
        var fixedHeaderLength = 1;
        var pos = fixedHeaderLength;
        var digit = 0;
        var remLength = 0;
        var multiplier = 1;
        var hasLength = false; //  是否还有长度数据没读完
        var remLengthFull = true; // 剩余长度的字节是否完整
        do {
            if (pos > length - 1) {
                // 这种情况出现了分包，并且分包的位置是长度部分的某个位置。这种情况不处理
                remLengthFull = false;
                break;
            }
            digit = data[pos++];
            remLength += ((digit & 127) * multiplier);
            multiplier *= 128;
            hasLength = (digit & 0x80) != 0;
        } while (hasLength);
        if (!remLengthFull) {
            return data;
        }
        var remLengthLength = pos - fixedHeaderLength; // 剩余长度的长度
        if (fixedHeaderLength + remLengthLength + remLength > length) {
            // 固定头的长度 + 剩余长度的长度 + 剩余长度 如果大于 总长度说明分包了
            console.log("还有包未到，存入缓存！！！");
            return data;
        }
        else {
            if (fixedHeaderLength + remLengthLength + remLength == length) {
                // 刚好一个包
                dataCallback(data);
                return [];
            }
            else {
                // 粘包  大于1个包
                var packetLength = fixedHeaderLength + remLengthLength + remLength;
                dataCallback(data.slice(0, packetLength));
                return data.slice(packetLength, length - packetLength);
            }
        }
    };
    ConnectManager.prototype.onPacket = function (data) {
        var p = this.getProto().decode(data);
        if (p.packetType === PacketType.CONNACK) {
            var connackPacket = p;
            if (connackPacket.reasonCode === 1) {
                console.log('连接成功！');
                WKSDK.shared().channelManager.reSubscribe(); // 重置订阅状态
                this.status = ConnectStatus.Connected;
                this.pingRetryCount = 0;
                // 连接成功
                this.restHeart(); // 开启心跳
                var serverPubKey = Uint8Array.from(buffer.Buffer.from(connackPacket.serverKey, "base64"));
                var secret = sharedKey(this.dhPrivateKey, serverPubKey);
                var secretBase64 = buffer.Buffer.from(secret).toString("base64");
                var aesKeyFull = Md5.init(secretBase64);
                SecurityManager.shared().aesKey = aesKeyFull.substring(0, 16);
                if (connackPacket.salt && connackPacket.salt.length > 16) {
                    SecurityManager.shared().aesIV = connackPacket.salt.substring(0, 16);
                }
                else {
                    SecurityManager.shared().aesIV = connackPacket.salt;
                }
                WKSDK.shared().chatManager.flushSendingQueue(); // 将发送队列里的消息flush出去
            }
            else {
                console.log('连接失败！错误->', connackPacket.reasonCode);
                this.status = ConnectStatus.ConnectFail;
                this.needReconnect = false; // IM端返回连接失败就不再进行重连。
            }
            this.notifyConnectStatusListeners(connackPacket.reasonCode);
        }
        else if (p.packetType === PacketType.PONG) {
            this.pingRetryCount = 0;
        }
        else if (p.packetType === PacketType.DISCONNECT) { // 服务器要求客户端断开（一般是账号在其他地方登录，被踢）
            var disconnectPacket = p;
            console.log('连接被踢->', disconnectPacket);
            this.status = ConnectStatus.ConnectKick;
            this.needReconnect = false; // IM端返回连接失败就不再进行重连。
            this.notifyConnectStatusListeners(disconnectPacket.reasonCode);
        }
        else if (p.packetType === PacketType.SUBACK) { // 订阅回执
            var subackPacket = p;
            console.log("订阅回执-->", subackPacket.action);
            WKSDK.shared().channelManager.handleSuback(subackPacket);
        }
        WKSDK.shared().chatManager.onPacket(p);
    };
    ConnectManager.prototype.sendPing = function () {
        this.pingRetryCount++;
        this.sendPacket(new PingPacket());
    };
    ConnectManager.prototype.sendPacket = function (p) {
        var _a;
        // if (this.connected()) {
        //     this.ws?.send(this.getProto().encode(p))
        // } else {
        //     console.log("发送消息失败，连接已断开！")
        //     this.reConnect()
        // }
        (_a = this.ws) === null || _a === void 0 ? void 0 : _a.send(this.getProto().encode(p));
    };
    ConnectManager.prototype.getProto = function () {
        return WKSDK.shared().config.proto;
    };
    // 添加连接状态监听
    ConnectManager.prototype.addConnectStatusListener = function (listener) {
        this.connectStatusListeners.push(listener);
    };
    ConnectManager.prototype.removeConnectStatusListener = function (listener) {
        var len = this.connectStatusListeners.length;
        for (var i = 0; i < len; i++) {
            if (listener === this.connectStatusListeners[i]) {
                this.connectStatusListeners.splice(i, 1);
                return;
            }
        }
    };
    ConnectManager.prototype.notifyConnectStatusListeners = function (reasonCode) {
        var _this = this;
        if (this.connectStatusListeners) {
            this.connectStatusListeners.forEach(function (listener) {
                if (listener) {
                    listener(_this.status, reasonCode);
                }
            });
        }
    };
    ConnectManager.prototype.sendRecvackPacket = function (recvPacket) {
        var _a;
        var packet = new RecvackPacket();
        packet.messageID = recvPacket.messageID;
        packet.messageSeq = recvPacket.messageSeq;
        (_a = this.ws) === null || _a === void 0 ? void 0 : _a.send(this.getProto().encode(packet));
    };
    ConnectManager.prototype.close = function () {
        var _a;
        (_a = this.ws) === null || _a === void 0 ? void 0 : _a.close();
    };
    return ConnectManager;
}());
export { ConnectManager };
