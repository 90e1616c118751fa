//! pgwire's handlers for `kq serve`: who may connect (no password on
//! loopback, SCRAM-SHA-256 with a password file, TLS required once
//! configured), the server parameters a read-only server announces, the
//! SQLSTATE every error carries, and the extended protocol's result format
//! handed to the query hook.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use datafusion_postgres::{DfSessionService, QueryHook};
use futures::Sink;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::Response;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionHandle, ConnectionManager, ErrorHandler,
    PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::Shared;
use super::hooks::{KqQuery, RESULT_FORMAT, ReadOnly, ShowServerSettings, user_error};

/// SCRAM's PBKDF2 rounds: PostgreSQL's default.
const SCRAM_ITERATIONS: usize = 4096;

pub struct KqHandlers {
    service: Arc<DfSessionService>,
    extended: Arc<KqExtended>,
    connections: Arc<ConnectionManager>,
    parameters: Arc<DefaultServerParameterProvider>,
    /// The password's SCRAM salt and salted form, computed once.
    scram: Option<Arc<ScramSecret>>,
    /// For SCRAM-SHA-256-PLUS channel binding.
    certificate_pem: Option<Vec<u8>>,
    tls_required: bool,
}

impl KqHandlers {
    pub fn new(
        shared: Arc<Shared>,
        ctx: Arc<SessionContext>,
        password: Option<&str>,
        certificate_pem: Option<&[u8]>,
        tls_required: bool,
    ) -> Self {
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadOnly),
            Arc::new(ShowServerSettings),
            Arc::new(datafusion_postgres::hooks::set_show::SetShowHook),
            Arc::new(datafusion_postgres::hooks::transactions::TransactionStatementHook),
            Arc::new(KqQuery { shared }),
        ];
        let service = Arc::new(DfSessionService::new_with_hooks(ctx, hooks));
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = super::settings::SERVER_VERSION.to_string();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        let scram = password.map(|password| {
            let salt: [u8; 16] = rand_salt();
            Arc::new(ScramSecret {
                salted: gen_salted_password(password, &salt, SCRAM_ITERATIONS),
                salt: salt.to_vec(),
            })
        });
        Self {
            extended: Arc::new(KqExtended {
                inner: service.clone(),
            }),
            service,
            connections: Arc::new(ConnectionManager::new()),
            parameters: Arc::new(parameters),
            scram,
            certificate_pem: certificate_pem.map(<[u8]>::to_vec),
            tls_required,
        }
    }
}

fn rand_salt() -> [u8; 16] {
    rand::random()
}

impl PgWireServerHandlers for KqHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.extended.clone()
    }

    /// A new handler per connection: SCRAM keeps per-login state.
    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        let scram = self.scram.as_ref().map(|secret| {
            let mut auth = ScramAuth::new(Arc::new(PasswordFile {
                secret: secret.clone(),
            }));
            auth.set_iterations(SCRAM_ITERATIONS);
            if let Some(pem) = &self.certificate_pem {
                // Without channel binding SCRAM still works; with it, a
                // man in the middle holding another certificate cannot.
                let _ = auth.configure_certificate(pem);
            }
            SASLAuthStartupHandler::new(self.parameters.clone())
                .with_scram(auth)
                .with_connection_manager(self.connections.clone())
        });
        Arc::new(KqStartup {
            scram,
            parameters: self.parameters.clone(),
            connections: self.connections.clone(),
            tls_required: self.tls_required,
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStates)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connections.clone()))
    }
}

#[derive(Debug)]
struct ScramSecret {
    salt: Vec<u8>,
    salted: Vec<u8>,
}

/// The one password of `--password-file`, for any user name.
#[derive(Debug)]
struct PasswordFile {
    secret: Arc<ScramSecret>,
}

#[async_trait]
impl AuthSource for PasswordFile {
    async fn get_password(&self, _login: &LoginInfo) -> PgWireResult<Password> {
        Ok(Password::new(
            Some(self.secret.salt.clone()),
            self.secret.salted.clone(),
        ))
    }
}

