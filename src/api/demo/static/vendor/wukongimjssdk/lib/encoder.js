import BigNumber from "bignumber.js";
var Encoder = /** @class */ (function () {
    function Encoder() {
        this.w = new Array();
        this.d32 = new BigNumber(4294967296);
    }
    Encoder.prototype.writeByte = function (b) {
        this.w.push(b);
    };
    Encoder.prototype.writeBytes = function (b) {
        var _a;
        (_a = this.w).push.apply(_a, b);
    };
    /* tslint:disable */
    Encoder.prototype.writeInt64 = function (b) {
        var b1 = b.div(this.d32).toNumber();
        var b2 = b.mod(this.d32).toNumber();
        this.w.push((b1 >> 24) & 0xff);
        this.w.push((b1 >> 16) & 0xff);
        this.w.push((b1 >> 8) & 0xff);
        this.w.push(b1 & 0xff);
        this.w.push((b2 >> 24) & 0xff);
        this.w.push((b2 >> 16) & 0xff);
        this.w.push((b2 >> 8) & 0xff);
        this.w.push(b2 & 0xff);
    };
    Encoder.prototype.writeInt32 = function (b) {
        this.w.push(b >> 24);
        this.w.push(b >> 16);
        this.w.push(b >> 8);
        this.w.push(b & 0xff);
    };
    Encoder.prototype.writeUint8 = function (b) {
        this.w.push(b);
    };
    Encoder.prototype.writeInt16 = function (b) {
        this.w.push(b >> 8);
        this.w.push(b & 0xff);
    };
    Encoder.prototype.writeString = function (s) {
        var _a;
        if (s && s.length > 0) {
            var strArray = this.stringToUint(s);
            this.writeInt16(strArray.length);
            (_a = this.w).push.apply(_a, strArray);
        }
        else {
            this.writeInt16(0x00);
        }
    };
    Encoder.prototype.stringToUint = function (str) {
        var string = unescape(encodeURIComponent(str));
        var charList = string.split('');
        var uintArray = new Array();
        for (var i = 0; i < charList.length; i++) {
            uintArray.push(charList[i].charCodeAt(0));
        }
        return uintArray;
    };
    Encoder.prototype.toUint8Array = function () {
        return new Uint8Array(this.w);
    };
    return Encoder;
}());
export default Encoder;
