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
import { Setting } from './proto';
import WKSDK from './index';
import { MessageContentType } from "./const";
// ---------- 频道类型 ----------
// 个人频道
export var ChannelTypePerson = 1;
// 群聊频道
export var ChannelTypeGroup = 2;
// 数据频道
export var ChannelTypeData = 7;
var Channel = /** @class */ (function () {
    function Channel(channelID, channelType) {
        this.channelID = channelID;
        this.channelType = channelType;
    }
    Channel.prototype.getChannelKey = function () {
        return this.channelID + "-" + this.channelType;
    };
    Channel.fromChannelKey = function (channelKey) {
        var channelProps = channelKey.split("-");
        if (channelProps.length >= 2) {
            var channelType = parseInt(channelProps[1], 0);
            return new Channel(channelProps[0], channelType);
        }
        return undefined;
    };
    Channel.prototype.isEqual = function (c) {
        if (this.channelID === c.channelID && this.channelType === c.channelType) {
            return true;
        }
        return false;
    };
    return Channel;
}());
export { Channel };
// 回应
var Reaction = /** @class */ (function () {
    function Reaction() {
    }
    return Reaction;
}());
export { Reaction };
function decodePayload(payload) {
    var contentType = 0;
    if (payload) {
        var encodedString = String.fromCharCode.apply(null, Array.from(payload));
        var decodedString = decodeURIComponent(escape(encodedString));
        var contentObj = JSON.parse(decodedString);
        if (contentObj) {
            contentType = contentObj.type;
        }
    }
    var messageContent = MessageContentManager.shared().getMessageContent(contentType);
    messageContent.decode(payload);
    return messageContent;
}
var MessageHeader = /** @class */ (function () {
    function MessageHeader() {
    }
    return MessageHeader;
}());
export { MessageHeader };
export var MessageStatus;
(function (MessageStatus) {
    MessageStatus[MessageStatus["Wait"] = 0] = "Wait";
    MessageStatus[MessageStatus["Normal"] = 1] = "Normal";
    MessageStatus[MessageStatus["Fail"] = 2] = "Fail";
})(MessageStatus || (MessageStatus = {}));
var Message = /** @class */ (function () {
    function Message(recvPacket) {
        this.header = new MessageHeader();
        this.setting = new Setting(); // 设置
        this.voicePlaying = false; // 语音是否在播放中 （语音消息特有）
        this.voiceReaded = false; // 语音消息是否已读
        this.isDeleted = false; // 是否已删除
        this.remoteExtra = new MessageExtra();
        if (recvPacket) {
            this.header.reddot = recvPacket.reddot;
            this.header.dup = recvPacket.dup;
            this.header.noPersist = recvPacket.noPersist;
            this.header.syncOnce = recvPacket.syncOnce;
            this.setting = recvPacket.setting;
            this.messageID = recvPacket.messageID;
            this.messageSeq = recvPacket.messageSeq;
            this.clientMsgNo = recvPacket.clientMsgNo;
            this.streamNo = recvPacket.streamNo;
            this.streamFlag = recvPacket.streamFlag;
            this.streamSeq = recvPacket.streamSeq;
            this.fromUID = recvPacket.fromUID;
            this.channel = new Channel(recvPacket.channelID, recvPacket.channelType);
            this.timestamp = recvPacket.timestamp;
            this.content = decodePayload(recvPacket.payload);
            this.status = MessageStatus.Normal;
        }
    }
    Message.fromSendPacket = function (sendPacket, content) {
        var m = new Message();
        m.header.reddot = true;
        m.setting = sendPacket.setting;
        m.clientMsgNo = sendPacket.clientMsgNo;
        m.streamNo = sendPacket.streamNo;
        m.clientSeq = sendPacket.clientSeq;
        m.fromUID = sendPacket.fromUID;
        m.channel = new Channel(sendPacket.channelID, sendPacket.channelType);
        if (content) {
            m.content = content;
        }
        else {
            m.content = decodePayload(sendPacket.payload);
        }
        m.timestamp = parseInt((new Date().getTime() / 1000).toString()); /* tslint:disable-line */
        m.status = MessageStatus.Wait;
        return m;
    };
    Object.defineProperty(Message.prototype, "send", {
        // 是否是发送的消息
        get: function () {
            return this.fromUID === WKSDK.shared().config.uid;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Message.prototype, "contentType", {
        get: function () {
            return this.content.contentType;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Message.prototype, "streamOn", {
        get: function () {
            if (this.streamNo && this.streamNo !== '') {
                return true;
            }
            return false;
        },
        enumerable: true,
        configurable: true
    });
    return Message;
}());
export { Message };
var MessageExtra = /** @class */ (function () {
    function MessageExtra() {
        this.readedCount = 0;
        this.unreadCount = 0; // 未读数量
        this.revoke = false; // 是否已撤回
        this.editedAt = 0; // 消息编辑时间 （0表示消息未被编辑）
        this.isEdit = false; // 是否编辑
        this.extra = {}; // 扩展数据
        this.extraVersion = 0; // 扩展数据版本 
    }
    return MessageExtra;
}());
export { MessageExtra };
var Mention = /** @class */ (function () {
    function Mention() {
    }
    return Mention;
}());
export { Mention };
var MessageContent = /** @class */ (function () {
    function MessageContent() {
    }
    Object.defineProperty(MessageContent.prototype, "contentType", {
        get: function () {
            return this._contentType;
        },
        set: function (value) {
            this._contentType = value;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(MessageContent.prototype, "conversationDigest", {
        get: function () {
            return this._conversationDigest;
        },
        set: function (value) {
            this._conversationDigest = value;
        },
        enumerable: true,
        configurable: true
    });
    MessageContent.prototype.encode = function () {
        var contentObj = this.encodeJSON();
        contentObj.type = this.contentType;
        if (this.mention) {
            var mentionObj = {};
            if (this.mention.all) {
                mentionObj["all"] = 1;
            }
            if (this.mention.uids) {
                mentionObj["uids"] = this.mention.uids;
            }
            contentObj["mention"] = mentionObj;
        }
        if (this.reply) {
            contentObj["reply"] = this.reply.encode();
        }
        var contentStr = JSON.stringify(contentObj);
        return stringToUint8Array(contentStr);
    };
    MessageContent.prototype.decode = function (data) {
        var decodedString = uint8ArrayToString(data);
        var contentObj = JSON.parse(decodedString);
        this.contentObj = contentObj;
        if (contentObj) {
            this._contentType = contentObj.type;
        }
        var mentionObj = contentObj["mention"];
        if (mentionObj) {
            var mention = new Mention();
            mention.all = mentionObj["all"] === 1;
            if (mentionObj["uids"]) {
                mention.uids = mentionObj["uids"];
            }
            this.mention = mention;
        }
        var replyObj = contentObj["reply"];
        if (replyObj) {
            var reply = new Reply();
            reply.decode(replyObj);
            this.reply = reply;
        }
        this.visibles = contentObj["visibles"];
        this.invisibles = contentObj["invisibles"];
        this.decodeJSON(contentObj);
    };
    // 是否可见
    MessageContent.prototype.isVisiable = function (uid) {
        if (this.visibles && this.visibles.length > 0) {
            var v = this.visibles.includes(uid);
            if (!v) {
                return false;
            }
        }
        if (this.invisibles && this.invisibles.length > 0) {
            var v = this.invisibles.includes(uid);
            if (v) {
                return false;
            }
        }
        return true;
    };
    // 子类重写
    // tslint:disable-next-line:no-empty
    MessageContent.prototype.decodeJSON = function (content) { };
    // 子类重写
    // tslint:disable-next-line:no-empty
    MessageContent.prototype.encodeJSON = function () {
        return {};
    };
    return MessageContent;
}());
export { MessageContent };
function stringToUint8Array(str) {
    var newStr = unescape(encodeURIComponent(str));
    var arr = new Array();
    for (var i = 0, j = newStr.length; i < j; ++i) {
        arr.push(newStr.charCodeAt(i));
    }
    var tmpUint8Array = new Uint8Array(arr);
    return tmpUint8Array;
}
function uint8ArrayToString(fileData) {
    var encodedString = String.fromCharCode.apply(null, Array.from(fileData));
    var decodedString = decodeURIComponent(escape(encodedString));
    return decodedString;
}
var MediaMessageContent = /** @class */ (function (_super) {
    __extends(MediaMessageContent, _super);
    function MediaMessageContent() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    // 处理data
    // tslint:disable-next-line:no-empty
    MediaMessageContent.prototype.dealFile = function () {
    };
    return MediaMessageContent;
}(MessageContent));
export { MediaMessageContent };
// 订阅者
var Subscriber = /** @class */ (function () {
    function Subscriber() {
    }
    return Subscriber;
}());
export { Subscriber };
var ChannelInfo = /** @class */ (function () {
    function ChannelInfo() {
        this.online = false; // 是否在线
        this.lastOffline = 0; // 最后一次离线时间
    }
    return ChannelInfo;
}());
export { ChannelInfo };
var Conversation = /** @class */ (function () {
    function Conversation() {
        this._logicUnread = 0; // 逻辑未读
        this.timestamp = 0;
        this._reminders = new Array(); // 提醒项
        this.simpleReminders = new Array(); // 除去重复的type了的reminder
    }
    Object.defineProperty(Conversation.prototype, "channelInfo", {
        get: function () {
            return WKSDK.shared().channelManager.getChannelInfo(this.channel);
        },
        enumerable: true,
        configurable: true
    });
    Conversation.prototype.isEqual = function (c) {
        if (!c) {
            return false;
        }
        return c.channel.getChannelKey() === this.channel.getChannelKey();
    };
    Object.defineProperty(Conversation.prototype, "isMentionMe", {
        get: function () {
            if (this._isMentionMe === undefined) {
                this.reloadIsMentionMe();
            }
            return this._isMentionMe;
        },
        set: function (isMentionMe) {
            this._isMentionMe = isMentionMe;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Conversation.prototype, "remoteExtra", {
        get: function () {
            if (this._remoteExtra) {
                return this._remoteExtra;
            }
            this._remoteExtra = new ConversationExtra();
            this._remoteExtra.channel = this.channel;
            return this._remoteExtra;
        },
        set: function (remoteExtra) {
            this._remoteExtra = remoteExtra;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Conversation.prototype, "logicUnread", {
        get: function () {
            if (this.remoteExtra.browseTo > 0 && this.lastMessage && this.remoteExtra.browseTo <= this.lastMessage.messageSeq) {
                return this.lastMessage.messageSeq - this.remoteExtra.browseTo;
            }
            return this.unread;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(Conversation.prototype, "reminders", {
        get: function () {
            return this._reminders;
        },
        set: function (reminders) {
            this._reminders = reminders;
            var simpleReminders = new Array();
            if (reminders && reminders.length > 0) {
                for (var _i = 0, reminders_1 = reminders; _i < reminders_1.length; _i++) {
                    var reminder = reminders_1[_i];
                    if (reminder.done) {
                        continue;
                    }
                    var exist = false;
                    var i = 0;
                    for (var _a = 0, simpleReminders_1 = simpleReminders; _a < simpleReminders_1.length; _a++) {
                        var simpleReminder = simpleReminders_1[_a];
                        if (reminder.reminderType === simpleReminder.reminderType) {
                            exist = true;
                            break;
                        }
                        i++;
                    }
                    if (!exist) {
                        simpleReminders.push(reminder);
                    }
                    else {
                        simpleReminders[i] = reminder;
                    }
                }
            }
            this.simpleReminders = simpleReminders;
        },
        enumerable: true,
        configurable: true
    });
    // 重新计算 isMentionMe
    Conversation.prototype.reloadIsMentionMe = function () {
        if (this.lastMessage && this.lastMessage.content) {
            var mention = this.lastMessage.content.mention;
            if (mention) {
                if (mention.all) {
                    this._isMentionMe = true;
                }
                if (mention.uids && mention.uids.includes(WKSDK.shared().config.uid || "")) {
                    this._isMentionMe = true;
                }
            }
        }
        if (!this._isMentionMe) {
            this._isMentionMe = false;
        }
    };
    return Conversation;
}());
export { Conversation };
var ConversationExtra = /** @class */ (function () {
    function ConversationExtra() {
    }
    return ConversationExtra;
}());
export { ConversationExtra };
// export class ConversationHistory {
//     conversation!:Conversation
//     recents:Array<Message> = new Array() // 会话的最新消息集合
//     version!:number // 数据版本
// }
var SignalKey = /** @class */ (function () {
    function SignalKey() {
    }
    return SignalKey;
}());
export { SignalKey };
var Reply = /** @class */ (function () {
    function Reply() {
    }
    Reply.prototype.encode = function () {
        var rep = {
            "message_id": this.messageID,
            "message_seq": this.messageSeq,
            "from_uid": this.fromUID,
            "from_name": this.fromName
        };
        if (this.rootMessageID) {
            rep["root_message_id"] = this.rootMessageID;
        }
        if (this.content) {
            rep["payload"] = JSON.parse(uint8ArrayToString(this.content.encode()));
        }
        return rep;
    };
    Reply.prototype.decode = function (data) {
        this.messageID = data["message_id"];
        this.messageSeq = data["message_seq"];
        this.fromUID = data["from_uid"];
        this.fromName = data["from_name"];
        this.rootMessageID = data["root_message_id"];
        if (data["payload"]) {
            var contentType = data["payload"]["type"];
            var messageContent = WKSDK.shared().getMessageContent(contentType);
            var payload = stringToUint8Array(JSON.stringify(data["payload"]));
            messageContent.decode(payload);
            this.content = messageContent;
        }
    };
    return Reply;
}());
export { Reply };
export var ReminderType;
(function (ReminderType) {
    ReminderType[ReminderType["ReminderTypeMentionMe"] = 1] = "ReminderTypeMentionMe";
    ReminderType[ReminderType["ReminderTypeApplyJoinGroup"] = 2] = "ReminderTypeApplyJoinGroup"; // 申请加群
})(ReminderType || (ReminderType = {}));
var Reminder = /** @class */ (function () {
    function Reminder() {
        this.isLocate = false; // 是否需要进行消息定位
        this.version = 0;
        this.done = false; // 用户是否完成提醒
    }
    Reminder.prototype.isEqual = function (c) {
        if (this.reminderID === c.reminderID) {
            return true;
        }
        return false;
    };
    return Reminder;
}());
export { Reminder };
export var PullMode;
(function (PullMode) {
    PullMode[PullMode["Down"] = 0] = "Down";
    PullMode[PullMode["Up"] = 1] = "Up"; // 向上拉取
})(PullMode || (PullMode = {}));
// 详细参考文档说明：https://githubim.com/api/message#%E8%8E%B7%E5%8F%96%E6%9F%90%E9%A2%91%E9%81%93%E6%B6%88%E6%81%AF
var SyncOptions = /** @class */ (function () {
    function SyncOptions() {
        this.startMessageSeq = 0; // 开始消息列号（结果包含start_message_seq的消息）
        this.endMessageSeq = 0; //  结束消息列号（结果不包含end_message_seq的消息）0表示不限制
        this.limit = 30; // 每次限制数量
        this.pullMode = PullMode.Down; // 拉取模式 0:向下拉取 1:向上拉取
    }
    return SyncOptions;
}());
export { SyncOptions };
var MessageContentManager = /** @class */ (function () {
    function MessageContentManager() {
        this.contentMap = new Map();
    }
    MessageContentManager.shared = function () {
        if (!this.instance) {
            this.instance = new MessageContentManager();
        }
        return this.instance;
    };
    MessageContentManager.prototype.register = function (contentType, handler) {
        this.contentMap.set(contentType, handler);
    };
    MessageContentManager.prototype.registerFactor = function (factor) {
        this.factor = factor;
    };
    MessageContentManager.prototype.getMessageContent = function (contentType) {
        var handler = this.contentMap.get(contentType);
        if (handler) {
            // tslint:disable-next-line:no-shadowed-variable
            var content_1 = handler(contentType);
            if (content_1) {
                return content_1;
            }
        }
        var content = this.factor(contentType);
        if (content) {
            return content;
        }
        return new UnknownContent();
    };
    return MessageContentManager;
}());
export { MessageContentManager };
/**
 * 文本
 */
var MessageText = /** @class */ (function (_super) {
    __extends(MessageText, _super);
    function MessageText(text) {
        var _this = _super.call(this) || this;
        _this.text = text;
        return _this;
    }
    Object.defineProperty(MessageText.prototype, "conversationDigest", {
        get: function () {
            return this.text || "";
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(MessageText.prototype, "contentType", {
        get: function () {
            return MessageContentType.text;
        },
        enumerable: true,
        configurable: true
    });
    MessageText.prototype.decodeJSON = function (content) {
        this.text = content["content"];
    };
    MessageText.prototype.encodeJSON = function () {
        return { content: this.text || '' };
    };
    return MessageText;
}(MessageContent));
export { MessageText };
var MessageStream = /** @class */ (function (_super) {
    __extends(MessageStream, _super);
    function MessageStream(data) {
        var _this = _super.call(this) || this;
        _this.data = data;
        return _this;
    }
    Object.defineProperty(MessageStream.prototype, "contentType", {
        get: function () {
            return MessageContentType.stream;
        },
        enumerable: true,
        configurable: true
    });
    MessageStream.prototype.decodeJSON = function (content) {
        var dataBase64 = content["data"];
        if (dataBase64 && dataBase64.length > 0) {
            this.data = Buffer.from(dataBase64, 'base64');
        }
    };
    MessageStream.prototype.encodeJSON = function () {
        var dataBase64 = Buffer.from(this.data).toString('base64');
        return { data: dataBase64 };
    };
    return MessageStream;
}(MessageContent));
export { MessageStream };
var MessageSignalContent = /** @class */ (function (_super) {
    __extends(MessageSignalContent, _super);
    function MessageSignalContent() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(MessageSignalContent.prototype, "contentType", {
        get: function () {
            return MessageContentType.signalMessage;
        },
        enumerable: true,
        configurable: true
    });
    return MessageSignalContent;
}(MessageContent));
export { MessageSignalContent };
/**
 * 未知
 */
var UnknownContent = /** @class */ (function (_super) {
    __extends(UnknownContent, _super);
    function UnknownContent() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    Object.defineProperty(UnknownContent.prototype, "contentType", {
        get: function () {
            return MessageContentType.unknown;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(UnknownContent.prototype, "conversationDigest", {
        get: function () {
            return "[未知消息]";
        },
        enumerable: true,
        configurable: true
    });
    UnknownContent.prototype.decodeJSON = function (content) {
        this.realContentType = content["type"];
    };
    return UnknownContent;
}(MessageContent));
export { UnknownContent };
/**
 * 系统消息
 */
var SystemContent = /** @class */ (function (_super) {
    __extends(SystemContent, _super);
    function SystemContent() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    SystemContent.prototype.decodeJSON = function (content) {
        this.content = content;
    };
    Object.defineProperty(SystemContent.prototype, "conversationDigest", {
        get: function () {
            return this.displayText;
        },
        enumerable: true,
        configurable: true
    });
    Object.defineProperty(SystemContent.prototype, "displayText", {
        get: function () {
            var extra = this.content["extra"];
            var content = this.content["content"];
            if (extra) {
                var extraArray = extra;
                if (extraArray && extraArray.length > 0) {
                    for (var i = 0; i <= extraArray.length - 1; i++) {
                        var extrMap = extraArray[i];
                        var name_1 = extrMap["name"] || "";
                        // if(WKSDK.shared().config.uid === extrMap["uid"] ) {
                        //     name = "你"
                        // }
                        content = content.replace("{" + i + "}", name_1);
                    }
                }
            }
            return content;
        },
        enumerable: true,
        configurable: true
    });
    return SystemContent;
}(MessageContent));
export { SystemContent };
var CMDContent = /** @class */ (function (_super) {
    __extends(CMDContent, _super);
    function CMDContent() {
        return _super !== null && _super.apply(this, arguments) || this;
    }
    CMDContent.prototype.decodeJSON = function (content) {
        this.cmd = content["cmd"];
        this.param = content["param"];
    };
    Object.defineProperty(CMDContent.prototype, "contentType", {
        get: function () {
            return MessageContentType.cmd;
        },
        enumerable: true,
        configurable: true
    });
    return CMDContent;
}(MessageContent));
export { CMDContent };
var SubscribeOptions = /** @class */ (function () {
    function SubscribeOptions() {
    }
    return SubscribeOptions;
}());
export { SubscribeOptions };
export var SubscribeAction;
(function (SubscribeAction) {
    SubscribeAction[SubscribeAction["subscribe"] = 0] = "subscribe";
    SubscribeAction[SubscribeAction["unsubscribe"] = 1] = "unsubscribe"; // 取消订阅
})(SubscribeAction || (SubscribeAction = {}));
export var ReasonCode;
(function (ReasonCode) {
    ReasonCode[ReasonCode["unknown"] = 0] = "unknown";
    ReasonCode[ReasonCode["success"] = 1] = "success";
    ReasonCode[ReasonCode["authFail"] = 2] = "authFail";
    ReasonCode[ReasonCode["subscriberNotExist"] = 3] = "subscriberNotExist";
    ReasonCode[ReasonCode["reasonInBlacklist"] = 4] = "reasonInBlacklist";
    ReasonCode[ReasonCode["reasonChannelNotExist"] = 5] = "reasonChannelNotExist";
    ReasonCode[ReasonCode["reasonUserNotOnNode"] = 6] = "reasonUserNotOnNode";
    ReasonCode[ReasonCode["reasonSenderOffline"] = 7] = "reasonSenderOffline";
    ReasonCode[ReasonCode["msgKeyError"] = 8] = "msgKeyError";
    ReasonCode[ReasonCode["payloadDecodeError"] = 9] = "payloadDecodeError";
    ReasonCode[ReasonCode["forwardSendPacketError"] = 10] = "forwardSendPacketError";
    ReasonCode[ReasonCode["notAllowSend"] = 11] = "notAllowSend";
    ReasonCode[ReasonCode["connectKick"] = 12] = "connectKick";
    ReasonCode[ReasonCode["notInWhitelist"] = 13] = "notInWhitelist";
    ReasonCode[ReasonCode["queryTokenError"] = 14] = "queryTokenError";
    ReasonCode[ReasonCode["systemError"] = 15] = "systemError";
    ReasonCode[ReasonCode["channelIDError"] = 16] = "channelIDError";
    ReasonCode[ReasonCode["nodeMatchError"] = 17] = "nodeMatchError";
    ReasonCode[ReasonCode["nodeNotMatch"] = 18] = "nodeNotMatch";
    ReasonCode[ReasonCode["ban"] = 19] = "ban";
    ReasonCode[ReasonCode["notSupportHeader"] = 20] = "notSupportHeader";
    ReasonCode[ReasonCode["clientKeyIsEmpty"] = 21] = "clientKeyIsEmpty";
    ReasonCode[ReasonCode["rateLimit"] = 22] = "rateLimit";
    ReasonCode[ReasonCode["notSupportChannelType"] = 23] = "notSupportChannelType";
})(ReasonCode || (ReasonCode = {}));
var ListenerState = /** @class */ (function () {
    function ListenerState(action, listener, options) {
        this.sending = false; // 是否将要发送
        this.handleOk = false; // 是否已处理
        this.listener = listener;
        this.options = options;
        this.action = action;
    }
    return ListenerState;
}());
export { ListenerState };
var SubscribeContext = /** @class */ (function () {
    function SubscribeContext(channel) {
        this.listenerStates = new Array();
        this.channel = channel;
    }
    return SubscribeContext;
}());
export { SubscribeContext };
var SubscribeConfig = /** @class */ (function () {
    function SubscribeConfig() {
    }
    SubscribeConfig.prototype.withParam = function (param) {
        return function (opts) {
            opts.param = param;
        };
    };
    return SubscribeConfig;
}());
export { SubscribeConfig };
export var subscribeConfig = new SubscribeConfig();
var StreamItem = /** @class */ (function () {
    function StreamItem() {
    }
    return StreamItem;
}());
export { StreamItem };
