// Registers wk-loader.mjs: run scripts as `node --import ./wk-register.mjs script.mjs`.
import { register } from 'node:module';

register('./wk-loader.mjs', import.meta.url);
