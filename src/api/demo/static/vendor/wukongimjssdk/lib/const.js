var MessageContentType = /** @class */ (function () {
    function MessageContentType() {
    }
    MessageContentType.unknown = 0; // 未知消息
    MessageContentType.text = 1; // 文本消息
    MessageContentType.image = 2; // 图片
    MessageContentType.stream = 98; // 流式消息
    MessageContentType.cmd = 99; // cmd
    // 20000 - 30000 为本地自定义消息
    MessageContentType.signalMessage = 21000; // signal
    return MessageContentType;
}());
export { MessageContentType };
