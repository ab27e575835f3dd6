//! WSS: a TLS client completes the WebSocket handshake and exchanges wkproto packets.

mod common;
use bytes::BytesMut;
use common::*;
use jindou::proto::{
    Connect, Decoder, DeviceFlag, Encode, HeaderFlags, Packet, ReasonCode, Send, Setting, WkStr,
};
use std::io::{Read, Write};
use std::sync::Arc;

fn ws_frame(payload: &[u8]) -> Vec<u8> {
    // Client frames are masked (RFC 6455 §5.3).
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x82];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one unmasked server frame's payload.
fn read_frame(s: &mut impl Read) -> Vec<u8> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[0], 0x82, "a binary frame");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut p = vec![0u8; len];
    s.read_exact(&mut p).unwrap();
    p
}

fn packet(bytes: Vec<u8>, version: u8) -> Packet {
    let mut buf = BytesMut::from(&bytes[..]);
    let p = Decoder::new()
        .decode(&mut buf, version)
        .unwrap()
        .expect("a whole packet");
    assert!(buf.is_empty(), "exactly one packet per WebSocket message");
    p
}

#[test]
fn wss_handshake_connect_and_send() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = Server::start(&format!(
        "encryption: false\nwssAddr: wss://127.0.0.1:0\nwssConfig: {{certFile: {}, keyFile: {}}}\n",
        cert_path.display(),
        key_path.display()
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = std::net::TcpStream::connect(server.addr("wss")).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    let mut out = BytesMut::new();
    Packet::Connect(Connect {
        version: 4,
        device_flag: DeviceFlag::APP,
        device_id: WkStr::from_static("d1"),
        uid: WkStr::from_static("tls-user"),
        token: WkStr::EMPTY,
        client_timestamp: 0,
        client_key: WkStr::EMPTY,
    })
    .encode(4, &mut out)
    .unwrap();
    tls.write_all(&ws_frame(&out)).unwrap();
    match packet(read_frame(&mut tls), 4) {
        Packet::Connack(c) => assert_eq!(c.reason_code, ReasonCode::SUCCESS),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut out = BytesMut::new();
    Packet::Send(Send {
        flags: HeaderFlags::RED_DOT,
        setting: Setting::NO_ENCRYPT,
        client_seq: 1,
        client_msg_no: WkStr::from_static("tls-1"),
        channel_id: WkStr::from_static("peer"),
        channel_type: jindou::proto::ChannelType::PERSON,
        payload: bytes::Bytes::from_static(b"{\"type\":1,\"content\":\"over tls\"}"),
        ..Default::default()
    })
    .encode(4, &mut out)
    .unwrap();
    tls.write_all(&ws_frame(&out)).unwrap();
    match packet(read_frame(&mut tls), 4) {
        Packet::Sendack(a) => {
            assert_eq!(a.reason_code, ReasonCode::SUCCESS);
            assert_eq!(a.client_seq, 1);
            assert_eq!(a.message_seq, 1);
        }
        other => panic!("expected SENDACK, got {other:?}"),
    }
    tls.write_all(&ws_frame(&[0x70])).unwrap();
    assert!(matches!(packet(read_frame(&mut tls), 4), Packet::Pong));
}
