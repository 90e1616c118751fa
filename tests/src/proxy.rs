//! A minimal HTTP CONNECT proxy on a loopback port, for the kubeconfig
//! `proxy-url` tests: it tunnels bytes to the requested host and counts
//! the tunnels it opened, so a test can prove traffic went through it.
//! [`ConnectProxy::cut`] drops every open tunnel, as a load balancer or a
//! restarting API server drops long-lived watches; [`ConnectProxy::hold`]
//! keeps new tunnels waiting until [`ConnectProxy::release`], so a test can
//! change the server while a client cannot reach it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A running proxy; stops when dropped.
pub struct ConnectProxy {
    pub url: String,
    tunnels: Arc<AtomicUsize>,
    cuts: tokio::sync::watch::Sender<u64>,
    open: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectProxy {
    pub async fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let tunnels = Arc::new(AtomicUsize::new(0));
        let counted = tunnels.clone();
        let (cuts, cut_rx) = tokio::sync::watch::channel(0u64);
        let (open, open_rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counted = counted.clone();
                let mut cut = cut_rx.clone();
                cut.mark_unchanged();
                let mut open = open_rx.clone();
                tokio::spawn(async move {
                    if open.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    tokio::select! {
                        _ = tunnel(client, &counted) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        ConnectProxy {
            url,
            tunnels,
            cuts,
            open,
            task,
        }
    }

    /// New tunnels wait (their clients see a slow proxy) until [`release`](Self::release).
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Drops every tunnel open now (new ones are accepted as before).
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(client: TcpStream, counted: &AtomicUsize) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut request = String::new();
    client.read_line(&mut request).await?;
    // Headers end with an empty line.
    loop {
        let mut header = String::new();
        if client.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut words = request.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        client
            .get_mut()
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(target).await?;
    counted.fetch_add(1, Ordering::SeqCst);
    client
        .get_mut()
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    let mut client = client.into_inner();
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
