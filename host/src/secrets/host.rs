//! The guest-facing `secrets` interface: the running workflow's own values,
//! read when the execution started.

use std::sync::Arc;

use super::SecretValues;
use crate::bindings::secrets as wit;

pub struct SecretsCtx {
    pub values: Arc<SecretValues>,
}

impl SecretsCtx {
    /// Wires the `secrets` import of every instance in `linker` to `get(state)`.
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut SecretsCtx,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, wasmtime::component::HasSelf<SecretsCtx>>(linker, get)
    }
}

impl wit::Host for SecretsCtx {
    fn get(&mut self, name: String) -> Option<String> {
        self.values.get(&name).map(str::to_owned)
    }
}
