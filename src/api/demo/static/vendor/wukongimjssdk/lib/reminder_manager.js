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
import WKSDK from ".";
import { ConversationAction, ConversationManager } from "./conversation_manager";
var ReminderManager = /** @class */ (function () {
    function ReminderManager() {
        this.reminders = new Array();
    }
    ReminderManager.shared = function () {
        if (!this.instance) {
            this.instance = new ReminderManager();
        }
        return this.instance;
    };
    ReminderManager.prototype.sync = function () {
        return __awaiter(this, void 0, void 0, function () {
            var version, reminders, channels, _i, reminders_1, newReminder, exist, index, reminder;
            return __generator(this, function (_a) {
                switch (_a.label) {
                    case 0:
                        if (!WKSDK.shared().config.provider.syncRemindersCallback) {
                            console.log("##########syncRemindersCallback##########");
                            return [2 /*return*/];
                        }
                        version = this.maxReminderVersion();
                        return [4 /*yield*/, WKSDK.shared().config.provider.syncRemindersCallback(version)];
                    case 1:
                        reminders = _a.sent();
                        if (reminders && reminders.length > 0) {
                            channels = new Set();
                            for (_i = 0, reminders_1 = reminders; _i < reminders_1.length; _i++) {
                                newReminder = reminders_1[_i];
                                channels.add(newReminder.channel);
                                exist = false;
                                for (index = 0; index < this.reminders.length; index++) {
                                    reminder = this.reminders[index];
                                    if (newReminder.reminderID === reminder.reminderID) {
                                        this.reminders[index] = newReminder;
                                        exist = true;
                                        break;
                                    }
                                }
                                if (!exist) {
                                    this.reminders.push(newReminder);
                                }
                            }
                            this.updateConversations(Array.from(channels));
                        }
                        return [2 /*return*/];
                }
            });
        });
    };
    ReminderManager.prototype.done = function (ids) {
        return __awaiter(this, void 0, void 0, function () {
            var reminders, _i, reminders_2, reminder, channels;
            return __generator(this, function (_a) {
                if (!WKSDK.shared().config.provider.reminderDoneCallback) {
                    console.log("##########reminderDoneCallback##########");
                    return [2 /*return*/];
                }
                reminders = this.getRemindersWithIDs(ids);
                if (reminders && reminders.length > 0) {
                    for (_i = 0, reminders_2 = reminders; _i < reminders_2.length; _i++) {
                        reminder = reminders_2[_i];
                        reminder.done = true;
                    }
                    channels = this.getChannelWithReminders(reminders);
                    this.updateConversations(channels);
                }
                return [2 /*return*/, WKSDK.shared().config.provider.reminderDoneCallback(ids)];
            });
        });
    };
    ReminderManager.prototype.getChannelWithReminders = function (reminders) {
        if (!reminders || reminders.length === 0) {
            return [];
        }
        var channels = new Set();
        for (var _i = 0, reminders_3 = reminders; _i < reminders_3.length; _i++) {
            var reminder = reminders_3[_i];
            channels.add(reminder.channel);
        }
        return Array.from(channels);
    };
    ReminderManager.prototype.updateConversations = function (channels) {
        var conversations = ConversationManager.shared().findConversations(channels);
        if (conversations && conversations.length > 0) {
            for (var _i = 0, conversations_1 = conversations; _i < conversations_1.length; _i++) {
                var conversation = conversations_1[_i];
                conversation.reminders = this.getWaitDoneReminders(conversation.channel);
                ConversationManager.shared().notifyConversationListeners(conversation, ConversationAction.update);
            }
        }
    };
    ReminderManager.prototype.getWaitDoneReminders = function (channel) {
        var channelReminders = new Array();
        for (var _i = 0, _a = this.reminders; _i < _a.length; _i++) {
            var reminder = _a[_i];
            if (reminder.channel.isEqual(channel)) {
                channelReminders.push(reminder);
            }
        }
        return channelReminders;
    };
    ReminderManager.prototype.getRemindersWithIDs = function (ids) {
        var newReminders = new Array();
        for (var _i = 0, _a = this.reminders; _i < _a.length; _i++) {
            var reminder = _a[_i];
            for (var _b = 0, ids_1 = ids; _b < ids_1.length; _b++) {
                var id = ids_1[_b];
                if (reminder.reminderID === id) {
                    newReminders.push(reminder);
                    break;
                }
            }
        }
        return newReminders;
    };
    ReminderManager.prototype.maxReminderVersion = function () {
        var maxVersion = 0;
        for (var _i = 0, _a = this.reminders; _i < _a.length; _i++) {
            var reminder = _a[_i];
            if (reminder.version > maxVersion) {
                maxVersion = reminder.version;
            }
        }
        return maxVersion;
    };
    return ReminderManager;
}());
export { ReminderManager };