struct KqStartup {
    scram: Option<SASLAuthStartupHandler<DefaultServerParameterProvider>>,
    parameters: Arc<DefaultServerParameterProvider>,
    connections: Arc<ConnectionManager>,
    tls_required: bool,
}

#[async_trait]
impl StartupHandler for KqStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.tls_required && !client.is_secure() {
            return Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                "FATAL".to_string(),
                "28000".to_string(),
                "kq serve accepts TLS connections only; connect with sslmode=require".to_string(),
            ))));
        }
        if let Some(scram) = &self.scram {
            return scram.on_startup(client, message).await;
        }
        // No password (loopback only): pgwire's no-auth startup, with kq's
        // server parameters and the connection registered for cancels.
        if let PgWireFrontendMessage::Startup(ref startup) = message {
            protocol_negotiation(client, startup).await?;
            save_startup_parameters_to_metadata(client, startup);
            let (pid, secret) = RandomPidSecretKeyGenerator::default().generate(client);
            client.set_pid_and_secret_key(pid, secret.clone());
            let (handle, guard) = self.connections.register(pid, secret);
            client
                .session_extensions()
                .insert::<Arc<ConnectionHandle>>(handle);
            client.session_extensions().insert(guard);
            finish_authentication(client, self.parameters.as_ref()).await?;
        }
        Ok(())
    }
}

/// The extended protocol through datafusion-postgres, with the portal's
/// result format made visible to kq's query hook.
pub struct KqExtended {
    inner: Arc<DfSessionService>,
}

#[async_trait]
impl ExtendedQueryHandler for KqExtended {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = <DfSessionService as ExtendedQueryHandler>::QueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.inner.query_parser()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        RESULT_FORMAT
            .scope(
                portal.result_column_format.clone(),
                ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows),
            )
            .await
    }
}

/// Every error leaves with a SQLSTATE a client can act on and kq's
/// sentence, not a library's Debug text.
struct SqlStates;

impl ErrorHandler for SqlStates {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if let PgWireError::ApiError(inner) = error {
            let replacement =
                if let Some(e) = inner.downcast_ref::<datafusion::error::DataFusionError>() {
                    datafusion_sqlstate(e)
                } else if let Some(e) =
                    inner.downcast_ref::<datafusion::sql::sqlparser::parser::ParserError>()
                {
                    // The same words as kq's own parser errors.
                    let text = e.to_string();
                    let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
                    user_error("42601", format!("SQL syntax error: {text}"))
                } else {
                    user_error("XX000", inner.to_string())
                };
            *error = replacement;
        }
    }
}

fn datafusion_sqlstate(error: &datafusion::error::DataFusionError) -> PgWireError {
    use datafusion::error::DataFusionError as E;
    let message = kq_engine::clean_message(error);
    let code = match error.find_root() {
        E::SQL(..) => "42601",
        E::Plan(text) if text.contains("No field named") => "42703",
        E::Plan(text) if text.contains("not found") => "42P01",
        E::Plan(_) | E::SchemaError(..) => "42000",
        E::NotImplemented(_) => "0A000",
        E::ResourcesExhausted(_) => "53200",
        _ => "XX000",
    };
    user_error(code, message)
}

/// A client over `--max-connections` gets a Postgres error, not a reset.
pub async fn turn_away(mut socket: tokio::net::TcpStream, limit: u32) {
    use tokio::io::AsyncWriteExt;
    // An ErrorResponse before startup, as PostgreSQL sends for "too many
    // clients" (53300); clients print it.
    let message = format!("kq serve already has {limit} clients (--max-connections)");
    let mut body = Vec::new();
    for (field, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "53300"),
        (b'M', message.as_str()),
    ] {
        body.push(field);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut frame = vec![b'E'];
    frame.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    let _ = socket.write_all(&frame).await;
    let _ = socket.shutdown().await;
}
