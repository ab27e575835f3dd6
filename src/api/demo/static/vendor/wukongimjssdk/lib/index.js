var __spreadArrays = (this && this.__spreadArrays) || function () {
    for (var s = 0, i = 0, il = arguments.length; i < il; i++) s += arguments[i].length;
    for (var r = Array(s), k = 0, i = 0; i < il; i++)
        for (var a = arguments[i], j = 0, jl = a.length; j < jl; j++, k++)
            r[k] = a[j];
    return r;
};
import { MessageContentType } from "./const";
import { ConnectManager } from "./connect_manager";
import { ChatManager } from "./chat_manager";
import { ChannelManager } from "./channel_manager";
import { TaskManager } from "./task";
import { ConversationManager } from "./conversation_manager";
import { SecurityManager } from "./security";
import { Channel, ChannelInfo, MediaMessageContent, Message, MessageContent, MessageContentManager, CMDContent, MessageSignalContent, MessageText, SystemContent } from "./model";
import { ReminderManager } from "./reminder_manager";
import { WKConfig } from "./config";
import { ReceiptManager } from "./receipt_manager";
var WKSDK = /** @class */ (function () {
    function WKSDK() {
    }
    WKSDK.shared = function () {
        if (!this.instance) {
            this.instance = new WKSDK();
            this.instance.init();
        }
        return this.instance;
    };
    WKSDK.prototype.init = function () {
        var _this = this;
        this.config = new WKConfig();
        this.taskManager = new TaskManager();
        this.messageContentManager = MessageContentManager.shared();
        this.connectManager = ConnectManager.shared();
        this.chatManager = ChatManager.shared();
        this.channelManager = ChannelManager.shared();
        this.conversationManager = ConversationManager.shared();
        this.securityManager = SecurityManager.shared();
        this.reminderManager = ReminderManager.shared();
        this.receiptManager = ReceiptManager.shared();
        this.registerFactor(function (contentType) {
            if (_this.isSystemMessage(contentType)) {
                return new SystemContent();
            }
            if (contentType === MessageContentType.cmd) {
                return new CMDContent();
            }
            return;
        });
        // 注册文本消息
        this.register(MessageContentType.text, function () { return new MessageText(); });
        this.register(MessageContentType.signalMessage, function () { return new MessageSignalContent(); });
    };
    // 注册消息正文
    WKSDK.prototype.register = function (contentType, handler) {
        this.messageContentManager.register(contentType, handler);
    };
    WKSDK.prototype.registerFactor = function (factor) {
        this.messageContentManager.registerFactor(factor);
    };
    WKSDK.prototype.getMessageContent = function (contentType) {
        return this.messageContentManager.getMessageContent(contentType);
    };
    // 是否是系统消息
    WKSDK.prototype.isSystemMessage = function (contentType) {
        return contentType >= 1000 && contentType <= 2000; // 大于等于1000 小于等于2000的为系统消息
    };
    // 连接IM
    WKSDK.prototype.connect = function () {
        this.connectManager.connect();
    };
    // 断开链接
    WKSDK.prototype.disconnect = function () {
        this.connectManager.disconnect();
    };
    // 订阅频道
    WKSDK.prototype.onSubscribe = function (channel, listener) {
        var _a;
        var opts = [];
        for (var _i = 2; _i < arguments.length; _i++) {
            opts[_i - 2] = arguments[_i];
        }
        (_a = this.channelManager).onSubscribe.apply(_a, __spreadArrays([channel, listener], opts));
    };
    // 取消订阅
    WKSDK.prototype.onUnsubscribe = function (channel, listener) {
        this.channelManager.onUnsubscribe(channel, listener);
    };
    WKSDK.prototype.newMessageText = function (text) {
        return new MessageText(text);
    };
    WKSDK.prototype.newChannel = function (channelID, channelType) {
        return new Channel(channelID, channelType);
    };
    WKSDK.prototype.newMessage = function () {
        return new Message();
    };
    WKSDK.prototype.newChannelInfo = function () {
        return new ChannelInfo();
    };
    WKSDK.prototype.newMediaMessageContent = function () {
        return new MediaMessageContent();
    };
    WKSDK.prototype.newMessageContent = function () {
        return new MessageContent();
    };
    return WKSDK;
}());
export default WKSDK;
// const self = WKSDK.shared();
// window['wksdk'] = self;  /* tslint:disable-line */ // 这样普通的JS就可以通过window.wksdk获取到app对象
// export default self;
