var __awaiter = (this && this.__awaiter) || function (thisArg, _arguments, P, generator) {
    function adopt(value) { return value instanceof P ? value : new P(function (resolve) { resolve(value); }); }
    return new (P || (P = Promise))(function (resolve, reject) {
        function fulfilled(value) { try { step(generator.next(value)); } catch (e) { reject(e); } }
        function rejected(value) { try { step(generator["throw"](value)); } catch (e) { reject(e); } }
        function step(result) { result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected); }
        step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
};
var __generator = (this && this.__generator) || function (thisArg, body) {
    var _ = { label: 0, sent: function() { if (t[0] & 1) throw t[1]; return t[1]; }, trys: [], ops: [] }, f, y, t, g;
    return g = { next: verb(0), "throw": verb(1), "return": verb(2) }, typeof Symbol === "function" && (g[Symbol.iterator] = function() { return this; }), g;
    function verb(n) { return function (v) { return step([n, v]); }; }
    function step(op) {
        if (f) throw new TypeError("Generator is already executing.");
        while (_) try {
            if (f = 1, y && (t = op[0] & 2 ? y["return"] : op[0] ? y["throw"] || ((t = y["return"]) && t.call(y), 0) : y.next) && !(t = t.call(y, op[1])).done) return t;
            if (y = 0, t) op = [op[0] & 2, t.value];
            switch (op[0]) {
                case 0: case 1: t = op; break;
                case 4: _.label++; return { value: op[1], done: false };
                case 5: _.label++; y = op[1]; op = [0]; continue;
                case 7: op = _.ops.pop(); _.trys.pop(); continue;
                default:
                    if (!(t = _.trys, t = t.length > 0 && t[t.length - 1]) && (op[0] === 6 || op[0] === 2)) { _ = 0; continue; }
                    if (op[0] === 3 && (!t || (op[1] > t[0] && op[1] < t[3]))) { _.label = op[1]; break; }
                    if (op[0] === 6 && _.label < t[1]) { _.label = t[1]; t = op; break; }
                    if (t && _.label < t[2]) { _.label = t[2]; _.ops.push(op); break; }
                    if (t[2]) _.ops.pop();
                    _.trys.pop(); continue;
            }
            op = body.call(thisArg, _);
        } catch (e) { op = [6, e]; y = 0; } finally { f = t = 0; }
        if (op[0] & 5) throw op[1]; return { value: op[0] ? op[1] : void 0, done: true };
    }
};
var __spreadArrays = (this && this.__spreadArrays) || function () {
    for (var s = 0, i = 0, il = arguments.length; i < il; i++) s += arguments[i].length;
    for (var r = Array(s), k = 0, i = 0; i < il; i++)
        for (var a = arguments[i], j = 0, jl = a.length; j < jl; j++, k++)
            r[k] = a[j];
    return r;
};
import { ChatManager } from "./chat_manager";
import WKSDK from "./index";
import { Conversation } from "./model";
export var ConversationAction;
(function (ConversationAction) {
    ConversationAction[ConversationAction["add"] = 0] = "add";
    ConversationAction[ConversationAction["update"] = 1] = "update";
    ConversationAction[ConversationAction["remove"] = 2] = "remove";
})(ConversationAction || (ConversationAction = {}));
var ConversationManager = /** @class */ (function () {
    function ConversationManager() {
        var _this = this;
        this.listeners = new Array(); // 最近会话通知
        this.conversations = new Array(); // 最近会话列表
        this.maxExtraVersion = 0; // 最大扩展的版本号
        ChatManager.shared().addMessageListener(function (message) {
            _this.updateOrAddConversation(message);
        });
    }
    ConversationManager.shared = function () {
        if (!this.instance) {
            this.instance = new ConversationManager();
        }
        return this.instance;
    };
    // 同步最近会话
    ConversationManager.prototype.sync = function (filter) {
        var _this = this;
        var syncProvide = WKSDK.shared().config.provider.syncConversationsCallback(filter);
        if (syncProvide) {
            syncProvide.then(function (conversations) {
                _this.conversations = conversations;
                if (conversations.length > 0) {
                    for (var _i = 0, conversations_1 = conversations; _i < conversations_1.length; _i++) {
                        var conversation = conversations_1[_i];
                        if (conversation.remoteExtra.version > _this.maxExtraVersion) {
                            _this.maxExtraVersion = conversation.remoteExtra.version;
                        }
                    }
                }
                WKSDK.shared().reminderManager.sync();
            }).catch(function (err) {
                console.log('同步最近会话失败！', err);
            });
        }
        return syncProvide;
    };
    ConversationManager.prototype.syncExtra = function () {
        return __awaiter(this, void 0, void 0, function () {
            var conversationExtras, _i, conversationExtras_1, conversationExtra, _a, _b, conversation;
            return __generator(this, function (_c) {
                switch (_c.label) {
                    case 0:
                        if (!WKSDK.shared().config.provider.syncConversationExtrasCallback) {
                            console.log('syncConversationExtrasCallback没有提供');
                            return [2 /*return*/];
                        }
                        return [4 /*yield*/, WKSDK.shared().config.provider.syncConversationExtrasCallback(this.maxExtraVersion)];
                    case 1:
                        conversationExtras = _c.sent();
                        if (conversationExtras) {
                            for (_i = 0, conversationExtras_1 = conversationExtras; _i < conversationExtras_1.length; _i++) {
                                conversationExtra = conversationExtras_1[_i];
                                if (conversationExtra.version > this.maxExtraVersion) {
                                    this.maxExtraVersion = conversationExtra.version;
                                }
                                for (_a = 0, _b = this.conversations; _a < _b.length; _a++) {
                                    conversation = _b[_a];
                                    if (conversation.channel.isEqual(conversationExtra.channel)) {
                                        conversation.remoteExtra = conversationExtra;
                                        this.notifyConversationListeners(conversation, ConversationAction.update);
                                    }
                                }
                            }
                        }
                        return [2 /*return*/, conversationExtras];
                }
            });
        });
    };
    ConversationManager.prototype.findConversation = function (channel) {
        if (this.conversations) {
            for (var _i = 0, _a = this.conversations; _i < _a.length; _i++) {
                var conversation = _a[_i];
                if (conversation.channel.isEqual(channel)) {
                    return conversation;
                }
            }
        }
    };
    ConversationManager.prototype.findConversations = function (channels) {
        if (this.conversations && this.conversations.length > 0) {
            var conversations = new Array();
            for (var _i = 0, _a = this.conversations; _i < _a.length; _i++) {
                var conversation = _a[_i];
                for (var _b = 0, channels_1 = channels; _b < channels_1.length; _b++) {
                    var channel = channels_1[_b];
                    if (conversation.channel.isEqual(channel)) {
                        conversations.push(conversation);
                        break;
                    }
                }
            }
            return conversations;
        }
    };
    // 创建一个空会话
    ConversationManager.prototype.createEmptyConversation = function (channel) {
        var conversation = this.findConversation(channel);
        if (conversation) {
            conversation.timestamp = new Date().getTime() / 1000;
            this.notifyConversationListeners(conversation, ConversationAction.update);
            return conversation;
        }
        else {
            var newConversation = new Conversation();
            newConversation.channel = channel;
            newConversation.timestamp = new Date().getTime() / 1000;
            this.notifyConversationListeners(newConversation, ConversationAction.add);
            return newConversation;
        }
    };
    ConversationManager.prototype.updateOrAddConversation = function (message) {
        var conversation = this.findConversation(message.channel);
        var add = false;
        var newConversation;
        if (!conversation) {
            add = true;
            newConversation = new Conversation();
            newConversation.unread = 0;
            newConversation.channel = message.channel;
            newConversation.timestamp = message.timestamp;
            if (!message.send && message.header.reddot && (!this.openConversation || !this.openConversation.channel.isEqual(message.channel))) {
                newConversation.unread++;
            }
            newConversation.lastMessage = message;
            this.conversations = __spreadArrays([newConversation], this.conversations);
            this.notifyConversationListeners(newConversation, ConversationAction.add);
        }
        else {
            if (!message.send && message.header.reddot && (!this.openConversation || !this.openConversation.channel.isEqual(message.channel))) {
                conversation.unread++;
            }
            conversation.timestamp = message.timestamp;
            conversation.lastMessage = message;
            newConversation = conversation;
            this.notifyConversationListeners(newConversation, ConversationAction.update);
        }
    };
    ConversationManager.prototype.removeConversation = function (channel) {
        if (!this.conversations || this.conversations.length === 0) {
            return;
        }
        var oldConversation;
        for (var index = 0; index < this.conversations.length; index++) {
            var conversation = this.conversations[index];
            if (conversation.channel.isEqual(channel)) {
                this.conversations.splice(index, 1);
                oldConversation = conversation;
            }
        }
        if (oldConversation) {
            this.notifyConversationListeners(oldConversation, ConversationAction.remove);
        }
    };
    ConversationManager.prototype.getAllUnreadCount = function () {
        var unreadCount = 0;
        if (this.conversations) {
            for (var _i = 0, _a = this.conversations; _i < _a.length; _i++) {
                var conversation = _a[_i];
                unreadCount += conversation.unread;
            }
        }
        return unreadCount;
    };
    // 添加最近会话监听
    ConversationManager.prototype.addConversationListener = function (listener) {
        this.listeners.push(listener);
    };
    // 移除最近监听
    ConversationManager.prototype.removeConversationListener = function (listener) {
        var len = this.listeners.length;
        for (var i = 0; i < len; i++) {
            if (listener === this.listeners[i]) {
                this.listeners.splice(i, 1);
                return;
            }
        }
    };
    // 通知最近会话监听者
    ConversationManager.prototype.notifyConversationListeners = function (conversation, action) {
        if (this.listeners) {
            this.listeners.forEach(function (listener) {
                if (listener) {
                    listener(conversation, action);
                }
            });
        }
    };
    return ConversationManager;
}());
export { ConversationManager };
