import WKSDK from ".";
import { Channel } from "./model";
var ReceiptManager = /** @class */ (function () {
    function ReceiptManager() {
        this.listeners = new Array(); // 回执监听
        this.channelMessagesMap = new Map();
    }
    ReceiptManager.shared = function () {
        if (!this.instance) {
            this.instance = new ReceiptManager();
            this.instance.setup();
        }
        return this.instance;
    };
    ReceiptManager.prototype.setup = function () {
        this.timer = setInterval(this.flushLoop.bind(this), WKSDK.shared().config.receiptFlushInterval);
    };
    // 添加需要回执的消息
    ReceiptManager.prototype.addReceiptMessages = function (channel, messages) {
        if (!messages || messages.length === 0) {
            return;
        }
        var existMessages = this.channelMessagesMap.get(channel.getChannelKey());
        if (!existMessages) {
            existMessages = [];
        }
        for (var _i = 0, messages_1 = messages; _i < messages_1.length; _i++) {
            var message = messages_1[_i];
            if (!message.remoteExtra.readed) {
                existMessages.push(message);
            }
        }
        this.channelMessagesMap.set(channel.getChannelKey(), existMessages);
    };
    ReceiptManager.prototype.flush = function (channelKey) {
        var _this = this;
        if (!WKSDK.shared().config.provider.messageReadedCallback) {
            throw new Error("没有设置WKSDK.shared().config.provider.messageReadedCallback");
        }
        var messages = this.channelMessagesMap.get(channelKey);
        var tmpMessages = new Array();
        var flushCachedLen = 0;
        if (messages && messages.length > 0) {
            flushCachedLen = messages.length;
            for (var _i = 0, messages_2 = messages; _i < messages_2.length; _i++) {
                var message = messages_2[_i];
                tmpMessages.push(message);
            }
        }
        if (tmpMessages.length === 0) {
            return;
        }
        var channel = Channel.fromChannelKey(channelKey);
        WKSDK.shared().config.provider.messageReadedCallback(channel, tmpMessages).then(function () {
            _this.removeCacheWithLength(channelKey, flushCachedLen);
            _this.notifyListeners(channel, tmpMessages);
        });
    };
    ReceiptManager.prototype.removeCacheWithLength = function (channelKey, len) {
        var cacheMessages = this.channelMessagesMap.get(channelKey);
        var tmpArray = new Array();
        if (!cacheMessages) {
            return;
        }
        for (var _i = 0, cacheMessages_1 = cacheMessages; _i < cacheMessages_1.length; _i++) {
            var message = cacheMessages_1[_i];
            tmpArray.push(message);
        }
        var actLen = len;
        if (tmpArray.length < len) {
            actLen = tmpArray.length;
        }
        for (var index = 0; index < actLen; index++) {
            var message = tmpArray[index];
            for (var k = 0; k < cacheMessages.length; k++) {
                var element = cacheMessages[k];
                if (message.clientMsgNo === element.clientMsgNo) {
                    cacheMessages.splice(k, 1);
                    break;
                }
            }
        }
    };
    ReceiptManager.prototype.flushLoop = function () {
        var _this = this;
        this.channelMessagesMap.forEach(function (value, channelKey) {
            _this.flush(channelKey);
        });
    };
    // 添加命令类消息监听
    ReceiptManager.prototype.addListener = function (listener) {
        this.listeners.push(listener);
    };
    ReceiptManager.prototype.removeListener = function (listener) {
        var len = this.listeners.length;
        for (var i = 0; i < len; i++) {
            if (listener === this.listeners[i]) {
                this.listeners.splice(i, 1);
                return;
            }
        }
    };
    // 通知监听者
    ReceiptManager.prototype.notifyListeners = function (channel, messages) {
        if (this.listeners) {
            this.listeners.forEach(function (listener) {
                if (listener) {
                    listener(channel, messages);
                }
            });
        }
    };
    return ReceiptManager;
}());
export { ReceiptManager };
