//! `kq serve`: kq's catalog over the Postgres wire protocol, so psql,
//! Grafana, Metabase, BI tools and any Postgres driver can query the fleet.
//!
//! The protocol, pg_catalog and the SET/SHOW/transaction chatter clients
//! send are datafusion-postgres's and pgwire's. kq adds what a server that
//! opens a port owes its users: queries run through kq's engine on one live
//! session shared by every client (the first query of a table lists it,
//! later ones read memory kept current by watches); a read-only allow-list;
//! a time and memory budget per query; a query dies with its client;
//! partial failures arrive as NOTICEs; errors carry a SQLSTATE and kq's
//! one sentence; SCRAM passwords and TLS, required beyond loopback.
//!
//! `hooks` decides and runs statements, `handlers` wires pgwire (startup,
//! errors, the extended protocol), `settings` answers what clients ask of
//! a Postgres server (`current_setting`, `version()`), `tls` loads keys.

mod handlers;
mod hooks;
mod settings;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;

use crate::Failure;
use crate::args::{Output, ServeArgs, Sources};
use crate::session;

/// What every connection shares: the engine, the limits, the probes that
/// tell a running query its client has gone.
pub(crate) struct Shared {
    pub session: session::Session,
    pub limits: hooks::Limits,
    pub probes: Probes,
}

/// Per connection (by peer address), a second handle on its socket, to
/// notice a client that hung up while its query runs: pgwire reads the
/// socket only between messages.
#[derive(Default)]
pub(crate) struct Probes {
    sockets: Mutex<HashMap<SocketAddr, Arc<tokio::net::TcpStream>>>,
}

impl Probes {
    fn insert(&self, peer: SocketAddr, socket: Arc<tokio::net::TcpStream>) {
        self.lock().insert(peer, socket);
    }

    fn remove(&self, peer: &SocketAddr) {
        self.lock().remove(peer);
    }

    pub fn get(&self, peer: &SocketAddr) -> Option<Arc<tokio::net::TcpStream>> {
        self.lock().get(peer).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<tokio::net::TcpStream>>> {
        self.sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn run(sources: &Sources, output: &Output, args: &ServeArgs) -> Result<u8, Failure> {
    if !output.formats.is_empty() || output.max_rows.is_some() || output.no_header {
        return Err(Failure::usage(
            "kq serve answers in the Postgres protocol; -o, --max-rows and --no-header do not apply",
        ));
    }
    let address = crate::exec::socket_address("--listen", &args.listen, "127.0.0.1:5433")?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::load(cert, key).map_err(Failure::usage)?),
        _ => None,
    };
    let password = match &args.password_file {
        Some(path) => Some(read_password(path)?),
        None => None,
    };
    if !address.ip().is_loopback() && (password.is_none() || tls.is_none()) {
        return Err(Failure::usage(format!(
            "kq serve would listen on {address}, beyond this machine: give --password-file and --tls-cert/--tls-key, or listen on 127.0.0.1"
        )));
    }
    let session = session::build(sources, true).await?;
    let ctx = session.engine.session_context();
    settings::install(&ctx).map_err(Failure::usage)?;
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {address}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("cannot listen on {address}: {e}")))?;
    let clusters = session.clusters.join(", ");
    let shared = Arc::new(Shared {
        session,
        limits: hooks::Limits {
            timeout: args.query_timeout,
            memory: args.query_memory,
        },
        probes: Probes::default(),
    });
    let handlers = Arc::new(handlers::KqHandlers::new(
        shared.clone(),
        Arc::new(ctx),
        password.as_deref(),
        tls.as_ref().map(|t| t.certificate_pem.as_slice()),
        tls.is_some(),
    ));
    let acceptor = tls.map(|t| t.acceptor);
    // The line scripts and tests wait for: where to connect.
    println!(
        "kq serve: listening on {bound} ({}{}); connect with psql \"host={} port={} dbname=kq{}\"",
        if clusters.is_empty() {
            "no cluster".to_string()
        } else {
            clusters
        },
        if acceptor.is_some() { ", TLS" } else { "" },
        bound.ip(),
        bound.port(),
        if acceptor.is_some() {
            " sslmode=require"
        } else {
            ""
        },
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let limit = Arc::new(tokio::sync::Semaphore::new(args.max_connections as usize));
    let stop = crate::exec::stop_requested();
    tokio::pin!(stop);
    loop {
        let (socket, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // A client that vanished between SYN and accept, or a
                // passing descriptor shortage: the server goes on.
                Err(e) => {
                    eprintln!("kq serve: cannot accept a connection: {e}");
                    continue;
                }
            },
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tokio::spawn(handlers::turn_away(socket, args.max_connections));
            continue;
        };
        let _ = socket.set_nodelay(true);
        let probe = match probe_of(&socket) {
            Ok(probe) => probe,
            Err(e) => {
                eprintln!("kq serve: cannot watch connection {peer}: {e}");
                continue;
            }
        };
        shared.probes.insert(peer, Arc::new(probe));
        let handlers = handlers.clone();
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = pgwire::tokio::process_socket(socket, acceptor, handlers).await;
            shared.probes.remove(&peer);
            drop(permit);
        });
    }
    Ok(0)
}

/// A second tokio handle on the same socket (a duplicated descriptor),
/// registered on its own so its readiness says when the peer hung up.
fn probe_of(socket: &tokio::net::TcpStream) -> std::io::Result<tokio::net::TcpStream> {
    let duplicate = socket2::SockRef::from(socket).try_clone()?;
    let std_stream: std::net::TcpStream = duplicate.into();
    std_stream.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(std_stream)
}

fn read_password(path: &std::path::Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read --password-file {}: {e}",
            path.display()
        ))
    })?;
    let password = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string();
    if password.is_empty() {
        return Err(Failure::usage(format!(
            "--password-file {} is empty; write the password on its first line",
            path.display()
        )));
    }
    Ok(password)
}
