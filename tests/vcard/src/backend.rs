//! The software Trussed "hardware" the PIV emulator runs on.
//!
//! `piv-authenticator` is a Trussed app: it needs a Trussed client that offers the core
//! mechanisms plus four extensions (auth, chunked, hpke, wrap-key-to-file). The emulator's own
//! repository builds this in an unpublished `dev-vpicc` crate; this is our own, smaller version.
//!
//! Two deliberate differences from `trussed::virt::with_platform`:
//! - the RNG is seeded from the OS. `virt` seeds it with a constant, so every card process would
//!   generate the *same* keys, and two custodians' cards would hold identical key pairs;
//! - the service thread blocks on a channel instead of polling every millisecond, so a syscall
//!   costs microseconds rather than ~1 ms (an APDU makes dozens of them).

use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use rand::RngCore as _;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use trussed::{
    backend::{Backend as _, BackendId},
    pipe::{ServiceEndpoint, TrussedChannel},
    platform::{self, Platform},
    serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl},
    service::{Service, ServiceResources},
    types::{Context, CoreContext},
    virt::{StoreConfig, UserInterface},
    ClientImplementation,
};
use trussed_auth::AuthExtension;
use trussed_core::{
    api::{reply, request, Reply, Request},
    types::{Bytes, Location},
    Error,
};
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_hpke::HpkeExtension;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// The Trussed client handed to the emulator.
pub type CardClient<'a> = ClientImplementation<'a, Wake, Backends>;

/// Order in which a request is offered to the backends (first that answers wins).
const BACKENDS: &[BackendId<Backend>] = &[
    BackendId::Custom(Backend::Staging),
    BackendId::Custom(Backend::Auth),
    BackendId::Core,
];

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Auth,
    Staging,
}

#[derive(Debug, Clone, Copy)]
pub enum Extension {
    Auth,
    Chunked,
    Hpke,
    WrapKeyToFile,
}

impl From<Extension> for u8 {
    fn from(e: Extension) -> u8 {
        e as u8
    }
}

impl TryFrom<u8> for Extension {
    type Error = Error;
    fn try_from(id: u8) -> Result<Self, Error> {
        Ok(match id {
            0 => Extension::Auth,
            1 => Extension::Chunked,
            2 => Extension::Hpke,
            3 => Extension::WrapKeyToFile,
            _ => return Err(Error::InternalError),
        })
    }
}

/// Routes core requests and extension requests to the auth and staging backends.
pub struct Backends {
    auth: AuthBackend,
    staging: StagingBackend,
}

#[derive(Default)]
pub struct BackendsContext {
    auth: AuthContext,
    staging: StagingContext,
}

impl ExtensionDispatch for Backends {
    type BackendId = Backend;
    type Context = BackendsContext;
    type ExtensionId = Extension;

    fn core_request<P: Platform>(
        &mut self,
        backend: &Backend,
        ctx: &mut Context<BackendsContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            Backend::Auth => self.auth.request(&mut ctx.core, &mut ctx.backends.auth, request, resources),
            Backend::Staging => {
                self.staging.request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: Platform>(
        &mut self,
        backend: &Backend,
        extension: &Extension,
        ctx: &mut Context<BackendsContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let (core, b) = (&mut ctx.core, &mut ctx.backends);
        match (backend, extension) {
            (Backend::Auth, Extension::Auth) => {
                self.auth.extension_request_serialized(core, &mut b.auth, request, resources)
            }
            (Backend::Staging, Extension::Chunked) => {
                <StagingBackend as ExtensionImpl<ChunkedExtension>>::extension_request_serialized(
                    &mut self.staging, core, &mut b.staging, request, resources,
                )
            }
            (Backend::Staging, Extension::Hpke) => {
                <StagingBackend as ExtensionImpl<HpkeExtension>>::extension_request_serialized(
                    &mut self.staging, core, &mut b.staging, request, resources,
                )
            }
            (Backend::Staging, Extension::WrapKeyToFile) => {
                <StagingBackend as ExtensionImpl<WrapKeyToFileExtension>>::extension_request_serialized(
                    &mut self.staging, core, &mut b.staging, request, resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for Backends {
    type Id = Extension;
    const ID: Extension = Extension::Auth;
}
impl ExtensionId<ChunkedExtension> for Backends {
    type Id = Extension;
    const ID: Extension = Extension::Chunked;
}
impl ExtensionId<HpkeExtension> for Backends {
    type Id = Extension;
    const ID: Extension = Extension::Hpke;
}
impl ExtensionId<WrapKeyToFileExtension> for Backends {
    type Id = Extension;
    const ID: Extension = Extension::WrapKeyToFile;
}

/// Trussed platform: OS-seeded RNG, RAM storage, a user interface that never asks for touch.
struct CardPlatform<'a> {
    rng: ChaCha8Rng,
    store: trussed::virt::Store<'a>,
    ui: UserInterface,
}

impl<'a> platform::Platform for CardPlatform<'a> {
    type R = ChaCha8Rng;
    type S = trussed::virt::Store<'a>;
    type UI = UserInterface;

    fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
    fn store(&self) -> Self::S {
        self.store
    }
    fn user_interface(&mut self) -> &mut UserInterface {
        &mut self.ui
    }
}

/// The client's "syscall": wake the service thread.
pub struct Wake(Sender<()>);

impl platform::Syscall for Wake {
    fn syscall(&mut self) {
        // The service thread lives as long as the client; a send error means shutdown.
        let _ = self.0.send(());
    }
}

/// Runs `f` with a Trussed client backed by RAM storage (the card forgets everything on exit,
/// like a freshly reset YubiKey).
pub fn with_client<R>(f: impl FnOnce(CardClient<'_>) -> R) -> R {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut store = StoreConfig::ram();
    store.with_store(|store| {
        let platform = CardPlatform { rng: ChaCha8Rng::from_seed(seed), store, ui: UserInterface::new() };
        let dispatch = Backends {
            // The hardware key would come from the secure element; any fixed bytes do here.
            auth: AuthBackend::with_hw_key(
                Location::Internal,
                Bytes::from(b"breakglass-vcard"),
                FilesystemLayout::V0,
            ),
            staging: StagingBackend::new(),
        };
        let channel = TrussedChannel::new();
        let (requester, responder) = channel.split().expect("fresh channel");
        let context = CoreContext::new("piv".try_into().expect("valid client id"));
        let mut endpoints = [ServiceEndpoint::new(responder, context, BACKENDS)];
        let (wake_tx, wake_rx): (Sender<()>, Receiver<()>) = mpsc::channel();
        let client = ClientImplementation::new(requester, Wake(wake_tx), None);
        let mut service = Service::with_dispatch(platform, dispatch);
        thread::scope(|s| {
            s.spawn(move || {
                // Ends when every `Wake` (the client's) is dropped.
                while wake_rx.recv().is_ok() {
                    service.process(&mut endpoints);
                }
            });
            f(client)
        })
    })
}
