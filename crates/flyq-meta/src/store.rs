//! The interface every metadata store offers the broker.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::watch;

use crate::error::Result;
use crate::image::{Applied, MetadataCommand, MetadataImage};

/// Keeps the metadata image durable and tells its readers when it changes.
///
/// Commands are applied in one order, the same on every node; [`MetadataStore::submit`]
/// resolves once the command is durable and applied to this node's image. A reader that
/// needs to react to changes made elsewhere (in clustered mode) watches
/// [`MetadataStore::changes`], which carries the number of commands applied so far.
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// The image as it is now (a cheap shared snapshot).
    fn image(&self) -> Arc<MetadataImage>;

    /// Applies `command` durably; the error says why it was refused, leaving the image as it
    /// was.
    fn submit(&self, command: MetadataCommand) -> BoxFuture<'_, Result<Applied>>;

    /// A receiver that sees every change of the image after this call.
    fn changes(&self) -> watch::Receiver<u64>;
}
