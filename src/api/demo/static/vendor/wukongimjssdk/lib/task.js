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
export var TaskStatus;
(function (TaskStatus) {
    TaskStatus[TaskStatus["wait"] = 0] = "wait";
    TaskStatus[TaskStatus["success"] = 1] = "success";
    TaskStatus[TaskStatus["processing"] = 2] = "processing";
    TaskStatus[TaskStatus["fail"] = 3] = "fail";
    TaskStatus[TaskStatus["suspend"] = 4] = "suspend";
    TaskStatus[TaskStatus["cancel"] = 5] = "cancel";
})(TaskStatus || (TaskStatus = {}));
var TaskManager = /** @class */ (function () {
    function TaskManager() {
        this.taskMap = new Map();
        this.listeners = new Array();
    }
    TaskManager.prototype.addTask = function (task) {
        var _this = this;
        this.taskMap.set(task.id, task);
        task.addListener(function () {
            _this.notifyListeners(task);
        });
        task.start();
    };
    TaskManager.prototype.removeTask = function (id) {
        var task = this.taskMap.get(id);
        if (task) {
            task.cancel();
            this.taskMap.delete(id);
        }
    };
    TaskManager.prototype.addListener = function (listener) {
        this.listeners.push(listener);
    };
    TaskManager.prototype.removeListener = function (listener) {
        var len = this.listeners.length;
        for (var i = 0; i < len; i++) {
            if (listener === this.listeners[i]) {
                this.listeners.splice(i, 1);
                return;
            }
        }
    };
    TaskManager.prototype.notifyListeners = function (task) {
        if (this.listeners) {
            this.listeners.forEach(function (callback) {
                callback(task);
            });
        }
    };
    return TaskManager;
}());
export { TaskManager };
var BaseTask = /** @class */ (function () {
    function BaseTask() {
    }
    // tslint:disable-next-line:no-empty
    BaseTask.prototype.start = function () {
    };
    // tslint:disable-next-line:no-empty
    BaseTask.prototype.suspend = function () {
    };
    // tslint:disable-next-line:no-empty
    BaseTask.prototype.resume = function () {
    };
    // tslint:disable-next-line:no-empty
    BaseTask.prototype.cancel = function () {
    };
    BaseTask.prototype.update = function () {
        if (this.listeners) {
            this.listeners.forEach(function (callback) {
                callback();
            });
        }
    };
    BaseTask.prototype.progress = function () {
        return 0;
    };
    BaseTask.prototype.addListener = function (listener) {
        this.listeners.push(listener);
    };
    BaseTask.prototype.removeListener = function (listener) {
        var len = this.listeners.length;
        for (var i = 0; i < len; i++) {
            if (listener === this.listeners[i]) {
                this.listeners.splice(i, 1);
                return;
            }
        }
    };
    Object.defineProperty(BaseTask.prototype, "listeners", {
        get: function () {
            if (!this._listeners) {
                this._listeners = new Array();
            }
            return this._listeners;
        },
        enumerable: true,
        configurable: true
    });
    return BaseTask;
}());
export { BaseTask };
var MessageTask = /** @class */ (function (_super) {
    __extends(MessageTask, _super);
    function MessageTask(message) {
        var _this = _super.call(this) || this;
        _this.id = message.clientMsgNo;
        _this.message = message;
        return _this;
    }
    return MessageTask;
}(BaseTask));
export { MessageTask };
