var wsCount = 0;
var WKWebsocket = /** @class */ (function () {
    function WKWebsocket(addr) {
        this.destory = false;
        wsCount++;
        this.addr = addr;
        this.ws = new WebSocket(this.addr);
        this.ws.binaryType = 'arraybuffer';
    }
    WKWebsocket.prototype.onopen = function (callback) {
        var _this = this;
        this.ws.onopen = function () {
            console.log("onopen---->");
            if (_this.destory) {
                return;
            }
            if (callback) {
                callback();
            }
        };
    };
    WKWebsocket.prototype.onmessage = function (callback) {
        var _this = this;
        this.ws.onmessage = function (e) {
            if (_this.destory) {
                return;
            }
            if (callback) {
                callback(e.data);
            }
        };
    };
    WKWebsocket.prototype.onclose = function (callback) {
        var _this = this;
        this.ws.onclose = function (e) {
            console.log("onclose--->");
            if (_this.destory) {
                return;
            }
            if (callback) {
                callback(e);
            }
        };
    };
    WKWebsocket.prototype.onerror = function (callback) {
        var _this = this;
        this.ws.onerror = function (e) {
            console.log("onerror--->");
            if (_this.destory) {
                return;
            }
            if (callback) {
                callback(e);
            }
        };
    };
    WKWebsocket.prototype.send = function (data) {
        this.ws.send(data);
    };
    WKWebsocket.prototype.close = function () {
        console.log('close....', wsCount);
        this.destory = true;
        this.ws.close();
    };
    return WKWebsocket;
}());
export { WKWebsocket };
