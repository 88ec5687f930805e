//! Serves `GET /v1/kv/<key>` from a tribune `KvPartition` with Consul's JSON shape, through one
//! hand-written HTTP/1.1 keep-alive loop (httparse), on either runtime:
//! `runtime-shootout glommio|tokio <port>`. Only the runtime differs between the two.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use tribune::http::kv_api::DirEntryJson;
use tribune::http::response::{encode_json, JsonStyle};
use tribune::kv::KvPartition;

fn store() -> Rc<RefCell<KvPartition>> {
    let mut part = KvPartition::default();
    part.apply_set(5, "k", Some(Bytes::from_static(b"value")), 0, None);
    Rc::new(RefCell::new(part))
}

/// Parses as many complete requests as `buf` holds and appends their responses to `out`.
/// Returns how many bytes were consumed.
fn handle(buf: &[u8], store: &KvPartition, out: &mut Vec<u8>) -> usize {
    let mut consumed = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[consumed..]) {
            Ok(httparse::Status::Complete(n)) => {
                let key = req.path.unwrap_or("").strip_prefix("/v1/kv/").unwrap_or("");
                let (status, body, index) = match store.get(key) {
                    Some(e) => ("200 OK", encode_json(&[DirEntryJson::from_entry(e, true)], JsonStyle { indent: false, newline: false }), e.modify_index),
                    None => ("404 Not Found", Vec::new(), store.index_max().max(1)),
                };
                out.extend_from_slice(format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Consul-Default-Acl-Policy: allow\r\n\
                     X-Consul-Index: {index}\r\nX-Consul-Knownleader: true\r\nX-Consul-Lastcontact: 0\r\n\
                     Content-Length: {}\r\n\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                consumed += n;
            }
            _ => return consumed,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = args.get(1).map(String::as_str).unwrap_or("tokio");
    let port: u16 = args.get(2).and_then(|p| p.parse().ok()).unwrap_or(18600);
    let addr = format!("127.0.0.1:{port}");
    match runtime {
        "glommio" => glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                use futures_lite::{AsyncReadExt, AsyncWriteExt};
                let listener = glommio::net::TcpListener::bind(&addr).unwrap();
                let store = store();
                loop {
                    let mut stream = listener.accept().await.unwrap();
                    let store = store.clone();
                    glommio::spawn_local(async move {
                        let (mut buf, mut out, mut chunk) = (Vec::new(), Vec::new(), vec![0u8; 16384]);
                        while let Ok(n) = stream.read(&mut chunk).await {
                            if n == 0 { break; }
                            buf.extend_from_slice(&chunk[..n]);
                            let used = handle(&buf, &store.borrow(), &mut out);
                            buf.drain(..used);
                            if stream.write_all(&out).await.is_err() { break; }
                            out.clear();
                        }
                    })
                    .detach();
                }
            })
            .unwrap()
            .join()
            .unwrap(),
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
                let store = store();
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).ok();
                    let store = store.clone();
                    tokio::task::spawn_local(async move {
                        let (mut buf, mut out, mut chunk) = (Vec::new(), Vec::new(), vec![0u8; 16384]);
                        while let Ok(n) = stream.read(&mut chunk).await {
                            if n == 0 { break; }
                            buf.extend_from_slice(&chunk[..n]);
                            let used = handle(&buf, &store.borrow(), &mut out);
                            buf.drain(..used);
                            if stream.write_all(&out).await.is_err() { break; }
                            out.clear();
                        }
                    });
                }
            });
        }
    }
}
