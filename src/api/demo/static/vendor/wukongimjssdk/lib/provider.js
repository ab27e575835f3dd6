var Provider = /** @class */ (function () {
    function Provider() {
    }
    // // 获取IM连接地址
    // public set connectAddrCallback(callback: (callback: ConnectAddrCallback) => void) {
    //     this._connectAddrCallback = callback
    // }
    // public get connectAddrCallback(): (callback: ConnectAddrCallback) => void {
    //     return this._connectAddrCallback
    // }
    // 获取频道信息
    // public set channelInfoCallback(callback: ChannelInfoCallback) {
    //     this._channelInfoCallback = callback
    // }
    // public get channelInfoCallback(): ChannelInfoCallback {
    //     return this._channelInfoCallback
    // }
    // 获取频道订阅者
    // public set syncSubscribersCallback(callback: SyncSubscribersCallback) {
    //     this._syncSubscribersCallback = callback
    // }
    // public get syncSubscribersCallback(): SyncSubscribersCallback {
    //     return this._syncSubscribersCallback
    // }
    // 消息上传任务回调
    // public set messageUploadTaskCallback(callback: MessageUploadTaskCallback) {
    //     this._messageUploadTaskCallback = callback
    // }
    // 获取消息上传任务
    Provider.prototype.messageUploadTask = function (message) {
        if (this.messageUploadTaskCallback) {
            return this.messageUploadTaskCallback(message);
        }
    };
    return Provider;
}());
export { Provider };
