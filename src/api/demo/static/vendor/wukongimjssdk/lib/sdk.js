export { default as WKSDK } from "./index";
export * from "./model";
export * from "./const";
export * from "./conversation_manager";
export * from "./index";
