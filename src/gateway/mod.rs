//! Client connections: TCP and WebSocket listeners and the connection state machine.

pub mod ws;
