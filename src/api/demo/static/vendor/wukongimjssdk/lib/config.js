import Proto from "./proto";
import { Provider } from "./provider";
var WKConfig = /** @class */ (function () {
    function WKConfig() {
        this.debug = false; // 是否开启debug模式
        this.protoVersion = 2; // 协议版本号
        this.deviceFlag = 1; // 设备标识  0: app 1. web 2. pc
        this.proto = new Proto();
        this.heartbeatInterval = 60000; // 心跳频率 单位毫秒
        this.receiptFlushInterval = 2000; // 回执flush间隔 单位为毫秒ms
        this.sdkVersion = "1.0.0"; // SDK版本号
        this.provider = new Provider();
    }
    return WKConfig;
}());
export { WKConfig };
